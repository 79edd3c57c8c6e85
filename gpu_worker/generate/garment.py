"""Find a garment that spans both legs (a dress, a skirt, a coat, a robe) in the figure mask.

Trousers leave backdrop between the legs, or at least do not reach past the legs' outlines; a skirt fills the gap
between the legs, or flares out beyond both of them. Walking down both legs together (hip → knee → ankle at the same
fraction of each leg), the figure is measured across the two legs at every step: "spanned" where the gap between the
legs is figure, or (legs together) where the figure reaches well past both legs' outer edges. The garment runs from
the hips down to its hem: the last spanned step.

Everything here is at the rig's work resolution and depends only on the source photo, so it is computed once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Steps along the legs (hip → ankle) at which the figure is measured across them.
N_STEPS = 32
# A garment has to reach at least this far down the legs (fraction of hip → ankle): shorts and the crotch of
# trousers are not one.
MIN_HEM = 0.15


@dataclass(frozen=True)
class Garment:
    """A garment spanning both legs, in the work frame."""

    hem: float  # fraction of hip → ankle where it ends (1.0 = to the ankles: floor length)
    hem_point: np.ndarray  # middle of the hem line (work pixels)
    down: np.ndarray  # unit vector from the hips towards the hem
    margin: float  # how far past the hem line its pixels may lie (the hem is not straight)

    @property
    def floor_length(self) -> bool:
        return self.hem >= 0.8

    def covers(self, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        """Bool grid: the points on the hips' side of the hem line (everything, for a floor-length garment)."""
        if self.hem >= 0.95:
            return np.ones(np.shape(xx), bool)
        return self._along(xx, yy) <= self.margin

    def above_hem(self, xx: np.ndarray, yy: np.ndarray, depth: float) -> np.ndarray:
        """Bool grid: the band of `depth` pixels just above the hem line (where the legs go on under the garment)."""
        if self.hem >= 0.95:
            return np.zeros(np.shape(xx), bool)
        return self._along(xx, yy) >= -depth

    def _along(self, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        return (xx - self.hem_point[0]) * self.down[0] + (yy - self.hem_point[1]) * self.down[1]


def _leg_point(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, t: float) -> np.ndarray:
    """The point at fraction `t` of the leg's length (hip → knee → ankle)."""
    l1, l2 = float(np.linalg.norm(knee - hip)), float(np.linalg.norm(ankle - knee))
    s = t * (l1 + l2)
    if s <= l1 or l2 < 1e-9:
        return hip + (knee - hip) * (s / max(l1, 1e-9))
    return knee + (ankle - knee) * ((s - l1) / l2)


def _sample(fig: np.ndarray, pts: np.ndarray) -> np.ndarray:
    h, w = fig.shape
    ix = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    iy = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    return fig[iy, ix] & inside


def _run_outwards(fig: np.ndarray, start: np.ndarray, direction: np.ndarray, limit: float) -> float:
    """How far (pixels) the figure continues from `start` along `direction`, up to `limit`."""
    ts = np.arange(0.0, limit + 1.0, 1.0)
    on = _sample(fig, start[None] + ts[:, None] * direction[None])
    off = np.nonzero(~on)[0]
    return float(ts[off[0]]) if len(off) else float(limit)


def find_garment(
    fig: np.ndarray, rgb: np.ndarray, legs: dict[str, np.ndarray | None], leg_radius: float
) -> Garment | None:
    """The garment spanning both legs in the bool figure mask `fig` (colours `rgb`), or None.

    `legs` holds the work-frame key points l_hip, l_knee, l_ankle, r_hip, r_knee, r_ankle; `leg_radius` is a thigh's
    half-width in the same frame. Walking down both legs together, the garment goes on while the figure is
    continuous between the legs *and* keeps the colour it has just below the hips (a skirt ends at its hem, where
    stockings or skin begin). Fabric of one colour down to the ankles is either trousers or a floor-length dress:
    a dress is told by its flare (it reaches well past both legs' outer edges) or by fabric between legs that are
    apart; trousers with the legs together have neither, and are left to the legs.
    """
    names = ("l_hip", "l_knee", "l_ankle", "r_hip", "r_knee", "r_ankle")
    if any(legs.get(n) is None for n in names):
        return None
    lh, lk, la, rh, rk, ra = (np.asarray(legs[n], np.float64) for n in names)
    r = max(leg_radius, 1.5)
    colours = rgb.astype(np.float32)
    ts = np.linspace(0.05, 1.0, N_STEPS)
    top_colour: np.ndarray | None = None
    hem_k = -1
    flare = 0
    apart_filled = 0
    for k, t in enumerate(ts):
        left, right = _leg_point(lh, lk, la, t), _leg_point(rh, rk, ra, t)
        across = left - right
        d = float(np.linalg.norm(across))
        u = across / max(d, 1e-9)
        between = np.linspace(right, left, max(5, int(d)))
        on = _sample(fig, between)
        if on.mean() < 0.9:
            break  # backdrop between the legs: whatever spans them ends above
        ix = np.clip(np.round(between[:, 0]).astype(int), 0, fig.shape[1] - 1)
        iy = np.clip(np.round(between[:, 1]).astype(int), 0, fig.shape[0] - 1)
        row = colours[iy, ix]
        if top_colour is None:
            top_colour = np.median(row, axis=0)
        # the row's median colour: outlines and folds of line art do not move it, a hem does
        if float(np.linalg.norm(np.median(row, axis=0) - top_colour)) > 60.0:
            break  # the hem: below it the legs (skin, stockings) or another garment
        hem_k = k
        if d > 2.4 * r:
            apart_filled += 1
        reach = min(_run_outwards(fig, left, u, 4.0 * r), _run_outwards(fig, right, -u, 4.0 * r))
        if t >= 0.6 and reach > 1.6 * r:
            flare += 1
    if hem_k < 0:
        return None
    hem = float(ts[hem_k])
    if hem < MIN_HEM:
        return None
    if hem < 0.8 and top_colour is not None:
        # a real hem: below it, down the legs themselves, the colour is no longer the garment's (trousers with
        # a crease or a shadow between the legs keep their colour on the legs)
        below = [t for t in ts if hem + 0.05 <= t <= hem + 0.3]
        legs_below = np.array(
            [_leg_point(h, kn, an, t) for t in below for h, kn, an in ((lh, lk, la), (rh, rk, ra))]
        ).reshape(-1, 2)
        if len(legs_below):
            ix = np.clip(np.round(legs_below[:, 0]).astype(int), 0, fig.shape[1] - 1)
            iy = np.clip(np.round(legs_below[:, 1]).astype(int), 0, fig.shape[0] - 1)
            if float(np.linalg.norm(np.median(colours[iy, ix], axis=0) - top_colour)) < 60.0:
                return None
    if hem >= 0.8 and flare < 3 and apart_filled < 3:
        return None  # one colour (nearly) down to the ankles, no flare, legs together: trousers
    hem_point = (_leg_point(lh, lk, la, hem) + _leg_point(rh, rk, ra, hem)) / 2.0
    down = hem_point - (lh + rh) / 2.0
    down /= max(float(np.linalg.norm(down)), 1e-9)
    return Garment(hem=hem, hem_point=hem_point, down=down, margin=0.6 * r)
