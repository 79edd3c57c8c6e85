"""The figure's silhouette, read from pixels: what differs from the backdrop, and what it touches.

On a studio or clip-art backdrop (a uniform border) the figure is everything that is not backdrop *connected to the
border*: white fill inside a drawing's outline is figure, a gap torn between two legs opens the backdrop into the
figure and is not. On a busy backdrop the detector's person mask stands in (less sharp, the only thing there is).
Everything is measured on a copy whose long side is `ANALYSIS_SIZE`, so the gate costs the same at any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ANALYSIS_SIZE = 256
# A pixel is backdrop when every channel is within this of the backdrop colour (0..255): anti-aliased outlines and
# JPEG noise stay backdrop, the palest garment colour in the calibration set (a white dress's grey shading) does not.
BACKDROP_TOLERANCE = 24
# The backdrop counts as uniform when this share of the border pixels is within the tolerance.
UNIFORM_BORDER = 0.6
# Components smaller than this share of the figure are noise (anti-aliasing crumbs, JPEG ringing).
MIN_PIECE = 0.004
# The figure touches a side of the frame when more than this share of that side's length is figure (and at least
# TOUCH_PIXELS analysis pixels): a hand cut by the frame is a few pixels of a 256-pixel side.
TOUCH_SHARE = 0.004
TOUCH_PIXELS = 2


@dataclass(frozen=True)
class Silhouette:
    """The figure at analysis size: `mask` (H, W) bool, `scale` = analysis px per original px."""

    mask: np.ndarray
    ink: np.ndarray  # (H, W) bool: pixels that are not backdrop-coloured (inside or outside the figure)
    scale: float
    uniform_backdrop: bool
    backdrop: np.ndarray  # RGB colour

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    def touches(self) -> dict[str, bool]:
        """Which sides of the frame the figure reaches: top, bottom, left, right."""
        m = self.mask
        sides = {"top": m[0], "bottom": m[-1], "left": m[:, 0], "right": m[:, -1]}
        return {k: bool(e.mean() > TOUCH_SHARE and e.sum() >= TOUCH_PIXELS) for k, e in sides.items()}

    def pieces(self) -> tuple[int, list[int]]:
        """(area of the main piece, areas of the other pieces above noise size), in analysis pixels."""
        n, _, stats, _ = cv2.connectedComponentsWithStats(self.mask.astype(np.uint8), connectivity=8)
        areas = sorted((int(a) for a in stats[1:, cv2.CC_STAT_AREA]), reverse=True)
        if not areas:
            return 0, []
        floor = MIN_PIECE * sum(areas)
        return areas[0], [a for a in areas[1:] if a >= floor]


def analysis_copy(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """`rgb` resized so that its long side is `ANALYSIS_SIZE` (area interpolation), and the scale used."""
    h, w = rgb.shape[:2]
    scale = ANALYSIS_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA), scale


def backdrop_colour(rgb: np.ndarray) -> np.ndarray:
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    return np.median(border, axis=0)


def silhouette(rgb: np.ndarray, person_mask: np.ndarray | None = None) -> Silhouette:
    """The figure in `rgb` (H, W, 3 uint8, full size); `person_mask` (full size, 0..1) for a busy backdrop."""
    small, scale = analysis_copy(rgb)
    colour = backdrop_colour(small)
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]]).astype(np.int16)
    uniform = float((np.abs(border - colour).max(axis=1) <= BACKDROP_TOLERANCE).mean()) >= UNIFORM_BORDER
    if uniform:
        ink = (np.abs(small.astype(np.int16) - colour.astype(np.int16)).max(axis=2) > BACKDROP_TOLERANCE)
        # backdrop = the non-ink pixels connected to the border; everything else is figure
        n, labels = cv2.connectedComponents((~ink).astype(np.uint8), connectivity=4)
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        outside = np.isin(labels, edge[edge > 0])
        mask = ~outside
    elif person_mask is not None:
        pm = cv2.resize(person_mask.astype(np.float32), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
        mask = ink = pm > 0.5
    else:
        mask = ink = np.zeros(small.shape[:2], bool)
    return Silhouette(mask=mask, ink=ink, scale=scale, uniform_backdrop=uniform, backdrop=colour)


# A picture counts as a photograph when its backdrop is not uniform or it has more than this many distinct colours
# (5 bits per channel, each seen at least 3 times, at 128 px): the samples and calibration drawings have 16–142
# (a group scene 284), the astronaut photograph 369.
PHOTO_COLOURS = 300


def looks_photographic(rgb: np.ndarray) -> bool:
    """Whether `rgb` is a photograph rather than a drawing (decides whether a warp output may go live unseen)."""
    h, w = rgb.shape[:2]
    s = 128 / max(h, w)
    small = cv2.resize(np.ascontiguousarray(rgb), (max(1, round(w * s)), max(1, round(h * s))),
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    _, counts = np.unique((small // 8).reshape(-1, 3), axis=0, return_counts=True)
    return int((counts >= 3).sum()) > PHOTO_COLOURS or not silhouette(rgb).uniform_backdrop
