"""Put the subject into a target pose: bone directions from the pose, bone lengths from the subject.

1. torso: the subject's torso centre stays; the spine and the shoulder / hip lines turn to the pose's
   directions, keeping the subject's torso length and widths;
2. limbs and head, outward from the torso: each bone takes the pose's direction and the subject's length, so a
   chibi stays a chibi. A joint the pose lacks keeps the subject's placement relative to its (turned) parent
   bone; a joint the subject lacks (a waist-up photo's legs) stays missing;
3. the feet go back on the subject's floor line (lifted by `Pose.airborne` for a jump);
4. the figure is kept inside the frame: shifted, and scaled down about the floor point only when it cannot
   fit. When the photo is cropped (no ankle in it), the bottom edge is open: joints that fall below it are
   missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gpu_worker.pose.skeleton import (
    L_ANKLE,
    L_HIP,
    L_SHOULDER,
    N_LANDMARKS,
    R_ANKLE,
    R_HIP,
    R_SHOULDER,
    Skeleton,
)

if TYPE_CHECKING:
    from gpu_worker.pose.library import Pose

NECK = -1  # virtual joint: the shoulders' midpoint
# Parent of every non-torso joint, in an order where a parent comes before its children.
PARENT: dict[int, int] = {
    0: NECK,
    **{i: 0 for i in range(1, 11)},
    13: 11, 15: 13, 17: 15, 19: 15, 21: 15,
    14: 12, 16: 14, 18: 16, 20: 16, 22: 16,
    25: 23, 27: 25, 29: 27, 31: 27,
    26: 24, 28: 26, 30: 28, 32: 28,
}  # fmt: skip
FEET: tuple[int, ...] = (27, 28, 29, 30, 31, 32)


@dataclass(frozen=True)
class Retargeted:
    """`retarget`'s result with what the frame fitting did (scale 1.0: bone lengths are the subject's)."""

    skeleton: Skeleton
    scale: float
    shift: tuple[float, float]
    dropped: tuple[int, ...]  # joints placed below an open (cropped) bottom edge, hence missing


def retarget(source: Skeleton, pose: Pose | Skeleton) -> Skeleton:
    """The subject `source` in the target `pose`, in the source's frame (mask=None); see the module doc."""
    return retarget_detailed(source, pose).skeleton


def retarget_detailed(source: Skeleton, pose: Pose | Skeleton) -> Retargeted:
    """`retarget`, also reporting the frame fitting (for callers and tests that need to know)."""
    target = pose if isinstance(pose, Skeleton) else pose.skeleton
    airborne = 0.0 if isinstance(pose, Skeleton) else float(getattr(pose, "airborne", 0.0))
    sv, tv = source.visible(), target.visible()
    src, tgt = source.points, target.points
    out = np.full((N_LANDMARKS, 2), np.nan)
    placed = np.zeros(N_LANDMARKS, dtype=bool)
    turn = np.zeros(N_LANDMARKS)  # rotation (rad) applied to the bone ending at each joint

    # 1. torso
    s_neck = _mid(src, sv, L_SHOULDER, R_SHOULDER)
    s_pelvis = _mid(src, sv, L_HIP, R_HIP)
    t_neck = _mid(tgt, tv, L_SHOULDER, R_SHOULDER)
    t_pelvis = _mid(tgt, tv, L_HIP, R_HIP)
    if s_neck is None and s_pelvis is None:
        # No torso to hang limbs on: nothing sensible can be done; the subject is returned as is.
        return Retargeted(_frame_copy(source, src, source.visibility), 1.0, (0.0, 0.0), ())
    torso_turn = 0.0
    if s_neck is not None and s_pelvis is not None:
        spine_s = s_neck - s_pelvis
        length = float(np.hypot(*spine_s))
        if t_neck is not None and t_pelvis is not None and np.hypot(*(t_neck - t_pelvis)) > 1e-9:
            direction = _unit(t_neck - t_pelvis)
        else:
            direction = _unit(spine_s) if length > 1e-9 else np.array([0.0, -1.0])
        torso_turn = _angle(direction) - _angle(spine_s) if length > 1e-9 else 0.0
        centre = (s_neck + s_pelvis) / 2.0
        o_neck = centre + direction * length / 2.0
        o_pelvis = centre - direction * length / 2.0
    else:
        # Half a torso (waist-up): the shoulder line alone decides the turn.
        o_neck, o_pelvis = s_neck, s_pelvis
        if s_neck is not None and t_neck is not None and tv[L_SHOULDER]:
            torso_turn = _angle(tgt[L_SHOULDER] - t_neck) - _angle(src[L_SHOULDER] - s_neck)
        elif s_pelvis is not None and t_pelvis is not None and tv[L_HIP]:
            torso_turn = _angle(tgt[L_HIP] - t_pelvis) - _angle(src[L_HIP] - s_pelvis)
    for joint, s_root, t_root, o_root in (
        (L_SHOULDER, s_neck, t_neck, o_neck),
        (R_SHOULDER, s_neck, t_neck, o_neck),
        (L_HIP, s_pelvis, t_pelvis, o_pelvis),
        (R_HIP, s_pelvis, t_pelvis, o_pelvis),
    ):
        if s_root is None or o_root is None or not sv[joint]:
            continue
        offset = src[joint] - s_root
        if t_root is not None and tv[joint] and np.hypot(*(tgt[joint] - t_root)) > 1e-9:
            out[joint] = o_root + _unit(tgt[joint] - t_root) * np.hypot(*offset)
            turn[joint] = _angle(tgt[joint] - t_root) - _angle(offset)
        else:
            out[joint] = o_root + _rotate(offset, torso_turn)
            turn[joint] = torso_turn
        placed[joint] = True

    # 2. limbs and head, parents first
    for joint, parent in PARENT.items():
        if not sv[joint]:
            continue
        anchor = _placed_ancestor(parent, placed, sv)
        if anchor is None:
            continue
        if anchor == NECK:
            if s_neck is None or o_neck is None:
                continue
            s_a, o_a, t_a, a_turn = s_neck, o_neck, t_neck, torso_turn
        else:
            s_a, o_a = src[anchor], out[anchor]
            t_a = tgt[anchor] if tv[anchor] else None
            a_turn = turn[anchor]
        offset = src[joint] - s_a
        if t_a is not None and tv[joint] and np.hypot(*(tgt[joint] - t_a)) > 1e-9:
            out[joint] = o_a + _unit(tgt[joint] - t_a) * np.hypot(*offset)
            turn[joint] = _angle(tgt[joint] - t_a) - _angle(offset)
        else:
            out[joint] = o_a + _rotate(offset, a_turn)
            turn[joint] = a_turn
        placed[joint] = True

    vis = np.where(placed, source.visibility, 0.0)

    # 3. feet back on the subject's floor line
    s_feet = [j for j in FEET if sv[j]]
    o_feet = [j for j in FEET if placed[j]]
    if s_feet and o_feet:
        body = _body_length(src, sv, source)
        dy = float(src[s_feet, 1].max() - out[o_feet, 1].max()) - airborne * body
        out[:, 1] += dy

    # 4. inside the frame
    fitted, scale, shift, dropped = _fit(out, placed, source, bottom_open=not (sv[L_ANKLE] or sv[R_ANKLE]))
    for j in dropped:
        placed[j] = False
    vis = np.where(placed, vis, 0.0)
    fitted[~placed] = np.nan
    return Retargeted(
        Skeleton(points=fitted, visibility=vis, width=source.width, height=source.height),
        scale,
        shift,
        tuple(dropped),
    )


