"""Deliberate damage to good outputs: the classes of defect the gate must catch, made on purpose.

`bench/gate.py` and the gate's tests build the damage suite from outputs labelled publishable and count, per
class, how many damaged images the gate fails. Each function takes a good output and its target skeleton and
returns the damaged image, or None where the damage would not be visible on this figure (a hue turn of a black
suit, a tear between legs that are already apart) — such cases are left out of the suite, not counted as caught.
Damage that needs another image (a swapped slot, another person, the source itself) is made by the caller.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from gpu_worker.gate.figure import backdrop_colour, silhouette
from gpu_worker.pose.skeleton import (
    HEAD,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    Skeleton,
)

CLASSES = (
    "swapped slot",
    "mirrored",
    "rotated",
    "source returned",
    "another person",
    "arm erased",
    "torn garment",
    "hole in torso",
    "ghost fragment",
    "hue shift",
    "frame-cut head",
)


def _arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB")).copy()


def _scale(sk: Skeleton) -> float:
    p = sk.points
    return float(np.hypot(*(p[L_SHOULDER] - p[R_SHOULDER])))


# A mirrored copy whose figure differs from the original (both centred on the figure) by less than this mean
# luminance difference (0..255) is no visible defect: a symmetric figure in a symmetric pose.
VISIBLE_MIRROR = 3.0


def mirrored(im: Image.Image, sk: Skeleton) -> Image.Image | None:
    flipped = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    a = _arr(im)
    fig = silhouette(a)
    ys, xs = np.nonzero(fig.mask)
    if len(xs) == 0:
        return None
    grey = cv2.cvtColor(cv2.resize(a, fig.mask.shape[::-1], interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    box = grey[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    if float(np.abs(box - box[:, ::-1]).mean()) < VISIBLE_MIRROR:
        return None
    return flipped


def rotated(im: Image.Image, sk: Skeleton, angle: float = 35.0) -> Image.Image:
    a = _arr(im)
    fill = tuple(int(c) for c in backdrop_colour(a))
    return im.convert("RGB").rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=fill)


def arm_erased(im: Image.Image, sk: Skeleton, side: str = "left") -> Image.Image | None:
    """One whole arm painted over with the backdrop colour (a thick stroke along shoulder → elbow → wrist)."""
    s, e, w = (L_SHOULDER, L_ELBOW, L_WRIST) if side == "left" else (R_SHOULDER, R_ELBOW, R_WRIST)
    if not sk.visible()[[s, e, w]].all():
        return None
    a = _arr(im)
    colour = tuple(int(c) for c in backdrop_colour(a))
    thick = max(3, round(0.45 * _scale(sk)))
    p = sk.points
    start = p[s] + 0.25 * (p[e] - p[s])  # keep the shoulder itself: an arm gone, not the torso
    pts = np.round([start, p[e], p[w] + 0.25 * (p[w] - p[e])]).astype(np.int32)
    cv2.polylines(a, [pts], False, colour, thickness=thick, lineType=cv2.LINE_AA)
    return Image.fromarray(a)


def torn_garment(im: Image.Image, sk: Skeleton) -> Image.Image | None:
    """A wedge of backdrop from the crotch down between the legs — only where the figure is solid there."""
    v = sk.visible()
    if not v[[L_HIP, R_HIP, L_KNEE, R_KNEE]].all():
        return None
    a = _arr(im)
    fig = silhouette(a)
    p = sk.points
    hip = (p[L_HIP] + p[R_HIP]) / 2.0
    knees = (p[L_KNEE] + p[R_KNEE]) / 2.0
    probe = np.round((hip + 0.5 * (knees - hip)) * fig.scale).astype(int)
    y, x = min(max(probe[1], 0), fig.mask.shape[0] - 1), min(max(probe[0], 0), fig.mask.shape[1] - 1)
    if not fig.mask[y, x]:
        return None  # the legs are already apart: nothing to tear
    down = knees - hip
    bottom = hip + 1.9 * down
    half = 0.35 * _scale(sk)
    normal = np.array([-down[1], down[0]]) / max(float(np.hypot(*down)), 1e-6)
    tri = np.round([hip + 0.1 * down, bottom + half * normal, bottom - half * normal]).astype(np.int32)
    cv2.fillPoly(a, [tri], tuple(int(c) for c in backdrop_colour(a)), lineType=cv2.LINE_AA)
    return Image.fromarray(a)


def hole_in_torso(im: Image.Image, sk: Skeleton) -> Image.Image | None:
    v = sk.visible()
    if not v[[L_SHOULDER, R_SHOULDER, L_HIP, R_HIP]].all():
        return None
    a = _arr(im)
    p = sk.points
    c = (p[L_SHOULDER] + p[R_SHOULDER] + p[L_HIP] + p[R_HIP]) / 4.0
    r = max(2, round(0.28 * _scale(sk)))
    colour = backdrop_colour(a).astype(np.int16)
    y0, y1, x0, x1 = int(c[1]) - r, int(c[1]) + r, int(c[0]) - r // 2, int(c[0]) + r // 2
    centre = a[max(y0, 0) : max(y1, 1), max(x0, 0) : max(x1, 1)].astype(np.int16)
    if centre.size == 0 or (np.abs(centre - colour).max(axis=2) > 24).mean() < 0.5:
        return None  # a garment of the backdrop's colour: a hole in it would not show
    cv2.ellipse(a, (round(c[0]), round(c[1])), (r, round(1.3 * r)), 0, 0, 360,
                tuple(int(x) for x in backdrop_colour(a)), -1, cv2.LINE_AA)  # fmt: skip
    return Image.fromarray(a)


def ghost_fragment(im: Image.Image, sk: Skeleton) -> Image.Image | None:
    """A copy of the figure's forearm and hand left in the backdrop beside the figure."""
    v = sk.visible()
    side = next(((e, w) for e, w in ((L_ELBOW, L_WRIST), (R_ELBOW, R_WRIST)) if v[e] and v[w]), None)
    if side is None:
        return None
    a = _arr(im)
    fig = silhouette(a)
    mask = cv2.resize(fig.mask.astype(np.uint8), (a.shape[1], a.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    p = sk.points
    e, w = p[side[0]], p[side[1]]
    pad = 0.35 * _scale(sk)
    x0, y0 = np.floor(np.minimum(e, w) - pad).astype(int)
    x1, y1 = np.ceil(np.maximum(e, w) + pad).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, a.shape[1]), min(y1, a.shape[0])
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    patch, pmask = a[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1]
    # put it where the backdrop is free, clear of the figure (a left-behind copy, not a part still attached)
    ys, xs = np.nonzero(mask)
    bx0, by0, bx1, by1 = xs.min(), ys.min(), xs.max(), ys.max()
    ph, pw = patch.shape[:2]
    gap = max(3, round(0.02 * a.shape[1]))
    for tx in (int(bx1 + gap), int(bx0 - gap - pw)):
        ty = int(min(max((by0 + by1) / 2 - ph / 2, 0), a.shape[0] - ph))
        if 0 <= tx and tx + pw <= a.shape[1] and not mask[ty : ty + ph, tx : tx + pw].any():
            region = a[ty : ty + ph, tx : tx + pw]
            region[pmask] = patch[pmask]
            return Image.fromarray(a)
    return None


def hue_shift(im: Image.Image, sk: Skeleton, degrees: float = 40.0) -> Image.Image | None:
    """The figure's hue turned by `degrees`; None for a figure without colour (a turn would not show)."""
    a = _arr(im)
    fig = silhouette(a)
    mask = cv2.resize(fig.mask.astype(np.uint8), (a.shape[1], a.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    hsv = cv2.cvtColor(a, cv2.COLOR_RGB2HSV)
    if mask.sum() == 0 or float(hsv[..., 1][mask].mean()) < 40:
        return None
    h = hsv[..., 0].astype(np.int32)
    h[mask] = (h[mask] + round(degrees / 2)) % 180  # OpenCV hue is 0..179
    hsv[..., 0] = h.astype(np.uint8)
    return Image.fromarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def frame_cut_head(im: Image.Image, sk: Skeleton) -> Image.Image | None:
    """The picture shifted up so that the frame cuts the head through the eyes."""
    v = sk.visible()
    head = [j for j in HEAD if v[j]]
    if not head:
        return None
    a = _arr(im)
    eyes_y = float(np.mean(sk.points[head, 1]))
    shift = int(round(eyes_y))
    if shift <= 0 or shift >= a.shape[0] // 2:
        return None
    out = np.empty_like(a)
    out[:] = backdrop_colour(a).astype(np.uint8)
    out[: a.shape[0] - shift] = a[shift:]
    return Image.fromarray(out)
