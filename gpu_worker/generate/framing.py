"""Keep the re-posed figure inside the frame: arms out on a narrow picture must not lose their hands.

The warp draws onto the source's canvas. When the new pose is wider or taller than the old one, the figure is moved
and, if it still does not fit, scaled down as a whole (every part alike, so the proportions stay) about its feet —
as little as needed, so the product keeps as many pixels as possible. An edge the source figure was already cut at
(a waist-up photo's bottom edge) stays open: the figure may go on past it, as in the source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Distance (pixels) from an edge within which the source figure counts as cut by it.
CUT_TOLERANCE = 2
# Free space kept between the figure and a closed edge, as a share of the frame's side (at most the source's own).
MARGIN = 0.02


@dataclass(frozen=True)
class Framing:
    """A similarity x → scale·x + shift applied to the whole re-posed figure."""

    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.shift == (0.0, 0.0)

    def apply(self, pts: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(pts, np.float64) + np.array(self.shift)

    def then(self, other: Framing) -> Framing:
        """This framing followed by `other`."""
        sh = other.scale * np.array(self.shift) + np.array(other.shift)
        return Framing(scale=self.scale * other.scale, shift=(float(sh[0]), float(sh[1])))

    def compose(self, forward: np.ndarray) -> np.ndarray:
        """The (2, 3) forward map `forward` followed by this framing."""
        return np.hstack([self.scale * forward[:, :2], (self.scale * forward[:, 2] + np.array(self.shift))[:, None]])


# An edge counts as cutting the source figure when the figure covers at least this share of it (a waist-up
# photo's bottom edge); a hand or a shoe that merely touches a tightly cropped frame does not open it.
CUT_SHARE = 0.15


def source_margins(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Free space (left, top, right, bottom, pixels) around the figure in the source mask; None when empty.

    An edge the figure is cut by (see CUT_SHARE) gets 0: it stays open.
    """
    fig = mask > 0.5
    ys, xs = np.nonzero(fig)
    if len(xs) == 0:
        return None
    h, w = mask.shape
    free = [float(xs.min()), float(ys.min()), float(w - 1 - xs.max()), float(h - 1 - ys.max())]
    edges = [fig[:, 0], fig[0, :], fig[:, -1], fig[-1, :]]
    return tuple(  # type: ignore[return-value]
        0.0 if float(e.mean()) >= CUT_SHARE else max(m, CUT_TOLERANCE + 1.0) for m, e in zip(free, edges, strict=True)
    )


# Bones whose length ratio (target / source) tells how much the retargeting scaled the whole skeleton down to fit
# the frame (it keeps the subject's bone lengths otherwise).
_BONES = ((11, 12), (23, 24), (11, 23), (12, 24), (11, 13), (13, 15), (12, 14), (14, 16),
          (23, 25), (25, 27), (24, 26), (26, 28))  # fmt: skip


def skeleton_scale(source_pts: np.ndarray, source_vis: np.ndarray, target_pts: np.ndarray, target_vis: np.ndarray
                   ) -> float:
    """The uniform scale of the target skeleton against the source (1.0 when the bone lengths agree within 2 %)."""
    ratios = []
    for a, b in _BONES:
        if source_vis[a] and source_vis[b] and target_vis[a] and target_vis[b]:
            ls = float(np.linalg.norm(source_pts[a] - source_pts[b]))
            lt = float(np.linalg.norm(target_pts[a] - target_pts[b]))
            if ls > 1e-6:
                ratios.append(lt / ls)
    if len(ratios) < 3:
        return 1.0
    s = float(np.median(ratios))
    return 1.0 if abs(s - 1.0) < 0.02 or s > 1.0 else s


def fit_frame(
    extent: tuple[float, float, float, float],
    size: tuple[int, int],
    margins: tuple[float, float, float, float] | None,
    anchor: np.ndarray,
) -> Framing:
    """The smallest move (then the mildest shrink about `anchor`) that brings `extent` inside the frame.

    `extent` = (x0, y0, x1, y1) of the re-posed figure; `margins` = the source's free space per edge (an edge with
    none was cut in the source and stays open).
    """
    w, h = size
    if margins is None:
        return Framing()
    open_ = [m <= CUT_TOLERANCE for m in margins]  # left, top, right, bottom
    keep = [min(m, MARGIN * (w if k % 2 == 0 else h)) for k, m in enumerate(margins)]
    lo = np.array([keep[0] if not open_[0] else -np.inf, keep[1] if not open_[1] else -np.inf])
    hi = np.array([w - 1 - keep[2] if not open_[2] else np.inf, h - 1 - keep[3] if not open_[3] else np.inf])
    x0, y0, x1, y1 = extent
    box_lo, box_hi = np.array([x0, y0]), np.array([x1, y1])
    edge_lo = np.where(np.isfinite(lo), -1.5, -np.inf)  # a pixel of anti-aliasing is not a cut
    edge_hi = np.where(np.isfinite(hi), np.array([w + 0.5, h + 0.5]), np.inf)
    if np.all(box_lo >= edge_lo) and np.all(box_hi <= edge_hi):
        return Framing()  # nothing is cut: leave the pose where the retargeting put it
    # shrink only along an axis closed on both sides and too short for the figure
    scale = 1.0
    for axis in (0, 1):
        room = hi[axis] - lo[axis]
        need = box_hi[axis] - box_lo[axis]
        if np.isfinite(room) and need > room > 0:
            scale = min(scale, float(room / need))
    a = np.asarray(anchor, np.float64)
    box_lo, box_hi = a + scale * (box_lo - a), a + scale * (box_hi - a)
    shift = a - scale * a  # scaling about the anchor
    move = np.zeros(2)
    for axis in (0, 1):
        if box_lo[axis] < lo[axis]:
            move[axis] = lo[axis] - box_lo[axis]
        elif box_hi[axis] > hi[axis]:
            move[axis] = hi[axis] - box_hi[axis]
    shift = shift + move
    return Framing(scale=scale, shift=(float(shift[0]), float(shift[1])))
