"""The pre-gate quality check (gpu_worker/quality.py until the output gate replaced it), kept only so that
bench/pose_engine.py can time the gate against it side by side. Not used by the product.

1. Re-detect the pose on the output with the same detector that made the source skeleton (MediaPipe), so most of
   the detector's own bias cancels out (notes B10).
2. Pose agreement with the target, on the COCO-17 joints the target has:
   - OKS (COCO keypoint similarity): mean of exp(−d² / (2·s²·kᵢ²)), kᵢ = 2σᵢ with COCO's per-joint σ, s² = the
     re-detected person-mask area (COCO uses the segment area);
   - PCK@0.1: share of joints within 10 % of the target's bounding-box size;
   - left/right swap: the output matches the target with left and right exchanged better than as is.
3. Artifacts, because pose agreement alone passes visibly broken images (notes A6: a fold-over warp still scored
   PCK 0.85–0.92): fold-over share and filled-in share reported by the backend, and the figure's colour statistics
   (mean and spread in CIE Lab inside the person mask) against the source's — a torn or ghosted garment moves them.

Thresholds (`Thresholds`) and why:
- OKS ≥ 0.50: COCO's loosest match threshold (AP50); below it a keypoint detector would not count the pose as found.
- PCK@0.1 ≥ 0.60: most joints within a tenth of the body size; a pose with one arm wrong fails.
- swap: fail when the swapped OKS beats the straight one by 0.10 (a frontal pose turned into its back view).
- fold-over ≤ 0.5 % of the figure: a fold is a mirrored duplicate of the picture; a few boundary pixels are noise.
- filled-in ≤ 12 % of the figure: beyond that the inpainted (invented) area is visible as smears.
- colour distance ≤ 15 (ΔE units, |Δmean| + |Δstd| averaged over L, a, b): the garment keeps its colour; a ΔE of
  about 10 is an obvious difference side by side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from gpu_worker.errors import InputRejected
from gpu_worker.generate.base import Rendered
from gpu_worker.pose.skeleton import COCO17_FROM_MP, MIRROR, Skeleton

# COCO-17 keypoint sigmas (pycocotools cocoeval.py), in COCO-17 order.
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87,
                        0.89, 0.89]) / 10.0  # fmt: skip


@dataclass(frozen=True)
class Thresholds:
    min_oks: float = 0.50
    min_pck: float = 0.60
    swap_margin: float = 0.10
    max_foldover: float = 0.005
    max_uncovered: float = 0.12
    max_colour_distance: float = 15.0


DEFAULT_THRESHOLDS = Thresholds()


@dataclass
class QualityReport:
    oks: float
    pck: float
    foldover_fraction: float
    uncovered_fraction: float
    colour_distance: float
    passed: bool
    reasons: list[str] = field(default_factory=list)
    detected: Skeleton | None = field(default=None, repr=False)  # the pose found on the output, None if none

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("detected", None)
        for k in ("oks", "pck", "foldover_fraction", "uncovered_fraction", "colour_distance"):
            d[k] = round(float(d[k]), 4)
        return d


# --------------------------------------------------------------------------------------------------------------------
# metrics


def _coco_points(sk: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """(17, 2) positions (NaN where absent) and (17,) visible flags in COCO-17 order."""
    idx = list(COCO17_FROM_MP)
    return sk.points[idx], sk.visible()[idx]


def oks(detected: Skeleton, target: Skeleton, area: float) -> float:
    """COCO OKS of `detected` against the joints `target` has (COCO-17), with object area `area` (px²).

    A target joint that the detection does not place at all scores 0 for that joint. 0.0 when the target has no
    COCO-17 joint.
    """
    d_pts, _ = _coco_points(detected)
    t_pts, t_vis = _coco_points(target)
    if not t_vis.any():
        return 0.0
    d2 = np.sum((d_pts - t_pts) ** 2, axis=1)
    k2 = (2.0 * COCO_SIGMAS) ** 2
    e = d2 / (2.0 * max(area, 1.0) * k2)
    sim = np.where(np.isfinite(e), np.exp(-np.nan_to_num(e, nan=np.inf)), 0.0)
    return float(sim[t_vis].mean())


def pck(detected: Skeleton, target: Skeleton, alpha: float = 0.1) -> float:
    """Share of the target's COCO-17 joints the detection places within `alpha` × the target bbox's longer side."""
    d_pts, _ = _coco_points(detected)
    t_pts, t_vis = _coco_points(target)
    if not t_vis.any():
        return 0.0
    x0, y0, x1, y1 = target.bbox()
    thr = alpha * max(x1 - x0, y1 - y0, 1.0)
    dist = np.hypot(*(d_pts - t_pts).T)
    ok = np.where(np.isfinite(dist), dist <= thr, False)
    return float(ok[t_vis].mean())


def swapped(sk: Skeleton) -> Skeleton:
    """`sk` with left and right labels exchanged (positions unchanged)."""
    perm = np.array(MIRROR)
    return Skeleton(sk.points[perm], sk.visibility[perm], sk.width, sk.height)


def colour_stats(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """(2, 3) mean and standard deviation of CIE Lab (L 0..100, a/b about −128..127) inside `mask`; None if empty."""
    # every other row and column: the statistics do not need every pixel, and Lab conversion is the costly part
    sel = mask[::2, ::2].astype(bool)
    if sel.sum() < 50:
        return None
    # 8-bit conversion of a contiguous image (OpenCV is ~100× slower on an N×1 float pixel list); back to Lab units
    lab8 = cv2.cvtColor(np.ascontiguousarray(rgb[::2, ::2], dtype=np.uint8), cv2.COLOR_RGB2Lab)[sel]
    lab = lab8.astype(np.float32) * np.array([100.0 / 255.0, 1.0, 1.0], np.float32) - np.array([0.0, 128.0, 128.0])
    return np.stack([lab.mean(axis=0), lab.std(axis=0)])


def colour_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Mean over L, a, b of |Δmean| + |Δstd| between two `colour_stats`; 0.0 when either is missing."""
    if a is None or b is None:
        return 0.0
    return float(np.mean(np.abs(a[0] - b[0]) + np.abs(a[1] - b[1])))