def _fit(
    pts: np.ndarray, placed: np.ndarray, frame: Skeleton, *, bottom_open: bool
) -> tuple[np.ndarray, float, tuple[float, float], list[int]]:
    w, h = float(frame.width), float(frame.height)
    out = pts.copy()
    idx = np.flatnonzero(placed)
    if len(idx) == 0:
        return out, 1.0, (0.0, 0.0), []
    x0, y0 = out[idx].min(axis=0)
    x1, y1 = out[idx].max(axis=0)
    scale = 1.0
    if bottom_open:
        # A cropped photo: zoom out about the bottom edge only if the figure pokes out of the top or the
        # sides.
        pivot = np.array([(x0 + x1) / 2.0, h])
        if y0 < 0:
            scale = min(scale, h / (h - y0))
    else:
        pivot = np.array([(x0 + x1) / 2.0, y1])  # the floor point
        if y0 < 0 < y1 - y0:
            scale = min(scale, y1 / (y1 - y0))
        if y1 - y0 > h:
            scale = min(scale, h / (y1 - y0))
    if x1 - x0 > w:
        scale = min(scale, w / (x1 - x0))
    if scale < 1.0:
        out[idx] = pivot + (out[idx] - pivot) * scale
    x0, y0 = out[idx].min(axis=0)
    x1, y1 = out[idx].max(axis=0)
    dx = -x0 if x0 < 0 else (w - x1 if x1 > w else 0.0)
    dy = -y0 if y0 < 0 else 0.0
    if not bottom_open and y1 + dy > h:
        dy = h - y1
    out[idx] += (dx, dy)
    dropped = [int(j) for j in idx if out[j, 1] > h] if bottom_open else []
    return out, float(scale), (float(dx), float(dy)), dropped


def _body_length(pts: np.ndarray, vis: np.ndarray, sk: Skeleton) -> float:
    neck, pelvis = _mid(pts, vis, L_SHOULDER, R_SHOULDER), _mid(pts, vis, L_HIP, R_HIP)
    if neck is not None and pelvis is not None:
        return float(np.hypot(*(neck - pelvis)))
    return 0.25 * sk.height


def _placed_ancestor(joint: int, placed: np.ndarray, sv: np.ndarray) -> int | None:
    """`joint` or its nearest ancestor that is placed in the output (NECK at the head root)."""
    while True:
        if joint == NECK:
            return NECK if (placed[L_SHOULDER] and placed[R_SHOULDER]) else None
        if placed[joint]:
            return joint
        if joint not in PARENT:
            return None
        joint = PARENT[joint]


def _mid(pts: np.ndarray, vis: np.ndarray, a: int, b: int) -> np.ndarray | None:
    if vis[a] and vis[b]:
        return (pts[a] + pts[b]) / 2.0
    return None


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(*v))
    return v / n if n > 1e-12 else np.array([0.0, 0.0])


def _angle(v: np.ndarray) -> float:
    return math.atan2(float(v[1]), float(v[0]))


def _rotate(v: np.ndarray, rad: float) -> np.ndarray:
    c, s = math.cos(rad), math.sin(rad)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _frame_copy(source: Skeleton, pts: np.ndarray, vis: np.ndarray) -> Skeleton:
    return Skeleton(points=pts.copy(), visibility=vis.copy(), width=source.width, height=source.height)
