"""The one contract between the web side (`plugin`) and the GPU workers: task names, queues, payloads, Celery settings.

Both deployables import this module and nothing else of each other, so it stays dependency-free (stdlib only: no
Celery, no Flask, no numpy). A task is always sent *by name* (`send_task`) with JSON-able kwargs built from the payload
dataclasses below; the receiving side parses them back with `from_kwargs`.

Why these Celery settings (sources in docs/JOBS.md):
- `task_acks_late` + `worker_prefetch_multiplier = 1`: a GPU job is minutes long and must survive a worker crash; an
  early-acked message is lost with the process, and prefetch 4 would park jobs behind a busy GPU.
- `task_reject_on_worker_lost`: when the pool child dies (OOM, SIGKILL) the message is requeued instead of acked.
  Celery has no redelivery guard for that (celery#1628, request.py), so a poison job would loop forever: the GPU task
  counts its own deliveries (`MAX_ATTEMPTS`) and fails the job with a reason instead.
- time limits below the Redis `visibility_timeout`: an un-acked message older than the visibility timeout is handed to
  another worker while the first one still runs it (celery#5935, #5306). The timeout must be set in both
  `broker_transport_options` and `result_backend_transport_options` ("the shortest value will be used").
- `worker_cancel_long_running_tasks_on_connection_loss`: after a broker reconnect the late-acked message is redelivered,
  so the running copy is cancelled rather than run twice in parallel.
- `worker_soft_shutdown_timeout`: on SIGTERM/SIGQUIT the worker requeues un-acked messages instead of leaving them
  invisible for the whole visibility timeout.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Self

GPU_QUEUE = "gpu"
SHOPIFY_QUEUE = "shopify"

# A generation that keeps killing its worker (OOM, segfault in a native library) is given up after this many deliveries.
MAX_ATTEMPTS = 3


class TaskName(StrEnum):
    """Every task that crosses the web/GPU boundary (the web side's own tasks are plugin.task_names.WebTask)."""

    # gpu queue: the only task a GPU worker runs
    GENERATE = "pose_studio.gpu.generate"
    EXTRACT_POSE = "pose_studio.gpu.extract_pose"  # a pose from a merchant's reference photo (needs the detector)
    # shopify queue: reports sent by the GPU worker
    ATTEMPT_STARTED = "pose_studio.jobs.attempt_started"
    JOB_PROGRESS = "pose_studio.jobs.progress"
    GENERATION_DONE = "pose_studio.jobs.generation_done"
    GENERATION_FAILED = "pose_studio.jobs.generation_failed"
    POSE_EXTRACTED = "pose_studio.pose_sets.pose_extracted"


GPU_TASKS = frozenset({TaskName.GENERATE.value, TaskName.EXTRACT_POSE.value})


def queue_for(name: str) -> str:
    return GPU_QUEUE if name in GPU_TASKS else SHOPIFY_QUEUE


# --- payloads -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """Base of the task payloads: `to_kwargs()` for `send_task(kwargs=...)`, `from_kwargs()` on the receiving side."""

    def to_kwargs(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Self:
        # Unknown keys are dropped so that a newer sender does not break an older receiver during a rolling deploy.
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in kwargs.items() if k in names})


@dataclass(frozen=True)
class GenerateRequest(Payload):
    """`generate`: everything else is in the job spec document at `spec_key` in storage."""

    job_id: int
    spec_key: str


@dataclass(frozen=True)
class AttemptStarted(Payload):
    job_id: int
    attempt: int
    spec_key: str


@dataclass(frozen=True)
class JobProgress(Payload):
    job_id: int
    progress: int  # 0..100 of the generation step
    stage: str
    spec_key: str = ""


@dataclass(frozen=True)
class GenerationDone(Payload):
    job_id: int
    manifest_key: str
    spec_key: str = ""


@dataclass(frozen=True)
class ExtractPoseRequest(Payload):
    """`extract_pose`: read the pose of the person in the reference photo at `photo_key`."""

    pose_set_row_id: int
    photo_key: str
    pose_id: str
    pose_name: str


@dataclass(frozen=True)
class PoseExtracted(Payload):
    pose_set_row_id: int
    pose: dict[str, Any] | None = None  # a pose document (gpu_worker.pose.library.pose_to_dict)
    error: str | None = None  # what was wrong with the photo and what to do


class FailureCode(StrEnum):
    INPUT_REJECTED = "input_rejected"  # the merchant's photo or skeleton cannot be used
    TOO_MANY_ATTEMPTS = "too_many_attempts"  # the worker died on this job MAX_ATTEMPTS times
    TIMED_OUT = "timed_out"
    ENGINE_ERROR = "engine_error"  # a bug or an infrastructure problem on our side
    SPEC_MISSING = "spec_missing"
    STORAGE_UNAVAILABLE = "storage_unavailable"  # object storage refused a read or write, retries included


@dataclass(frozen=True)
class GenerationFailed(Payload):
    job_id: int
    code: str
    message: str
    spec_key: str = ""


# --- image formats ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageFormat:
    """One stored image format: the shop's `output_format` name, the key extension, the content type, Pillow's
    format name. The one table of them: the GPU worker encodes by it, the web side serves and publishes by it."""

    name: str
    ext: str
    mime: str
    pillow: str


