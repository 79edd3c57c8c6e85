"""Is the target pose really there? Agreement of the pose re-detected on the output with the target.

OKS (COCO keypoint similarity) and PCK@0.1 on the COCO-17 joints the target shows, counting a joint the detector
does not see as visible as missed (BlazePose always returns 33 points and invents hidden limbs); the same OKS
against the other poses of the set (the right pose, not a neighbour's), against the source (the pose was changed),
and against the target mirrored (a mirrored image).
"""

from __future__ import annotations

import numpy as np

from gpu_worker.pose.skeleton import (
    COCO17_FROM_MP,
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    MIRROR,
    R_ANKLE,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    Skeleton,
)

# COCO-17 keypoint sigmas (pycocotools cocoeval.py), in COCO-17 order.
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87,
                        0.89, 0.89]) / 10.0  # fmt: skip
LIMB_JOINTS: dict[int, str] = {
    L_ELBOW: "left elbow",
    R_ELBOW: "right elbow",
    L_WRIST: "left hand",
    R_WRIST: "right hand",
    L_KNEE: "left knee",
    R_KNEE: "right knee",
    L_ANKLE: "left foot",
    R_ANKLE: "right foot",
}


def _coco(sk: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    idx = list(COCO17_FROM_MP)
    return sk.points[idx], sk.visible()[idx]


def oks(detected: Skeleton, target: Skeleton, area: float) -> float:
    """COCO OKS of `detected` against the joints `target` shows; a joint not detected as visible scores 0."""
    d_pts, d_vis = _coco(detected)
    t_pts, t_vis = _coco(target)
    if not t_vis.any():
        return 0.0
    d2 = np.sum((d_pts - t_pts) ** 2, axis=1)
    k2 = (2.0 * COCO_SIGMAS) ** 2
    e = d2 / (2.0 * max(area, 1.0) * k2)
    sim = np.where(np.isfinite(e) & d_vis, np.exp(-np.nan_to_num(e, nan=np.inf)), 0.0)
    return float(sim[t_vis].mean())


def pck(detected: Skeleton, target: Skeleton, alpha: float = 0.1) -> float:
    """Share of the target's visible COCO-17 joints detected as visible within `alpha` × the target bbox size."""
    d_pts, d_vis = _coco(detected)
    t_pts, t_vis = _coco(target)
    if not t_vis.any():
        return 0.0
    x0, y0, x1, y1 = target.bbox()
    thr = alpha * max(x1 - x0, y1 - y0, 1.0)
    dist = np.hypot(*(d_pts - t_pts).T)
    ok = np.where(np.isfinite(dist) & d_vis, dist <= thr, False)
    return float(ok[t_vis].mean())


# A limb joint counts as missing below this detected visibility: lower than the 0.5 that places a joint, so that a
# hand merely half-hidden by the body is not called missing.
MISSING_BELOW = 0.3


def missing_limbs(detected: Skeleton, target: Skeleton) -> list[str]:
    """Limb joints the target shows that the output's detection does not see."""
    tv, dv = target.visible(), detected.visible(MISSING_BELOW)
    return [name for j, name in LIMB_JOINTS.items() if tv[j] and not dv[j]]


def swapped(sk: Skeleton) -> Skeleton:
    """`sk` with left and right labels exchanged (positions unchanged)."""
    perm = np.array(MIRROR)
    return Skeleton(sk.points[perm], sk.visibility[perm], sk.width, sk.height)


def mirrored_about_figure(sk: Skeleton) -> Skeleton:
    """`sk` reflected about its own vertical centre line, labels exchanged: what a mirrored image would show."""
    x0, _, x1, _ = sk.bbox()
    pts = sk.points.copy()
    pts[:, 0] = (x0 + x1) - pts[:, 0]
    perm = np.array(MIRROR)
    return Skeleton(pts[perm], sk.visibility[perm], sk.width, sk.height)


def torso_angle(sk: Skeleton) -> float | None:
    """Direction of hips-centre → shoulders-centre, degrees (−90 = upright in image coordinates); None if unknown."""
    v = sk.visible()
    if not all(v[[L_SHOULDER, R_SHOULDER, L_HIP, R_HIP]]):
        return None
    p = sk.points
    d = (p[L_SHOULDER] + p[R_SHOULDER]) / 2.0 - (p[L_HIP] + p[R_HIP]) / 2.0
    return float(np.degrees(np.arctan2(d[1], d[0])))


def angle_between(a: float, b: float) -> float:
    return float(abs((a - b + 180.0) % 360.0 - 180.0))


def similarity(a: Skeleton, b: Skeleton) -> float:
    """OKS of two target skeletons against each other (how alike two poses are), with `b`'s bbox as the area."""
    x0, y0, x1, y1 = b.bbox()
    return oks(a, b, max((x1 - x0) * (y1 - y0) * 0.6, 1.0))


# each end joint with the two bones that lead to it: its error is measured against that limb's length
LIMB_ENDS: dict[int, tuple[str, int, int]] = {
    L_WRIST: ("left hand", L_SHOULDER, L_ELBOW),
    R_WRIST: ("right hand", R_SHOULDER, R_ELBOW),
    L_ANKLE: ("left foot", L_HIP, L_KNEE),
    R_ANKLE: ("right foot", R_HIP, R_KNEE),
}


def limb_end_errors(detected: Skeleton, target: Skeleton) -> dict[str, float]:
    """Per hand and foot: distance from the target, as a share of the target limb's length (root → mid → end).

    PCK measures against the whole figure's size, which lets a short-armed mascot's hand sit on its belly for
    "hands on hips"; against the arm's own length it cannot.
    """
    dp, dv = detected.points, detected.visible()
    tp, tv = target.points, target.visible()
    out: dict[str, float] = {}
    for end, (name, root, mid) in LIMB_ENDS.items():
        if not (tv[end] and tv[root] and tv[mid] and dv[end]):
            continue
        length = float(np.hypot(*(tp[mid] - tp[root])) + np.hypot(*(tp[end] - tp[mid])))
        if length > 1.0:
            out[name] = float(np.hypot(*(dp[end] - tp[end]))) / length
    return out
