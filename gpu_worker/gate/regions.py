"""Where the body should be, from a skeleton: how much of each body region the silhouette covers.

The source photo is measured with the source skeleton and the output with its target skeleton, so the two numbers
describe the same body part before and after; a part the output lost (an arm erased, a hole in the torso, a dress
torn into two legs) shows as coverage that dropped.
"""

from __future__ import annotations

import cv2
import numpy as np

from gpu_worker.pose.skeleton import (
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    R_ANKLE,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    Skeleton,
)

BONES: dict[str, tuple[int, int]] = {
    "left upper arm": (L_SHOULDER, L_ELBOW),
    "left forearm": (L_ELBOW, L_WRIST),
    "right upper arm": (R_SHOULDER, R_ELBOW),
    "right forearm": (R_ELBOW, R_WRIST),
    "left thigh": (L_HIP, L_KNEE),
    "left shin": (L_KNEE, L_ANKLE),
    "right thigh": (R_HIP, R_KNEE),
    "right shin": (R_KNEE, R_ANKLE),
}
# Sample the inner part of each bone only: its ends sit at joints, where outlines and neighbours blur the answer.
_BONE_T = np.linspace(0.15, 0.85, 15)
_GRID = 9  # samples per side of a polygon region
BONE_SLACK = 0.012


def _pts(sk: Skeleton, scale: float) -> tuple[np.ndarray, np.ndarray]:
    return sk.points * scale, sk.visible()


def _covered(mask: np.ndarray, xy: np.ndarray) -> float:
    """Share of the points `xy` (N, 2) that land on the mask (points outside the frame count as not covered)."""
    if len(xy) == 0:
        return 1.0
    h, w = mask.shape
    x, y = np.round(xy[:, 0]).astype(int), np.round(xy[:, 1]).astype(int)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    hit = np.zeros(len(xy), bool)
    hit[inside] = mask[y[inside], x[inside]]
    return float(hit.mean())


def bone_coverage(mask: np.ndarray, sk: Skeleton, scale: float) -> dict[str, float]:
    """Per bone whose two joints are visible: share of points along it that lie on the figure (grown by
    `BONE_SLACK` of the frame: a thin limb drawn a few pixels beside its skeleton line is still there)."""
    grow = max(1, round(BONE_SLACK * max(mask.shape)))
    mask = cv2.dilate(mask.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
    p, v = _pts(sk, scale)
    out: dict[str, float] = {}
    for name, (a, b) in BONES.items():
        if v[a] and v[b]:
            xy = p[a][None, :] + _BONE_T[:, None] * (p[b] - p[a])[None, :]
            out[name] = _covered(mask, xy)
    return out


def _quad_samples(corners: np.ndarray, shrink: float) -> np.ndarray:
    """A grid of points inside the quadrilateral `corners` (4, 2; in order), pulled toward its centre by `shrink`."""
    c = corners.mean(axis=0)
    q = c + (corners - c) * (1.0 - shrink)
    s = np.linspace(0.0, 1.0, _GRID)
    u, t = np.meshgrid(s, s)
    u, t = u.ravel()[:, None], t.ravel()[:, None]
    top = q[0] + u * (q[1] - q[0])
    bottom = q[3] + u * (q[2] - q[3])
    return top + t * (bottom - top)


def torso_coverage(mask: np.ndarray, sk: Skeleton, scale: float) -> float | None:
    """Share of the torso (shoulders to hips, inner 70 %) on the figure; None without both shoulders and hips."""
    p, v = _pts(sk, scale)
    if not all(v[[L_SHOULDER, R_SHOULDER, R_HIP, L_HIP]]):
        return None
    return _covered(mask, _quad_samples(p[[L_SHOULDER, R_SHOULDER, R_HIP, L_HIP]], 0.3))


def between_legs_coverage(mask: np.ndarray, sk: Skeleton, scale: float) -> float | None:
    """Share of the band between the knees and the ankles' midline on the figure.

    Near 1 where a skirt, dress, coat or robe spans both legs; low for trousers or bare legs. None without hips,
    knees and ankles.
    """
    p, v = _pts(sk, scale)
    if not all(v[[L_HIP, R_HIP, L_KNEE, R_KNEE]]):
        return None
    hip = (p[L_HIP] + p[R_HIP]) / 2.0
    knees = np.array([p[L_KNEE], p[R_KNEE]])
    # the upper band: from just below the crotch to the knees, between the two legs' centre lines
    corners = np.array([hip + 0.35 * (knees[0] - hip), hip + 0.35 * (knees[1] - hip), knees[1], knees[0]])
    return _covered(mask, _quad_samples(corners, 0.25))