def _figure_mask(sk: Skeleton | None, fallback: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if fallback is not None and fallback.shape == shape:
        return fallback.astype(bool)
    if sk is not None and sk.mask is not None:
        m = sk.mask
        if m.shape != shape:
            m = cv2.resize(m.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        return m > 0.5
    return None


# --------------------------------------------------------------------------------------------------------------------
# the check


def check(
    output_image: Image.Image,
    target: Skeleton,
    rendered: Rendered,
    source_photo: Image.Image,
    source_skeleton: Skeleton,
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> QualityReport:
    """Score one output against its target pose; `passed` is False with reasons whenever any check fails."""
    from gpu_worker.pose.detect import detect_all  # mediapipe only when checking

    th = thresholds
    out = output_image.convert("RGB")
    w, h = out.size
    if (target.width, target.height) != (w, h):
        target = target.scaled_to(w, h)
    reasons: list[str] = []

    # 1. re-detect
    try:
        people = detect_all(out, max_size=max(w, h))
    except InputRejected as exc:  # an output we cannot even read back
        people = []
        reasons.append(f"output unreadable: {exc}")
    found = people[0] if people and people[0].visible().any() else None

    # 2. pose agreement
    oks_v = pck_v = 0.0
    if found is None:
        reasons.append("no person re-detected in the output")
    else:
        mask_area = float((found.mask > 0.5).sum()) if found.mask is not None else 0.0
        if mask_area <= 0:
            x0, y0, x1, y1 = target.bbox()
            mask_area = max((x1 - x0) * (y1 - y0), 1.0)
        oks_v = oks(found, target, mask_area)
        pck_v = pck(found, target)
        oks_swapped = oks(found, swapped(target), mask_area)
        if oks_v < th.min_oks:
            reasons.append(f"pose mismatch: OKS {oks_v:.2f} < {th.min_oks:.2f}")
        if pck_v < th.min_pck:
            reasons.append(f"joints off target: PCK@0.1 {pck_v:.2f} < {th.min_pck:.2f}")
        if oks_swapped > oks_v + th.swap_margin:
            reasons.append(f"left and right swapped (OKS {oks_swapped:.2f} swapped vs {oks_v:.2f})")

    # 3. artifacts
    if rendered.foldover_fraction > th.max_foldover:
        reasons.append(f"fold-over in {rendered.foldover_fraction:.1%} of the figure")
    if rendered.uncovered_fraction > th.max_uncovered:
        reasons.append(f"{rendered.uncovered_fraction:.0%} of the figure filled in (invented)")
    # the same kind of mask on both sides: the backend's own figure masks when it reports them (sharper), else the
    # detector's person masks
    src = np.asarray(source_photo.convert("RGB"))
    out_arr = np.asarray(out)
    extras = rendered.extras or {}
    src_fig, out_fig = extras.get("source_figure_mask"), extras.get("figure_mask")
    if isinstance(src_fig, np.ndarray) and isinstance(out_fig, np.ndarray):
        src_mask = _figure_mask(None, src_fig, src.shape[:2])
        out_mask = _figure_mask(None, out_fig, out_arr.shape[:2])
    else:
        src_mask = _figure_mask(source_skeleton, None, src.shape[:2])
        out_mask = _figure_mask(found, None, out_arr.shape[:2])
    cdist = 0.0
    if src_mask is not None and out_mask is not None:
        cdist = colour_distance(colour_stats(src, src_mask), colour_stats(out_arr, out_mask))
        if cdist > th.max_colour_distance:
            reasons.append(f"figure colours changed (distance {cdist:.1f} > {th.max_colour_distance:.0f})")

    return QualityReport(
        oks=oks_v,
        pck=pck_v,
        foldover_fraction=float(rendered.foldover_fraction),
        uncovered_fraction=float(rendered.uncovered_fraction),
        colour_distance=cdist,
        passed=not reasons,
        reasons=reasons,
        detected=found,
    )
