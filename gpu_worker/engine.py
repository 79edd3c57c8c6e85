"""Re-pose one product photo into the poses of a pose set: detect → retarget → render → check.

The engine is what the `generate` CLI and the GPU worker's task both call. Every output carries its quality report;
an output that fails its check is returned (and reported) as failed, never dropped or passed off.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Sequence
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

BACKEND_NAMES = ("warp", "diffusion")


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
    """The backend called `name` ("warp" or "diffusion"), created once per process.

    The diffusion backend is imported only here, so that nothing else ever loads torch; a missing gpu extra is a
    clear BackendUnavailable instead of an ImportError from deep inside.
    """
    if name == "warp":
        from gpu_worker.generate.warp import WarpBackend

        return WarpBackend()
    if name == "diffusion":
        missing = [m for m in ("torch", "diffusers") if importlib.util.find_spec(m) is None]
        if missing:
            raise BackendUnavailable(
                f"the diffusion backend needs the gpu extra ({', '.join(missing)} not installed); "
                "install it with: pip install 'pose-studio[gpu]', or use --backend warp"
            )
        module = importlib.import_module("gpu_worker.generate.diffusion")
        return module.get_backend()
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
) -> ReposeResult:
    """Re-pose the person in `photo` into the poses of `pose_set` (or only `poses`, by id).

    `source_skeleton` replaces detection (a merchant-placed skeleton for a mascot the detector cannot see); it may
    be in any frame of the same aspect and is scaled to the normalised photo.

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
    for k, (p, target, r) in enumerate(zip(todo, targets, rendered, strict=True)):
        report(0.8 + 0.2 * k / max(1, len(todo)), f"checking {p.id}")
        t0 = time.perf_counter()
        # judged against the retargeted target, never the backend's own idea of it: `pose-studio check` must reach
        # the same verdict from the images alone (a figure the backend moved to keep it in frame fails honestly)
        quality = judge(
            r.image,
            image,
            target,
            source_skeleton=source,
            others=rivals(all_targets, p.id),
            backend=be.name,
            report=BackendReport(r.uncovered_fraction, r.foldover_fraction),
        )
        dt = time.perf_counter() - t0
        timings["check"] += dt
        outputs.append(PoseOutput(pose=p, target=target, rendered=r, quality=quality, seconds=share + dt))
    report(1.0, "done")
    return ReposeResult(
        image=image, source=source, outputs=outputs, skipped=skipped, backend=be.name, timings=timings
    )
