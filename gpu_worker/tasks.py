"""The GPU side's one task, `generate(job_id, spec_key)`: read the spec, run the engine, write outputs, report back.

Thin on purpose (Celery docs: "a task is much like a web view"): the work is `gpu_worker.engine.repose`; this module
only moves bytes between storage and the engine and reports to the web side *by task name* on the `shopify` queue.
It never touches the database or Shopify.

Redelivery and poison jobs: `task_reject_on_worker_lost` requeues a message whose pool child died, with no limit
(celery#1628; request.py has no redelivery guard on Redis). Each delivery therefore counts itself in storage
(`attempts-<run>.json`, next to the spec) before doing any work, and refuses to run past `MAX_ATTEMPTS`, reporting
`generation_failed(too_many_attempts)` instead. Outputs go to deterministic keys, so a rerun overwrites.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from celery.exceptions import SoftTimeLimitExceeded

from gpu_worker.celery_app import app
from gpu_worker.contract import (
    IMAGE_FORMATS,
    MAX_ATTEMPTS,
    SHOPIFY_QUEUE,
    AttemptStarted,
    ExtractPoseRequest,
    FailureCode,
    GenerateRequest,
    GenerationDone,
    GenerationFailed,
    JobProgress,
    JobSpec,
    OutputRecord,
    Payload,
    PoseExtracted,
    ResultManifest,
    TaskName,
)
from gpu_worker.storage import KeyMissing, Storage, keys, storage_from_url

if TYPE_CHECKING:
    from gpu_worker.engine import ReposeResult

log = logging.getLogger(__name__)

# Test hooks, read in the worker process only (never set in production): make a generation crash its process or
# take longer, so the end-to-end tests can kill a worker mid-generation and feed it a poison job.
CRASH_POSE_SET_ENV = "POSE_STUDIO_TEST_CRASH_POSE_SET"
SLOW_SECONDS_ENV = "POSE_STUDIO_TEST_SLOW_SECONDS"
PROGRESS_INTERVAL = 1.0  # seconds between progress reports: enough for a progress bar, light on the broker

# A storage hiccup (a full disk freed a moment later, a network mount or bucket that blinks) is retried in place:
# re-running the task would count one more attempt against MAX_ATTEMPTS for something that is not the job's fault.
STORAGE_RETRY_DELAYS = (1.0, 2.0, 4.0)

_storage: Storage | None = None


class RetryingStorage:
    """The configured storage, with each call retried after an OSError (KeyMissing is an answer, not a failure)."""

    def __init__(self, inner: Storage, delays: tuple[float, ...] = STORAGE_RETRY_DELAYS) -> None:
        self.inner = inner
        self.url = inner.url
        self.delays = delays

    def _call(self, name: str, *args: Any) -> Any:
        for delay in (*self.delays, None):
            try:
                return getattr(self.inner, name)(*args)
            except OSError as exc:
                if delay is None:
                    raise
                log.warning("storage %s failed (%s); retrying in %.0f s", name, exc.strerror or exc, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._call("put", key, data, content_type)

    def get(self, key: str) -> bytes:
        return self._call("get", key)  # type: ignore[no-any-return]

    def exists(self, key: str) -> bool:
        return bool(self._call("exists", key))

    def delete(self, key: str) -> None:
        self._call("delete", key)

    def list(self, prefix: str) -> list[str]:
        return self._call("list", prefix)  # type: ignore[no-any-return]

    def delete_prefix(self, prefix: str) -> int:
        return int(self._call("delete_prefix", prefix))


def storage() -> Storage:
    global _storage
    if _storage is None:
        _storage = RetryingStorage(storage_from_url())
    return _storage


def failure_for(exc: BaseException) -> tuple[str, str]:
    """(FailureCode, merchant-readable message) for an exception that ended a generation."""
    from gpu_worker.errors import InputRejected, PoseStudioError

    if isinstance(exc, InputRejected):
        return FailureCode.INPUT_REJECTED, str(exc)
    if isinstance(exc, OSError):
        what = exc.strerror or type(exc).__name__
        return FailureCode.STORAGE_UNAVAILABLE, (
            f"reading or writing this job's images failed on our side ({what}), retries included; nothing is "
            "wrong with your product: try again in a few minutes")  # fmt: skip
    if isinstance(exc, PoseStudioError):
        return FailureCode.ENGINE_ERROR, f"{exc}"
    return FailureCode.ENGINE_ERROR, f"the generation failed on our side ({type(exc).__name__}); try again later"


def report(name: TaskName, payload: Payload) -> None:
    app.send_task(name.value, kwargs=payload.to_kwargs(), queue=SHOPIFY_QUEUE)


@app.task(name=TaskName.GENERATE.value, bind=True)
def generate(self: Any, job_id: int, spec_key: str) -> str:
    """Generate the outputs of one job run; returns a short status (ignored: the job row is the truth)."""
    req = GenerateRequest(job_id=job_id, spec_key=spec_key)
    try:
        return run_generation(req)
    except Exception as exc:
        # Safety net: whatever escaped (storage failing before the engine ran, a bug) is reported, so the job
        # never sits in `generating` without a reason. If the report itself cannot be sent (broker down), the
        # exception propagates and reconcile re-sends `generate` later.
        log.exception("job %s: generation task failed", job_id)
        code, message = failure_for(exc)
        report(TaskName.GENERATION_FAILED, GenerationFailed(job_id=job_id, spec_key=spec_key, code=code,
                                                            message=message))  # fmt: skip
        return "failed"


@app.task(name=TaskName.EXTRACT_POSE.value)
def extract_pose(**kwargs: Any) -> str:
    """The pose of the person in a merchant's reference photo, for a custom pose set (the web never runs the
    detector: it would import mediapipe)."""
    from gpu_worker.errors import InputRejected, PoseStudioError
    from gpu_worker.pose.library import pose_from_image, pose_to_dict

    req = ExtractPoseRequest.from_kwargs(kwargs)
    try:
        pose = pose_from_image(storage().get(req.photo_key), id=req.pose_id, name=req.pose_name)
        result = PoseExtracted(pose_set_row_id=req.pose_set_row_id, pose=pose_to_dict(pose))
    except KeyMissing:
        return "skipped"
    except (InputRejected, PoseStudioError) as exc:
        result = PoseExtracted(pose_set_row_id=req.pose_set_row_id, error=str(exc))
    except Exception as exc:  # safety net: the pose set must not stay `extracting` without a reason
        log.exception("pose set %s: extracting the pose failed", req.pose_set_row_id)
        result = PoseExtracted(pose_set_row_id=req.pose_set_row_id, error=failure_for(exc)[1])
    report(TaskName.POSE_EXTRACTED, result)
    return "done" if result.pose else "rejected"


def count_attempt(spec_key: str) -> int:
    """Record one more delivery of this run in storage and return its number (1 = first)."""
    key = keys.attempts_for_spec(spec_key)
    try:
        n = int(json.loads(storage().get(key)).get("attempts", 0)) + 1
    except KeyMissing:
        n = 1
    storage().put(key, json.dumps({"attempts": n, "pid": os.getpid(), "at": time.time()}).encode(),
                  "application/json")  # fmt: skip
    return n


def run_generation(req: GenerateRequest) -> str:
    # 1. the spec: gone means the job was cancelled or its shop erased; nothing to do
    try:
        spec = JobSpec.from_kwargs(json.loads(storage().get(req.spec_key)))
    except KeyMissing:
        log.info("job %s: spec %s is gone (cancelled or erased); skipping", req.job_id, req.spec_key)
        return "skipped"
    # 2. already generated (the worker died after writing, or a report was lost with the broker): report again,
    #    never generate twice and never count it as a crash
    manifest_key = keys.manifest_for_spec(req.spec_key)
    if storage().exists(manifest_key):
        report(TaskName.GENERATION_DONE, GenerationDone(job_id=req.job_id, manifest_key=manifest_key,
                                                        spec_key=req.spec_key))  # fmt: skip
        return "already_done"
    # 3. count this delivery; a job that keeps killing its worker stops here
    attempt = count_attempt(req.spec_key)
    if attempt > MAX_ATTEMPTS:
        report(TaskName.GENERATION_FAILED, GenerationFailed(
            job_id=req.job_id, spec_key=req.spec_key, code=FailureCode.TOO_MANY_ATTEMPTS,
            message=f"the generation stopped its worker {attempt - 1} times (out of memory or a crash in the "
            "engine); try a smaller image or another backend, or contact support with this job id",
        ))  # fmt: skip
        return "too_many_attempts"
    report(TaskName.ATTEMPT_STARTED, AttemptStarted(job_id=req.job_id, attempt=attempt, spec_key=req.spec_key))
    try:
        manifest = _generate(req, spec)
        if not manifest:
            return "skipped"
    except SoftTimeLimitExceeded:
        report(TaskName.GENERATION_FAILED, GenerationFailed(
            job_id=req.job_id, spec_key=req.spec_key, code=FailureCode.TIMED_OUT,
            message="the generation took longer than the time limit; try a smaller image size or the warp backend",
        ))  # fmt: skip
        return "timed_out"
    except Exception as exc:  # noqa: BLE001 - every failure is reported on the job row, then acked
        from gpu_worker.errors import PoseStudioError

        if not isinstance(exc, PoseStudioError):
            log.exception("job %s: generation failed", req.job_id)
        code, message = failure_for(exc)
        report(TaskName.GENERATION_FAILED, GenerationFailed(job_id=req.job_id, spec_key=req.spec_key, code=code,
                                                            message=message))  # fmt: skip
        return "failed"
    report(TaskName.GENERATION_DONE, GenerationDone(job_id=req.job_id, manifest_key=manifest, spec_key=req.spec_key))
    return "done"


def _generate(req: GenerateRequest, spec: JobSpec) -> str:
    # heavy imports only here, in the pool child, on the first task
    from gpu_worker.engine import repose
    from gpu_worker.pose.library import pose_set_from_dict
    from gpu_worker.pose.skeleton import Skeleton

    if os.environ.get(CRASH_POSE_SET_ENV) and spec.pose_set.get("id") == os.environ[CRASH_POSE_SET_ENV]:
        os._exit(70)  # test hook: a poison job that kills its worker process every time
    if os.environ.get(SLOW_SECONDS_ENV):
        time.sleep(float(os.environ[SLOW_SECONDS_ENV]))

    last = [0.0]

    def progress(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL:
            last[0] = now
            report(TaskName.JOB_PROGRESS, JobProgress(job_id=req.job_id, progress=int(fraction * 100), stage=stage,
                                                      spec_key=req.spec_key))  # fmt: skip

    photo = storage().get(spec.source_key)
    result = repose(
        photo, pose_set_from_dict(spec.pose_set), poses=spec.poses, backend=spec.backend, seed=spec.seed,
        max_size=spec.max_size,
        source_skeleton=Skeleton.from_dict(spec.source_skeleton) if spec.source_skeleton else None,
        progress=progress,
    )  # fmt: skip
    if not storage().exists(req.spec_key):
        return _gone(req)  # cancelled or erased while we were generating: write nothing for it
    records = []
    hold = photo_warp_hold(result)
    for out in result.outputs:
        image = out.rendered.image
        data, content_type, ext = encode_output(image, spec.output_format)
        key = keys.output(spec.shop, spec.job_id, out.pose.id, spec.seed, ext)
        storage().put(key, data, content_type)
        q = out.quality
        records.append(OutputRecord(
            pose_id=out.pose.id, pose_name=out.pose.name, key=key, seed=spec.seed,
            oks=_num(q.oks), pck=_num(q.pck), passed=bool(q.passed), reasons=[str(r) for r in q.reasons] + hold,
            width=image.width, height=image.height, seconds=round(float(out.seconds), 4),
        ).to_kwargs())  # fmt: skip
    manifest = ResultManifest(
        job_id=spec.job_id, run=spec.run, outputs=records, seconds=round(sum(result.timings.values()), 3),
        backend=result.backend or spec.backend,
        skipped=[{"pose_id": s.pose.id, "reason": s.reason} for s in result.skipped],
    )  # fmt: skip
    manifest_key = keys.manifest_for_spec(req.spec_key)
    storage().put(manifest_key, json.dumps(manifest.to_kwargs()).encode(), "application/json")
    return manifest_key


LOSSY_QUALITY = 92  # JPEG/WebP: visually lossless for product photos, a fraction of the PNG's size


PHOTO_WARP_NOTE = (
    "held for your review: this is a cut-out warp of a photograph, which rarely looks photographic — "
    "check it before it goes live"
)


def photo_warp_hold(result: ReposeResult) -> list[str]:
    """A note that holds passing outputs for review (auto mode publishes a passed output only without notes): a
    warp of a photograph. Drawings warp cleanly; photographs need a person's look or the diffusion backend."""
    import numpy as np

    from gpu_worker.gate.figure import looks_photographic

    if result.backend == "warp" and looks_photographic(np.asarray(result.image.convert("RGB"))):
        return [PHOTO_WARP_NOTE]
    return []


def encode_output(image: Any, output_format: str) -> tuple[bytes, str, str]:
    """Encode a rendered image as the spec asks: (bytes, content type, extension). An unknown format (a spec from a
    newer web side) falls back to PNG rather than failing the job."""
    # output_format (the shop's setting, in the spec) → Pillow format, content type, key extension
    fmt = IMAGE_FORMATS.get(output_format, IMAGE_FORMATS["png"])
    pil_format, content_type, ext = fmt.pillow, fmt.mime, fmt.ext
    buf = io.BytesIO()
    if pil_format == "PNG":
        image.save(buf, format="PNG")
    else:
        # JPEG has no alpha channel; flatten rather than fail (WebP keeps it)
        if pil_format == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buf, format=pil_format, quality=LOSSY_QUALITY)
    return buf.getvalue(), content_type, ext


def _gone(req: GenerateRequest) -> str:
    log.info("job %s: spec disappeared during generation; discarding the outputs", req.job_id)
    return ""


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else round(value, 4)  # NaN → None (JSON has no NaN)