IMAGE_FORMATS: dict[str, ImageFormat] = {
    "png": ImageFormat("png", "png", "image/png", "PNG"),
    "jpeg": ImageFormat("jpeg", "jpeg", "image/jpeg", "JPEG"),
    "webp": ImageFormat("webp", "webp", "image/webp", "WEBP"),
}
OUTPUT_FORMATS = tuple(IMAGE_FORMATS)  # what a shop may choose for its generated images
_BY_EXT = {**{f.ext: f for f in IMAGE_FORMATS.values()}, "jpg": IMAGE_FORMATS["jpeg"]}


def image_format_of_key(key: str) -> ImageFormat | None:
    """The format of a stored image by its key's extension (None: not an image format we write)."""
    ext = key.rpartition(".")[2].lower() if "." in key.rpartition("/")[2] else ""
    return _BY_EXT.get(ext)


# --- the job spec and result manifest (JSON documents in storage) ---------------------------------------------------


@dataclass(frozen=True)
class JobSpec(Payload):
    """What the web side asks the GPU side to do; written to storage at `spec_key` before `generate` is sent."""

    job_id: int
    shop: str  # storage namespace (the shop domain); never used to talk to Shopify
    source_key: str
    pose_set: dict[str, Any]  # a whole pose set document (gpu_worker.pose.library.pose_set_from_dict)
    poses: list[str] | None = None  # a subset of the set's pose ids; None = all
    backend: str = "warp"
    seed: int = 0
    max_size: int = 2048
    output_format: str = "png"
    source_skeleton: dict[str, Any] | None = None  # a merchant-placed skeleton, used instead of detection
    run: str = "main"  # "main" or "regen-<output id>-<seed>": one spec/manifest pair per run


@dataclass(frozen=True)
class OutputRecord(Payload):
    pose_id: str
    pose_name: str
    key: str
    seed: int
    oks: float | None
    pck: float | None
    passed: bool
    reasons: list[str] = field(default_factory=list)
    width: int = 0
    height: int = 0
    seconds: float | None = None  # this pose's share of the generation (metrics); None from an older worker


@dataclass(frozen=True)
class ResultManifest(Payload):
    job_id: int
    run: str
    outputs: list[dict[str, Any]]
    seconds: float
    backend: str
    skipped: list[dict[str, Any]] = field(default_factory=list)  # poses the backend cannot do: {pose_id, reason}

    def output_records(self) -> list[OutputRecord]:
        return [OutputRecord.from_kwargs(o) for o in self.outputs]


# --- Celery settings ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeLimits:
    """Soft < hard < visibility timeout, always (see the module docstring)."""

    visibility_timeout: int
    hard: int
    soft: int

    @classmethod
    def from_visibility_timeout(cls, visibility_timeout: int) -> TimeLimits:
        if visibility_timeout < 20:
            raise ValueError("POSE_STUDIO_VISIBILITY_TIMEOUT must be at least 20 seconds")
        # hard limit leaves a margin for the ack round trip; soft leaves the task time to report the failure
        hard = int(visibility_timeout * 0.8)
        soft = max(hard - max(10, hard // 10), 5)
        return cls(visibility_timeout=visibility_timeout, hard=hard, soft=soft)


DEFAULT_VISIBILITY_TIMEOUT = 3600


def time_limits(env: dict[str, str] | None = None) -> TimeLimits:
    env = dict(os.environ) if env is None else env
    return TimeLimits.from_visibility_timeout(
        int(env.get("POSE_STUDIO_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT))
    )


def broker_url_from_env(env: dict[str, str] | None = None) -> str:
    """The broker both sides use: `CELERY_BROKER_URL`, else `REDIS_URL`, else a local Redis."""
    env = dict(os.environ) if env is None else env
    return env.get("CELERY_BROKER_URL") or env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def celery_settings(broker_url: str, *, limits: TimeLimits | None = None) -> dict[str, Any]:
    """The Celery configuration shared by every worker and every sender (web app, GPU worker, shopify worker)."""
    limits = limits or time_limits()
    # kombu's SQLAlchemy transport (the dev command's embedded broker) hands its transport options to
    # create_engine(), which refuses `visibility_timeout`; that broker has no visibility timeout anyway
    transport = {} if broker_url.startswith("sqla+") else {"visibility_timeout": limits.visibility_timeout}
    return {
        "broker_url": broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": dict(transport),
        # We never read task results (the job row is the truth), but a backend configured elsewhere must agree.
        "result_backend_transport_options": dict(transport),
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": SHOPIFY_QUEUE,
        "task_routes": {name.value: {"queue": queue_for(name.value)} for name in TaskName},
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A failing task is acked (its failure is recorded on the job row); a hard timeout is acked too, the task
        # having reported it from the soft limit.
        "task_acks_on_failure_or_timeout": True,
        "task_soft_time_limit": limits.soft,
        "task_time_limit": limits.hard,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_soft_shutdown_timeout": 30.0,
        "worker_enable_soft_shutdown_on_idle": True,
        # Recycle the child now and then: GPU memory is not counted in RSS, so max_memory_per_child cannot see it.
        "worker_max_tasks_per_child": 200,
        "worker_hijack_root_logger": False,
    }
