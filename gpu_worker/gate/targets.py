"""A pose set's targets for one source skeleton: the gate compares an output with its own target and the others."""

from __future__ import annotations

from gpu_worker.pose.library import PoseSet
from gpu_worker.pose.skeleton import Skeleton


def set_targets(source: Skeleton, pose_set: PoseSet) -> dict[str, Skeleton]:
    """Every pose of `pose_set` retargeted to `source`'s body, by pose id, in `source`'s frame."""
    from gpu_worker.pose.retarget import retarget

    return {p.id: retarget(source, p) for p in pose_set.poses}


def rivals(targets: dict[str, Skeleton], pose_id: str) -> list[tuple[str, Skeleton]]:
    """The other poses' targets, for the right-pose check of `pose_id`."""
    return [(pid, t) for pid, t in targets.items() if pid != pose_id]
