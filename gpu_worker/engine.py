"""Re-pose one product photo into the poses of a pose set: detect → retarget → render → check.

The engine is what the `generate` CLI and the GPU worker's task both call. Every output carries its quality report;
an output that fails its check is returned (and reported) as failed, never dropped or passed off.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image

from gpu_worker.errors import PoseStudioError
from gpu_worker.gate import BackendReport, Verdict, judge
from gpu_worker.gate.targets import rivals, set_targets
from gpu_worker.generate.base import Backend, ProgressCallback, Rendered
from gpu_worker.pose.image_io import ImageSource, load_image
from gpu_worker.pose.library import Pose, PoseSet
from gpu_worker.pose.skeleton import Skeleton, check_plausible

BACKEND_NAMES = ("warp", "diffusion", "edit")
# How many times a stochastic backend (one with `stochastic = True`: diffusion) may render a pose in all, a new
# seed each time, before the output is reported failed. Deterministic backends (warp) render once.
MAX_ATTEMPTS_ENV = "POSE_STUDIO_MAX_ATTEMPTS"
DEFAULT_MAX_ATTEMPTS = 3


class BackendUnavailable(PoseStudioError):
    """The backend asked for does not exist or cannot run in this install."""


@dataclass
class PoseOutput:
    pose: Pose
    target: Skeleton
    rendered: Rendered
    quality: Verdict
    # this pose's share of the backend's batch time plus its own quality check
    seconds: float
    attempts: int = 1  # renders this output took (a failed output of a stochastic backend is re-rendered)

    @property
    def passed(self) -> bool:
        return self.quality.passed


@dataclass(frozen=True)
class SkippedPose:
    pose: Pose
    reason: str


@dataclass
class ReposeResult:
    image: Image.Image  # the normalised source photo every output is aligned with
    source: Skeleton
    outputs: list[PoseOutput]
    skipped: list[SkippedPose] = field(default_factory=list)
    backend: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: detect, retarget, render, check

    @property
    def all_passed(self) -> bool:
        return all(o.passed for o in self.outputs)


@lru_cache(maxsize=4)
def get_backend(name: str) -> Backend:
    """The backend called `name` ("warp", "diffusion" or "edit"), created once per process.

    The diffusion backend is imported only here, so that nothing else ever loads torch; a missing gpu extra is a
    clear BackendUnavailable instead of an ImportError from deep inside.
    """
    if name == "warp":
        from gpu_worker.generate.warp import WarpBackend

        return WarpBackend()
    if name in ("diffusion", "edit"):
        missing = [m for m in ("torch", "diffusers") if importlib.util.find_spec(m) is None]
        if missing:
            raise BackendUnavailable(
                f"the {name} backend needs the gpu extra ({', '.join(missing)} not installed); "
                "install it with: pip install 'pose-studio[gpu]', or use --backend warp"
            )
        from gpu_worker.generate.model_config import ConfigError

        module = importlib.import_module(f"gpu_worker.generate.{name}")
        try:
            return module.get_backend()
        except ConfigError as exc:  # e.g. an edit preset for --backend diffusion, or the other way round
            raise BackendUnavailable(str(exc)) from exc
    raise BackendUnavailable(f"unknown backend '{name}'; choose one of: {', '.join(BACKEND_NAMES)}")


def select_poses(pose_set: PoseSet, poses: Sequence[str] | None) -> list[Pose]:
    """The poses of `pose_set` named in `poses` (all when None), in the order given. PoseLibraryError if unknown."""
    if poses is None:
        return list(pose_set.poses)
    return [pose_set.pose(p) for p in poses]


def repose(
    photo: ImageSource,
    pose_set: PoseSet,
    *,
    poses: Sequence[str] | None = None,
    backend: Backend | str = "warp",
    seed: int = 0,
    max_size: int = 2048,
    source_skeleton: Skeleton | None = None,
    progress: ProgressCallback | None = None,
    max_attempts: int | None = None,
) -> ReposeResult:
    """Re-pose the person in `photo` into the poses of `pose_set` (or only `poses`, by id).

    `source_skeleton` replaces detection (a merchant-placed skeleton for a mascot the detector cannot see); it may
    be in any frame of the same aspect and is scaled to the normalised photo.

    `max_attempts` (default: $POSE_STUDIO_MAX_ATTEMPTS, else 3) bounds the renders per pose of a stochastic
    backend: an output that fails its check is rendered again with a new seed, and reported failed after that.

    Raises InputRejected subclasses for an unusable photo (BadImage, ImageTooLarge, NoPersonDetected,
    ImplausibleSkeleton), PoseLibraryError for an unknown pose id, BackendUnavailable for an unknown backend.
    """
    # 1. check inputs
    chosen = select_poses(pose_set, poses)
    be = get_backend(backend) if isinstance(backend, str) else backend
    report = progress or (lambda fraction, stage: None)
    timings: dict[str, float] = {}

    # 2. normalise the photo and find the person
    report(0.0, "loading photo")
    image = load_image(photo, max_size=max_size)
    t0 = time.perf_counter()
    if source_skeleton is not None:
        source = source_skeleton
        if (source.width, source.height) != image.size:
            source = source.scaled_to(*image.size)
        check_plausible(source)
    else:
        from gpu_worker.pose.detect import detect  # mediapipe only when detecting

        report(0.02, "detecting pose")
        source = detect(image, max_size=max_size)
    timings["detect"] = time.perf_counter() - t0

    # 3. which poses this backend can do
    todo: list[Pose] = []
    skipped: list[SkippedPose] = []
    for p in chosen:
        if be.supports(p):
            todo.append(p)
        else:
            other = sorted(set(getattr(p, "backends", ())) - {be.name})
            hint = f"needs the {' or '.join(other)} backend" if other else f"not supported by the {be.name} backend"
            skipped.append(SkippedPose(p, hint))

    # 4. retarget
    from gpu_worker.pose.retarget import retarget

    t0 = time.perf_counter()
    targets = [retarget(source, p) for p in todo]
    timings["retarget"] = time.perf_counter() - t0
    # what the backend cannot do for this figure (a side view, a long dress asked to stride): skipped with its reason
    refusal = getattr(be, "refusal", None)
    if refusal is not None:
        reasons = [refusal(image, source, p, t) for p, t in zip(todo, targets, strict=True)]
        skipped += [SkippedPose(p, r) for p, r in zip(todo, reasons, strict=True) if r is not None]
        kept = [k for k, r in enumerate(reasons) if r is None]
        todo, targets = [todo[k] for k in kept], [targets[k] for k in kept]

    # 5. render, all poses of this photo in one call (a diffusion backend batches them)
    def render_progress(fraction: float, stage: str) -> None:
        report(0.05 + 0.75 * fraction, stage)

    t0 = time.perf_counter()
    rendered = be.render(image, source, targets, seed=seed, progress=render_progress, poses=todo) if todo else []
    timings["render"] = time.perf_counter() - t0
    if len(rendered) != len(todo):
        raise PoseStudioError(f"backend '{be.name}' returned {len(rendered)} images for {len(todo)} poses")

    # 6. the output gate judges every output from its pixels (against its target, the set's other poses and the
    # source); the backend's own report can only add reasons to fail
    outputs: list[PoseOutput] = []
    share = timings["render"] / max(1, len(todo))
    timings["check"] = 0.0
    t0 = time.perf_counter()
    all_targets = set_targets(source, pose_set)
    timings["check"] += time.perf_counter() - t0

    # judged against the retargeted target, never the backend's own idea of it: `pose-studio check` must reach the
    # same verdict from the images alone (a figure the backend moved to keep it in frame fails honestly)
    def verdict(p: Pose, target: Skeleton, r: Rendered) -> Verdict:
        return judge(
            r.image,
            image,
            target,
            source_skeleton=source,
            others=rivals(all_targets, p.id),
            backend=be.name,
            report=BackendReport(r.uncovered_fraction, r.foldover_fraction),
        )

    for k, (p, target, r) in enumerate(zip(todo, targets, rendered, strict=True)):
        report(0.8 + 0.2 * k / max(1, len(todo)), f"checking {p.id}")
        t0 = time.perf_counter()
        quality = verdict(p, target, r)
        dt = time.perf_counter() - t0
        timings["check"] += dt
        outputs.append(PoseOutput(pose=p, target=target, rendered=r, quality=quality, seconds=share + dt))
    attempts = _max_attempts(max_attempts) if getattr(be, "stochastic", False) else 1
    _retry_failed(be, image, source, outputs, seed, attempts, timings, verdict)
    report(1.0, "done")
    return ReposeResult(
        image=image, source=source, outputs=outputs, skipped=skipped, backend=be.name, timings=timings
    )


def _max_attempts(given: int | None) -> int:
    if given is None:
        raw = os.environ.get(MAX_ATTEMPTS_ENV, "").strip()
        try:
            given = int(raw) if raw else DEFAULT_MAX_ATTEMPTS
        except ValueError as exc:
            raise PoseStudioError(f"{MAX_ATTEMPTS_ENV} must be a whole number >= 1, got {raw!r}") from exc
    if given < 1:
        raise PoseStudioError(f"max attempts must be >= 1, got {given}")
    return given


def _retry_failed(
    be: Backend, image: Image.Image, source: Skeleton, outputs: list[PoseOutput], seed: int, attempts: int,
    timings: dict[str, float], verdict: Callable[[Pose, Skeleton, Rendered], Verdict],
) -> None:
    """Re-render (new seed per attempt, all failed poses in one batch) and re-check the failed outputs in place;
    `timings["retry"]` appears only when something was re-rendered."""
    for attempt in range(1, attempts):
        failed = [k for k, o in enumerate(outputs) if not o.passed]
        if not failed:
            return
        t0 = time.perf_counter()
        again = be.render(
            image, source, [outputs[k].target for k in failed], seed=seed + attempt,
            poses=[outputs[k].pose for k in failed],
        )  # fmt: skip
        share = (time.perf_counter() - t0) / len(failed)
        for k, r in zip(failed, again, strict=True):
            old = outputs[k]
            t1 = time.perf_counter()
            quality = verdict(old.pose, old.target, r)
            seconds = old.seconds + share + time.perf_counter() - t1
            outputs[k] = PoseOutput(old.pose, old.target, r, quality, seconds, attempts=attempt + 1)
        timings["retry"] = timings.get("retry", 0.0) + time.perf_counter() - t0
