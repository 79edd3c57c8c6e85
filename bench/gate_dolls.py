"""Paper dolls: synthetic clip-art figures re-posed correctly by construction, for the gate's publishable side.

The warp's outputs on the samples and calibration figures are (today) almost all broken, so they cannot tell the
gate what a good output looks like. A doll drawn from a skeleton can: the same doll drawn in its target pose is a
perfect re-pose (same garment, print, head and proportions; a dress stays one piece). Dolls vary what the gate must
be robust to — garments (trousers, shorts, a dress spanning both legs), an asymmetric chest print, colours, mascot
proportions (a big head), outlines or none. Every doll image is looked at by eye like any other labelled output.

    render(doll, skeleton) -> PIL image
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from gpu_worker.pose.skeleton import (
    HEAD,
    L_ANKLE,
    L_ELBOW,
    L_EYE,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    R_ANKLE,
    R_ELBOW,
    R_EYE,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    Skeleton,
)

Colour = tuple[int, int, int]
OUTLINE: Colour = (30, 30, 30)
LIMBS = (L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE)


@dataclass(frozen=True)
class Doll:
    name: str
    skin: Colour
    hair: Colour
    top: Colour
    bottom: Colour
    shoes: Colour
    garment: str  # "trousers" | "shorts" | "dress"
    print_colour: Colour | None  # an asymmetric chest print (a flag and a bar), None for a plain top
    head_scale: float = 1.0  # > 1: mascot proportions
    outline: bool = True


DOLLS: tuple[Doll, ...] = (
    Doll("red-dress", (240, 200, 170), (90, 50, 20), (200, 30, 40), (200, 30, 40), (40, 40, 40), "dress", None),
    Doll("blue-jeans", (200, 150, 110), (20, 20, 20), (250, 250, 250), (40, 70, 150), (120, 60, 20), "trousers",
         (220, 40, 40)),
    Doll("green-kid", (250, 210, 180), (240, 200, 40), (40, 160, 60), (60, 60, 200), (250, 250, 250), "shorts",
         (250, 220, 0), head_scale=1.5),
    Doll("yellow-coat", (150, 100, 70), (40, 30, 20), (230, 190, 30), (230, 190, 30), (30, 30, 30), "dress",
         (30, 90, 200), outline=False),
    Doll("purple-suit", (240, 210, 190), (160, 80, 30), (120, 40, 150), (50, 50, 50), (20, 20, 20), "trousers",
         None, outline=False),
    Doll("orange-mascot", (250, 220, 200), (200, 40, 40), (250, 130, 20), (30, 120, 200), (40, 40, 40), "shorts",
         (255, 255, 255), head_scale=1.8),
    Doll("pink-skirt", (230, 190, 160), (60, 40, 30), (250, 250, 250), (230, 90, 150), (230, 90, 150), "dress",
         (40, 40, 40)),
    Doll("grey-hoodie", (180, 130, 90), (30, 30, 30), (130, 130, 140), (30, 40, 70), (250, 250, 250), "trousers",
         (250, 120, 0)),
    Doll("teal-robe", (245, 215, 190), (200, 160, 60), (20, 140, 140), (20, 140, 140), (90, 50, 20), "dress", None,
         outline=False),
    Doll("navy-shorts", (120, 80, 50), (20, 20, 20), (30, 40, 110), (240, 230, 200), (200, 30, 30), "shorts",
         (250, 250, 250)),
)  # fmt: skip


def _p(sk: Skeleton, j: int) -> np.ndarray:
    return sk.points[j]


def _stroke(d: ImageDraw.ImageDraw, pts: list[np.ndarray], colour: Colour, width: float, outline: bool) -> None:
    """A thick limb with round ends, with a dark outline under it when `outline`."""
    for fill, w in ((OUTLINE, width + 6), (colour, width)) if outline else ((colour, width),):
        xy = [tuple(map(float, p)) for p in pts]
        d.line(xy, fill=fill, width=max(1, round(w)), joint="curve")
        for x, y in xy:
            d.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=fill)


def _poly(d: ImageDraw.ImageDraw, pts: list[np.ndarray], colour: Colour, outline: bool) -> None:
    xy = [tuple(map(float, p)) for p in pts]
    d.polygon(xy, fill=colour, outline=OUTLINE if outline else None, width=3 if outline else 1)


def render(doll: Doll, sk: Skeleton, background: Colour = (255, 255, 255)) -> Image.Image:
    """`doll` drawn in the pose of `sk` on a `sk.width` × `sk.height` canvas. ValueError if a limb joint is unplaced."""
    if not sk.visible()[list(LIMBS)].all():
        raise ValueError("a paper doll needs every shoulder, elbow, wrist, hip, knee and ankle")
    im = Image.new("RGB", (sk.width, sk.height), background)
    d = ImageDraw.Draw(im)
    sw = float(np.hypot(*(_p(sk, L_SHOULDER) - _p(sk, R_SHOULDER))))
    limb = 0.32 * sw
    ls, rs, lh, rh = (_p(sk, j) for j in (L_SHOULDER, R_SHOULDER, L_HIP, R_HIP))
    mid_s, mid_h = (ls + rs) / 2, (lh + rh) / 2
    across = (ls - rs) / max(sw, 1e-6)
    ol = doll.outline

    # 1. legs and shoes (under the garment)
    for hip, knee, ankle in ((lh, _p(sk, L_KNEE), _p(sk, L_ANKLE)), (rh, _p(sk, R_KNEE), _p(sk, R_ANKLE))):
        leg = doll.bottom if doll.garment == "trousers" else doll.skin
        _stroke(d, [hip, knee, ankle], leg, limb, ol)
        if doll.garment == "shorts":
            _stroke(d, [hip, hip + 0.45 * (knee - hip)], doll.bottom, limb * 1.25, ol)
        foot = ankle + np.array([0.0, 0.12 * sw])
        d.ellipse([foot[0] - 0.3 * sw, foot[1] - 0.12 * sw, foot[0] + 0.3 * sw, foot[1] + 0.12 * sw], fill=doll.shoes)
    # 2. a dress or coat: one piece from the waist to below the knees, following both legs
    if doll.garment == "dress":
        lk, rk, la, ra = (_p(sk, j) for j in (L_KNEE, R_KNEE, L_ANKLE, R_ANKLE))
        hem_l, hem_r = lk + 0.45 * (la - lk), rk + 0.45 * (ra - rk)
        flare = 0.35 * sw * (hem_l - hem_r) / max(float(np.hypot(*(hem_l - hem_r))), 1e-6)
        _poly(d, [lh + 0.25 * sw * across, hem_l + flare, hem_r - flare, rh - 0.25 * sw * across], doll.bottom, ol)
    # 3. torso, then the chest print (asymmetric: a flag on the figure's right, a bar on its left)
    torso = [ls + 0.12 * sw * across, lh + 0.1 * sw * across, rh - 0.1 * sw * across, rs - 0.12 * sw * across]
    _poly(d, torso, doll.top, ol)
    if doll.print_colour is not None:
        down = mid_h - mid_s
        c = mid_s + 0.33 * down
        flag = [c - 0.28 * sw * across, c - 0.05 * sw * across, c - 0.28 * sw * across + 0.25 * down]
        d.polygon([tuple(map(float, p)) for p in flag], fill=doll.print_colour)
        bar = [c + 0.08 * sw * across, c + 0.3 * sw * across, c + 0.3 * sw * across + 0.08 * down,
               c + 0.08 * sw * across + 0.08 * down]  # fmt: skip
        d.polygon([tuple(map(float, p)) for p in bar], fill=doll.print_colour)
    # 4. head: face, hair with a side parting, eyes
    head_pts = [j for j in HEAD if sk.visible()[j]]
    hc = sk.points[head_pts].mean(axis=0) if head_pts else mid_s + np.array([0.0, -0.6 * sw])
    r = 0.42 * sw * doll.head_scale
    _stroke(d, [mid_s, mid_s + 0.5 * (hc - mid_s)], doll.skin, 0.3 * sw, ol)  # neck
    d.ellipse([hc[0] - r, hc[1] - r * 1.1, hc[0] + r, hc[1] + r * 1.1], fill=doll.skin,
              outline=OUTLINE if ol else None, width=3)  # fmt: skip
    d.pieslice([hc[0] - r, hc[1] - r * 1.15, hc[0] + r, hc[1] + r * 0.6], 180, 330, fill=doll.hair)
    for j in (L_EYE, R_EYE):
        if sk.visible()[j]:
            e = sk.points[j]
            d.ellipse([e[0] - 0.06 * r, e[1] - 0.08 * r, e[0] + 0.06 * r, e[1] + 0.08 * r], fill=OUTLINE)
    # 5. arms over everything: sleeve, forearm, hand
    for s, e, w in ((ls, _p(sk, L_ELBOW), _p(sk, L_WRIST)), (rs, _p(sk, R_ELBOW), _p(sk, R_WRIST))):
        _stroke(d, [s, e], doll.top, limb * 0.95, ol)
        _stroke(d, [e, w], doll.skin, limb * 0.75, ol)
        d.ellipse([w[0] - 0.16 * sw, w[1] - 0.14 * sw, w[0] + 0.16 * sw, w[1] + 0.18 * sw], fill=doll.skin,
                  outline=OUTLINE if ol else None)  # fmt: skip
    return im
