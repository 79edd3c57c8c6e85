"""Is it the same product and the same person? Colour, pattern and head compared between source and output.

- garment colour: mean and spread of CIE Lab over the figure (a hue turned 40°, another garment, another person);
- pattern: the torso (where prints and logos sit) cut out along the shoulders and hips of each skeleton, brought to
  one canonical patch, and compared by normalised cross-correlation of its luminance — and of its mirror image, which
  tells a mirrored output from a good one even when the pose itself is symmetric;
- head: the same for a patch around the head landmarks (the same face and hair).
"""

from __future__ import annotations

import cv2
import numpy as np

from gpu_worker.pose.skeleton import HEAD, L_HIP, L_SHOULDER, R_HIP, R_SHOULDER, Skeleton

PATCH_W, PATCH_H = 28, 36


def lab_stats(rgb_small: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """(2, 3) mean and standard deviation of Lab (L 0..100, a/b about −128..127) inside `mask`; None if tiny."""
    if mask.sum() < 30:
        return None
    lab8 = cv2.cvtColor(np.ascontiguousarray(rgb_small, dtype=np.uint8), cv2.COLOR_RGB2Lab)[mask]
    lab = lab8.astype(np.float32) * np.array([100.0 / 255.0, 1.0, 1.0], np.float32) - np.array([0.0, 128.0, 128.0])
    return np.stack([lab.mean(axis=0), lab.std(axis=0)])


def colour_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Mean over L, a, b of |Δmean| + |Δstd|; 0.0 when either side is missing."""
    if a is None or b is None:
        return 0.0
    return float(np.mean(np.abs(a[0] - b[0]) + np.abs(a[1] - b[1])))


def hue_shift(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Distance between the mean (a, b) chroma vectors, Lab units: a hue turn moves it even at equal lightness."""
    if a is None or b is None:
        return 0.0
    return float(np.hypot(*(a[0, 1:] - b[0, 1:])))


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if den < 1e-3:  # two flat patches: nothing to compare, call them alike
        return 1.0 if float(np.abs(a).mean() + np.abs(b).mean()) < 1.0 else 0.0
    return float((a * b).sum() / den)


def torso_patch(grey: np.ndarray, sk: Skeleton, scale: float) -> np.ndarray | None:
    """The torso brought to a canonical `PATCH_W` × `PATCH_H` patch: shoulders on top, hips at the bottom."""
    v = sk.visible()
    if not all(v[[L_SHOULDER, R_SHOULDER, L_HIP, R_HIP]]):
        return None
    p = sk.points * scale
    # image-left shoulder first, so that the patch is the torso as seen, not as labelled
    src = np.float32([p[R_SHOULDER], p[L_SHOULDER], (p[L_HIP] + p[R_HIP]) / 2.0])
    if src[0, 0] > src[1, 0]:
        src[[0, 1]] = src[[1, 0]]
    dst = np.float32([[0, 0], [PATCH_W - 1, 0], [(PATCH_W - 1) / 2.0, PATCH_H - 1]])
    m = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(grey, m, (PATCH_W, PATCH_H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def head_patch(grey: np.ndarray, sk: Skeleton, scale: float) -> np.ndarray | None:
    """A square patch centred on the visible head landmarks, sized by the shoulder width."""
    v = sk.visible()
    head = [j for j in HEAD if v[j]]
    if not head or not (v[L_SHOULDER] and v[R_SHOULDER]):
        return None
    p = sk.points * scale
    c = p[head].mean(axis=0)
    half = 0.45 * max(float(np.hypot(*(p[L_SHOULDER] - p[R_SHOULDER]))), 4.0)
    src = np.float32([c + (-half, -half), c + (half, -half), c + (-half, half)])
    dst = np.float32([[0, 0], [PATCH_H - 1, 0], [0, PATCH_H - 1]])
    m = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(grey, m, (PATCH_H, PATCH_H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


# Skeletons place a torso or head to within a few pixels of the canonical patch: the best match over shifts of up
# to SHIFT pixels, after a blur of BLUR pixels, compares what is drawn rather than where the joints landed.
SHIFT = 2
BLUR = 1.0
# A patch whose luminance varies less than this (0..255 standard deviation) carries no print or face to compare.
MIN_DETAIL = 6.0


def _shifted_ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Best normalised cross-correlation of `a`'s core with `b` over shifts of up to `SHIFT` pixels."""
    h, w = a.shape
    core = np.ascontiguousarray(a[SHIFT : h - SHIFT, SHIFT : w - SHIFT], dtype=np.float32)
    if float(core.std()) < 1e-3 or float(b.std()) < 1e-3:
        return _ncc(core, b[SHIFT : h - SHIFT, SHIFT : w - SHIFT])
    scores = cv2.matchTemplate(np.ascontiguousarray(b, dtype=np.float32), core, cv2.TM_CCOEFF_NORMED)
    return float(np.nan_to_num(scores, nan=-1.0).max())


def patch_match(a: np.ndarray | None, b: np.ndarray | None) -> tuple[float, float] | None:
    """(best NCC of `a` with `b`, the same with `b` mirrored); None when either is missing or `a` has no detail."""
    if a is None or b is None or float(a.std()) < MIN_DETAIL:
        return None
    a = cv2.GaussianBlur(a, (0, 0), BLUR)
    b = cv2.GaussianBlur(b, (0, 0), BLUR)
    return _shifted_ncc(a, b), _shifted_ncc(a, np.ascontiguousarray(b[:, ::-1]))

