"""What the warp cannot do for *this* figure, decided per figure and pose, with a reason a merchant understands.

The warp moves the parts it can see. It cannot turn a body (the other side was never photographed), cannot pull apart
legs that overlap in the photo (the hidden leg is not there), and cannot open a stride in a floor-length dress (the
dress would have to split or stretch into a tent). Such poses are skipped with the reason instead of produced.
"""

from __future__ import annotations

import math

import numpy as np

from gpu_worker.generate.parts import Rig, key_points
from gpu_worker.pose.skeleton import Skeleton

DIFFUSION = "needs the diffusion backend"
# Shoulder span / torso length below which the figure is seen from the side (a frontal adult is about 0.7-0.9;
# a figure turned by more than about 60 degrees drops under half).
SIDE_VIEW_RATIO = 0.45
# Share of the figure that lies far outside every body part (see parts.FAR_COST) above which something big is
# joined to it: measured 0-2 % on people with a handbag or a wand, 9 % for a smith behind his anvil, 20 % for a golfer
# on his patch of grass.
MAX_FOREIGN = 0.05
# How far (× the hand's length, from the wrist) something held may stick out of a hand: spread fingers measure up
# to about 2, a fairy's wand 3, a golf club 10.
MAX_PROP_REACH = 2.5
# How much wider (degrees between the two hip-to-ankle lines) a pose may open the legs than the photo has them,
# in a floor-length garment.
MAX_EXTRA_SPREAD = 12.0


def _crossing(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> float | None:
    """Where (fraction along p1 → p2) segment p1–p2 crosses segment q1–q2, or None."""
    d, e = p2 - p1, q2 - q1
    den = float(d[0] * e[1] - d[1] * e[0])
    if abs(den) < 1e-9:
        return None
    w = q1 - p1
    t = float(w[0] * e[1] - w[1] * e[0]) / den
    u = float(w[0] * d[1] - w[1] * d[0]) / den
    return t if 0.0 < t < 1.0 and 0.0 < u < 1.0 else None


def side_view(sk: Skeleton) -> bool:
    """The figure is turned sideways (its shoulders are far narrower than its torso is long)."""
    kp = key_points(sk)
    ls, rs, neck, hip = kp["l_shoulder"], kp["r_shoulder"], kp["neck"], kp["mid_hip"]
    if ls is None or rs is None or neck is None or hip is None:
        return False
    torso = float(np.linalg.norm(hip - neck))
    return torso > 1e-6 and float(np.linalg.norm(ls - rs)) < SIDE_VIEW_RATIO * torso


def legs_cross(sk: Skeleton, hidden_above: float = 0.0) -> bool:
    """The legs overlap in the photo: one leg's thigh or shin crosses the other's (below `hidden_above`, the
    fraction of hip → ankle a garment covers: a crossing under a skirt is the garment's business)."""
    kp = key_points(sk)
    legs: list[list[np.ndarray]] = []
    for side in ("l", "r"):
        pts = [kp[f"{side}_{j}"] for j in ("hip", "knee", "ankle")]
        found = [p for p in pts if p is not None]
        if len(found) < len(pts):
            return False
        legs.append(found)
    (lh, lk, la), (rh, rk, ra) = legs
    l_thigh = float(np.linalg.norm(lk - lh))
    l_len = l_thigh + float(np.linalg.norm(la - lk))
    pairs = (
        ((lh, lk, 0.0), (rh, rk)),
        ((lh, lk, 0.0), (rk, ra)),
        ((lk, la, l_thigh), (rh, rk)),
        ((lk, la, l_thigh), (rk, ra)),
    )
    for (a, b, start), (c, d) in pairs:
        t = _crossing(a, b, c, d)
        if t is not None and (start + t * float(np.linalg.norm(b - a))) / max(l_len, 1e-9) > hidden_above:
            return True
    return False


def leg_spread(sk: Skeleton) -> float | None:
    """Angle (degrees) between the two hip-to-ankle lines."""
    kp = key_points(sk)
    lh, la, rh, ra = kp["l_hip"], kp["l_ankle"], kp["r_hip"], kp["r_ankle"]
    if lh is None or la is None or rh is None or ra is None:
        return None
    a, b = la - lh, ra - rh
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na < 1e-6 or nb < 1e-6:
        return None
    return math.degrees(math.acos(float(np.clip(a @ b / (na * nb), -1.0, 1.0))))


def _spine(sk: Skeleton) -> np.ndarray | None:
    kp = key_points(sk)
    neck, hip = kp["neck"], kp["mid_hip"]
    return None if neck is None or hip is None else hip - neck


def upside_down(sk: Skeleton) -> bool:
    """The skeleton stands on its head: the hips are above the shoulders (a detector fooled by a mascot)."""
    spine = _spine(sk)
    return spine is not None and float(spine[1]) < -0.25 * float(np.linalg.norm(spine))


def turns_over(source: Skeleton, target: Skeleton) -> bool:
    """The target turns the torso by more than 60 degrees: drawn, the figure would lie down or stand on its head."""
    a, b = _spine(source), _spine(target)
    if a is None or b is None or np.linalg.norm(a) < 1e-6 or np.linalg.norm(b) < 1e-6:
        return False
    cos = float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))
    return cos < math.cos(math.radians(60.0))


def figure_refusal(rig: Rig) -> str | None:
    """Why no pose at all can be warped for this figure, or None."""
    if upside_down(rig.skeleton):
        return (
            "the skeleton is upside down (hips above the shoulders): "
            "place the skeleton by hand, head up, in the pose editor"
        )
    if side_view(rig.skeleton):
        return f"{DIFFUSION}: the figure is turned sideways, and the warp can only re-pose a figure facing the camera"
    if legs_cross(rig.skeleton, rig.garment_hem if rig.garment is not None else 0.0):
        return f"{DIFFUSION}: the legs overlap in the photo, and the warp cannot pull them apart"
    if rig.foreign_share > MAX_FOREIGN:
        return (
            f"{DIFFUSION}: a large object is joined to the figure (a prop, a stand, something in front of the body), "
            "and the warp would tear it apart with the limbs"
        )
    if max(rig.held_prop_reach.values(), default=0.0) > MAX_PROP_REACH:
        return (
            f"{DIFFUSION}: the figure holds a long prop (a wand, a club, a tool) that the warp would break off "
            "when the hand moves"
        )
    return None


def pose_refusal(rig: Rig, target: Skeleton) -> str | None:
    """Why this target pose cannot be warped for this figure, or None."""
    figure = figure_refusal(rig)
    if figure is not None:
        return figure
    if turns_over(rig.skeleton, target):
        return f"{DIFFUSION}: the pose turns the body over, which the warp would draw as a figure standing on its head"
    if rig.garment is not None and rig.garment_hem >= 0.8:
        src, tgt = leg_spread(rig.skeleton), leg_spread(target)
        if src is not None and tgt is not None and tgt > src + MAX_EXTRA_SPREAD:
            return f"{DIFFUSION}: the legs open wider than the long dress or coat allows, and it would split"
    return None
