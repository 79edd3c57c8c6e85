"""Cut the figure in a photo into rigid body parts along its skeleton (the "rig" the warp backend moves).

A part is one bone of the skeleton with the figure pixels nearest to it: head, torso, upper/lower arms, hands, thighs,
shins, feet. Every part owns

- `alpha`: which source pixels it carries (figure mask × its share of the figure), plus a round *joint cap* around each
  joint it shares with its parent or children, so that when a child turns about the joint the wedge that opens on the
  outer side of the bend is still covered (the same trick as paper puppets with round joints);
- `footprint`: where the part *is*, including pixels another part hides in the source (an arm lying on the torso hides
  torso pixels). After the move, footprint not covered by any part is a hole inside the figure and gets inpainted.

Everything here depends only on the source photo and skeleton, so it is built once per photo and reused for every
target pose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from gpu_worker.generate.garment import Garment, find_garment
from gpu_worker.pose.skeleton import (
    L_ANKLE,
    L_EAR,
    L_ELBOW,
    L_EYE,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    NOSE,
    R_ANKLE,
    R_EAR,
    R_ELBOW,
    R_EYE,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    Skeleton,
)

# Labelling runs on a copy whose long side is at most this (part boundaries do not need full resolution; the alphas
# are upsampled smoothly and multiplied by the full-resolution figure mask).
WORK_SIZE = 480

TORSO = "torso"
# Normalised distance (× the part's half-width) beyond which a figure pixel belongs to no body part.
FAR_COST = 2.5
# How much thicker (× radius) a limb is at its body end than in its middle.
TAPER = {"upper_arm": 0.5, "thigh": 0.3}


@dataclass(frozen=True)
class PartSpec:
    """One rigid part: a bone from `start` to `end` (named key points, see `key_points`)."""

    name: str
    start: str
    end: str
    parent: str | None
    # Half-width of the limb as a fraction of the shoulder width (human proportions; refined from the mask).
    radius: float


# Order = the kinematic order (parents before children).
PARTS: tuple[PartSpec, ...] = (
    PartSpec(TORSO, "neck", "mid_hip", None, 0.55),
    PartSpec("head", "neck", "head", TORSO, 0.45),
    PartSpec("l_upper_arm", "l_shoulder", "l_elbow", TORSO, 0.17),
    PartSpec("l_forearm", "l_elbow", "l_wrist", "l_upper_arm", 0.14),
    PartSpec("l_hand", "l_wrist", "l_hand", "l_forearm", 0.15),
    PartSpec("r_upper_arm", "r_shoulder", "r_elbow", TORSO, 0.17),
    PartSpec("r_forearm", "r_elbow", "r_wrist", "r_upper_arm", 0.14),
    PartSpec("r_hand", "r_wrist", "r_hand", "r_forearm", 0.15),
    PartSpec("l_thigh", "l_hip", "l_knee", TORSO, 0.24),
    PartSpec("l_shin", "l_knee", "l_ankle", "l_thigh", 0.17),
    PartSpec("l_foot", "l_ankle", "l_toe", "l_shin", 0.14),
    PartSpec("r_thigh", "r_hip", "r_knee", TORSO, 0.24),
    PartSpec("r_shin", "r_knee", "r_ankle", "r_thigh", 0.17),
    PartSpec("r_foot", "r_ankle", "r_toe", "r_shin", 0.14),
)
PART_BY_NAME: dict[str, PartSpec] = {p.name: p for p in PARTS}
# A garment spanning both legs: not a bone, one smooth piece driven by both legs and the hips (see garment.py).
GARMENT_SPEC = PartSpec("garment", "mid_hip", "mid_hip", TORSO, 0.55)
LEG_PARTS = frozenset({"l_thigh", "l_shin", "r_thigh", "r_shin"})
LEG_KEYS = ("l_hip", "l_knee", "l_ankle", "r_hip", "r_knee", "r_ankle")
ARM_PARTS = frozenset(p.name for p in PARTS if "arm" in p.name or "hand" in p.name)


def key_points(sk: Skeleton) -> dict[str, np.ndarray | None]:
    """Named points the parts hang from; None where the skeleton does not have them."""
    p, v = sk.points, sk.visible()

    def pt(i: int) -> np.ndarray | None:
        return p[i].copy() if v[i] else None

    def mean(idx: list[int]) -> np.ndarray | None:
        ok = [i for i in idx if v[i]]
        return p[ok].mean(axis=0) if ok else None

    kp: dict[str, np.ndarray | None] = {
        "l_shoulder": pt(L_SHOULDER), "r_shoulder": pt(R_SHOULDER), "l_elbow": pt(L_ELBOW), "r_elbow": pt(R_ELBOW),
        "l_wrist": pt(L_WRIST), "r_wrist": pt(R_WRIST), "l_hip": pt(L_HIP), "r_hip": pt(R_HIP),
        "l_knee": pt(L_KNEE), "r_knee": pt(R_KNEE), "l_ankle": pt(L_ANKLE), "r_ankle": pt(R_ANKLE),
    }  # fmt: skip
    kp["neck"] = mean([L_SHOULDER, R_SHOULDER]) if v[L_SHOULDER] and v[R_SHOULDER] else None
    kp["mid_hip"] = mean([L_HIP, R_HIP]) if v[L_HIP] and v[R_HIP] else None
    kp["head"] = mean([NOSE, L_EYE, R_EYE, L_EAR, R_EAR])
    # Hand tip: the mean of pinky, index and thumb bases; foot tip: the toe (foot index), else the heel.
    for side, (wrist, elbow, fingers, toe, heel, ankle) in {
        "l": (L_WRIST, L_ELBOW, [17, 19, 21], 31, 29, L_ANKLE),
        "r": (R_WRIST, R_ELBOW, [18, 20, 22], 32, 30, R_ANKLE),
    }.items():
        tip = mean(fingers)
        if tip is None and v[wrist] and v[elbow]:
            tip = p[wrist] + 0.35 * (p[wrist] - p[elbow])
        if tip is not None and v[wrist]:
            # MediaPipe's finger landmarks are the knuckles: the hand reaches about 1.6× further.
            tip = p[wrist] + 1.6 * (tip - p[wrist])
        kp[f"{side}_hand"] = tip
        kp[f"{side}_toe"] = pt(toe) if v[toe] else pt(heel) if v[heel] and v[ankle] else None
    return kp


@dataclass
class Part:
    spec: PartSpec
    start: np.ndarray  # source key points, full-resolution pixels
    end: np.ndarray
    radius: float  # half-width in full-resolution pixels
    alpha: np.ndarray  # (h, w) float32 0..1 in the crop `box`
    rgba: np.ndarray  # (h, w, 4) float32: the crop's colours premultiplied by `alpha`, and `alpha`
    footprint: np.ndarray  # (h, w) float32 0..1 in the crop `box`
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the crops in the source frame
    hull: np.ndarray | None = None  # convex hull of the opaque pixels, source frame (filled in on first use)


@dataclass
class Rig:
    """The source photo cut into parts; built once per photo by `build_rig`."""

    image: np.ndarray  # (H, W, 3) float32 0..255
    image_u8: np.ndarray  # the same, as the photo's own uint8 pixels
    mask: np.ndarray  # (H, W) float32 0..1 figure mask
    skeleton: Skeleton
    key_points: dict[str, np.ndarray | None]
    parts: dict[str, Part]
    shoulder_width: float
    # A garment spanning both legs (dress, skirt, coat), deformed as one smooth piece; None when there is none.
    garment: Part | None = None
    garment_hem: float = 0.0  # how far down the legs it reaches (hip → ankle fraction; ≥ 0.8 is floor length)
    # Share of the figure mask far outside every part (FAR_COST): big objects attached to the figure, not a body.
    foreign_share: float = 0.0
    # How far (× the hand's length) something held sticks out of each hand ("l"/"r"): a wand, a club, a tool.
    held_prop_reach: dict[str, float] = field(default_factory=dict)
    background: np.ndarray | None = None  # (H, W, 3) float32: the photo with the figure removed (set by the backend)
    background_u8: np.ndarray | None = None  # the same, rounded to the output's uint8

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


# --------------------------------------------------------------------------------------------------------------------
# figure mask


def border_background(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Median colour of the image border and the share of border pixels close to it (1.0 = a plain studio backdrop)."""
    h, w = rgb.shape[:2]
    b = max(2, min(h, w) // 100)
    border = np.concatenate(
        [rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3), rgb[:, :b].reshape(-1, 3), rgb[:, -b:].reshape(-1, 3)]
    ).astype(np.float32)
    med = np.median(border, axis=0)
    plain = float((np.linalg.norm(border - med, axis=1) < 24.0).mean())
    return med, plain


def figure_mask(rgb: np.ndarray, sk: Skeleton, shoulder_width: float) -> np.ndarray:
    """(H, W) float32 0..1: the figure.

    On a plain backdrop (most product shots) the colour difference to the backdrop is far sharper than the detector's
    256×256 segmentation, and it keeps what the person holds (a handbag); only the pieces connected to the skeleton
    are kept, so other objects on the backdrop stay out (a floor shadow under the feet does not). On a busy
    background the detector's mask is all we have.
    """
    h, w = rgb.shape[:2]
    detector = None if sk.mask is None else np.clip(sk.mask.astype(np.float32), 0.0, 1.0)
    bg, plain = border_background(rgb)
    if plain < 0.85:
        if detector is not None:
            return cv2.GaussianBlur(detector, (0, 0), 0.7)
        return skeleton_region(sk, (w, h), shoulder_width, 1.0).astype(np.float32)
    dist = np.linalg.norm(rgb.astype(np.float32) - bg, axis=2)
    # soft edge: anti-aliased outlines keep their partial coverage
    colour = np.clip((dist - 12.0) / 28.0, 0.0, 1.0).astype(np.float32)
    colour[floor_shadow(rgb, bg, sk, shoulder_width)] = 0.0
    # keep only the connected pieces that touch the skeleton itself. Not cut to the skeleton's neighbourhood: the
    # detector sometimes places the knees far too high, and the legs below them must not vanish.
    solid = (colour > 0.5).astype(np.uint8)
    n, labels = cv2.connectedComponents(solid, connectivity=8)
    core = skeleton_region(sk, (w, h), shoulder_width, 0.5)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[core & (solid > 0)])] = True
    keep[0] = False
    solid_keep = keep[labels]
    # fill holes (white shirt, highlights) inside the kept pieces
    filled = _fill_holes(solid_keep, detector, shoulder_width)
    soft = np.where(filled & ~solid_keep, 1.0, colour * cv2.dilate(solid_keep.astype(np.uint8), np.ones((3, 3))))
    # shoes the colour of the backdrop (white sneakers on white) are invisible to the colour difference: left out,
    # they stay behind as a ghost copy when the feet move. The skeleton says where the feet are.
    shoes = backdrop_coloured_shoes(rgb, bg, filled, sk, shoulder_width)
    soft = np.where(shoes, 1.0, soft)
    return soft.astype(np.float32)


def backdrop_coloured_shoes(
    rgb: np.ndarray, bg: np.ndarray, figure: np.ndarray, sk: Skeleton, shoulder_width: float
) -> np.ndarray:
    """(H, W) bool: shoes that the colour difference to the backdrop misses, to add to the figure mask.

    Only for a foot whose toe the mask mostly misses (a dark shoe is already in it).
    The shoe is then the convex hull of what *is* visible in a generous foot envelope — the leg's end and the shoe's
    dark outline — without the floor shadow (BlazePose puts heel and toe on the top of a shoe, so the envelope
    reaches down to the sole).
    """
    h, w = figure.shape
    out = np.zeros((h, w), bool)
    p, v = sk.points, sk.visible()
    down = _down_direction(sk)
    grow = max(1, int(round(0.12 * shoulder_width)))
    envelopes = []
    for ankle, heel, toe in ((27, 29, 31), (28, 30, 32)):
        if not (v[ankle] and v[heel] and v[toe]):
            continue
        a, hl, t = p[ankle], p[heel], p[toe]
        core = np.zeros((h, w), np.uint8)
        cv2.circle(core, (int(round(t[0])), int(round(t[1]))), max(2, int(round(0.06 * shoulder_width))), 1, -1)
        if core.sum() < 10 or figure[core > 0].mean() >= 0.5:
            continue
        t = t + 0.3 * (t - hl)
        sole = 0.35 * shoulder_width * down
        env = np.zeros((h, w), np.uint8)
        hull = cv2.convexHull(np.round(np.array([a, hl, t, hl + sole, t + sole])).astype(np.int32))
        cv2.fillConvexPoly(env, hull, 1)
        grown = cv2.dilate(env, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
        envelopes.append(grown > 0)
    if not envelopes:
        return out
    # the shadow and outline colours only where a shoe can be (the whole frame costs a tenth of a second at 1 MP)
    ys, xs = np.nonzero(np.logical_or.reduce(envelopes))
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    lum = rgb[box].astype(np.float32).mean(axis=2)
    shadow = np.zeros((h, w), bool)
    shadow[box] = floor_shadow_grey(rgb[box], bg)
    outline = np.zeros((h, w), bool)
    outline[box] = (lum < 0.45 * float(np.mean(bg))) & ~shadow[box]
    for envelope in envelopes:
        ys, xs = np.nonzero(envelope & (figure | outline))
        if len(xs) < 3:
            continue
        shoe = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(shoe, cv2.convexHull(np.stack([xs, ys], axis=1).astype(np.int32)), 1)
        out |= (shoe > 0) & envelope & ~shadow
    return out


def _down_direction(sk: Skeleton) -> np.ndarray:
    """Unit vector from the shoulders' midpoint to the hips' (image down when the hips are not visible)."""
    v = sk.visible()
    if v[L_SHOULDER] and v[R_SHOULDER] and v[L_HIP] and v[R_HIP]:
        d = (sk.points[L_HIP] + sk.points[R_HIP] - sk.points[L_SHOULDER] - sk.points[R_SHOULDER]) / 2.0
        n = float(np.linalg.norm(d))
        if n > 1e-6:
            return d / n
    return np.array([0.0, 1.0])


def floor_shadow_grey(rgb: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """(H, W) bool: grey pixels darker than the backdrop (what a cast shadow on a studio floor looks like)."""
    px = rgb.astype(np.float32)
    lum = px.mean(axis=2)
    chroma = px.max(axis=2) - px.min(axis=2)
    bg_lum = float(np.mean(bg))
    return (chroma < 0.1 * np.maximum(lum, 1.0) + 6.0) & (lum < 0.93 * bg_lum) & (lum > 0.3 * bg_lum)


def floor_shadow(rgb: np.ndarray, bg: np.ndarray, sk: Skeleton, shoulder_width: float) -> np.ndarray:
    """(H, W) bool: a cast shadow on the floor — grey, darker than the backdrop, at foot level, off the feet.

    Left in, it is cut into pieces with the feet and flies around with them.
    """
    h, w = rgb.shape[:2]
    feet = [i for i in (27, 28, 29, 30, 31, 32) if sk.visible()[i]]
    if not feet:
        return np.zeros((h, w), bool)
    top = int(max(0, sk.points[feet, 1].min() - 0.1 * shoulder_width))
    out = np.zeros((h, w), bool)
    band = rgb[top:].astype(np.float32)
    lum = band.mean(axis=2)
    chroma = band.max(axis=2) - band.min(axis=2)
    bg_lum = float(np.mean(bg))
    grey = (chroma < 0.1 * np.maximum(lum, 1.0) + 6.0) & (lum < 0.93 * bg_lum) & (lum > 0.3 * bg_lum)
    near_feet = np.zeros((h, w), np.uint8)
    kp = key_points(sk)
    for name in ("l_shin", "r_shin", "l_foot", "r_foot"):
        spec = PART_BY_NAME[name]
        a, b = kp.get(spec.start), kp.get(spec.end)
        if a is not None and b is not None:
            r = max(2, int(round(spec.radius * shoulder_width)))
            cv2.line(near_feet, tuple(int(round(c)) for c in a), tuple(int(round(c)) for c in b), 1, thickness=2 * r)
    out[top:] = grey & (near_feet[top:] == 0)
    return out


def _fill_holes(m: np.ndarray, detector: np.ndarray | None, shoulder_width: float) -> np.ndarray:
    """`m` with its enclosed holes filled — the ones that are part of the person.

    A backdrop-coloured region enclosed by the figure is either the person (a white shirt, a highlight) or the
    backdrop seen through a loop (the gap between a hand on the hip and the waist). The detector's mask tells them
    apart; without it (a hand-placed skeleton on line art) every hole is filled.
    """
    h, w = m.shape
    pad = np.pad((~m).astype(np.uint8), 1, constant_values=1)  # a frame of background around the picture
    ff = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(pad, ff, (0, 0), 2)
    holes = pad[1:-1, 1:-1] == 1
    if not holes.any():
        return m
    n, lab, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    keep = np.zeros(n, bool)
    small = (0.25 * shoulder_width) ** 2
    if detector is not None:
        sums = np.bincount(lab.ravel(), weights=detector.ravel(), minlength=n)
        keep = sums / np.maximum(stats[:, cv2.CC_STAT_AREA], 1) > 0.5
    else:
        # no detector mask (a skeleton placed by hand, typically on line art the detector cannot see): the white
        # inside a drawn dress is the dress. Every enclosed region is the figure; backdrop seen through an arm
        # loop then travels with the body, which on a plain backdrop is the backdrop's own colour.
        keep[:] = True
    keep |= stats[:, cv2.CC_STAT_AREA] < small
    keep[0] = False
    return m | keep[lab]


def skeleton_region(sk: Skeleton, size: tuple[int, int], shoulder_width: float, scale: float) -> np.ndarray:
    """(H, W) bool: union of the part capsules with radii × `scale` (where a figure can plausibly be)."""
    w, h = size
    out = np.zeros((h, w), np.uint8)
    kp = key_points(sk)
    for spec in PARTS:
        a, b = kp.get(spec.start), kp.get(spec.end)
        if a is None or b is None:
            continue
        r = max(2, int(round(spec.radius * shoulder_width * scale)))
        if spec.name == TORSO:
            corners = [kp[k] for k in ("l_shoulder", "r_shoulder", "r_hip", "l_hip")]
            if all(c is not None for c in corners):
                cv2.fillConvexPoly(out, np.round(np.array(corners)).astype(np.int32), 1)
            r = max(2, int(round(0.2 * shoulder_width * scale)))
        if spec.name == "head":
            cv2.circle(out, tuple(int(round(c)) for c in b), max(2, int(round(0.6 * shoulder_width * scale))), 1, -1)
        cv2.line(out, tuple(int(round(c)) for c in a), tuple(int(round(c)) for c in b), 1, thickness=2 * r)
    return out > 0


def shoulder_width_of(sk: Skeleton) -> float:
    kp = key_points(sk)
    if kp["l_shoulder"] is not None and kp["r_shoulder"] is not None:
        sw = float(np.linalg.norm(kp["l_shoulder"] - kp["r_shoulder"]))
        if kp["neck"] is not None and kp["mid_hip"] is not None:
            # side views squeeze the shoulders; the torso height is a steadier body scale
            sw = max(sw, 0.55 * float(np.linalg.norm(kp["neck"] - kp["mid_hip"])))
        return max(sw, 4.0)
    x0, y0, x1, y1 = sk.bbox()
    return max(4.0, 0.25 * max(x1 - x0, y1 - y0))


# --------------------------------------------------------------------------------------------------------------------
# labelling


def _segment_distance(
    xx: np.ndarray, yy: np.ndarray, a: np.ndarray, b: np.ndarray, *, with_t: bool = False
) -> Any:
    """Distance of every grid point to the segment a–b (and, with `with_t`, the clamped position along it, 0..1)."""
    # float32 end points: float64 ones would promote every full-grid temporary to float64 (twice the memory traffic)
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    d = b - a
    ll = float(d @ d)
    if ll < 1e-9:
        dist = np.hypot(xx - a[0], yy - a[1])
        return (dist, np.zeros_like(dist)) if with_t else dist
    t = np.clip(((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / ll, 0.0, 1.0)
    dist = np.hypot(xx - (a[0] + t * d[0]), yy - (a[1] + t * d[1]))
    return (dist, t) if with_t else dist


def _held_prop_reach(
    label: np.ndarray, far: np.ndarray, names: list[str], bones: dict[str, tuple[np.ndarray, np.ndarray, float]]
) -> dict[str, float]:
    """Per hand, how far (× the hand's length, from the wrist) the figure pixels far outside every part that its arm
    carries reach: a held wand or club sticks out well past the fingers."""
    out: dict[str, float] = {}
    for side in ("l", "r"):
        hand = f"{side}_hand"
        if hand not in bones:
            continue
        arm = [names.index(n) for n in (f"{side}_forearm", hand) if n in names]
        ys, xs = np.nonzero(far & np.isin(label, arm))
        if len(xs) == 0:
            out[side] = 0.0
            continue
        wrist, tip, _ = bones[hand]
        length = max(float(np.linalg.norm(tip - wrist)), 1.0)
        out[side] = float(np.max(np.hypot(xs - wrist[0], ys - wrist[1]))) / length
    return out


def _reattach_orphans(label: np.ndarray, cost: np.ndarray, n_parts: int) -> np.ndarray:
    """Give every piece of a part's label that does not touch the part's own bone to the part it is attached to.

    Spread fingertips beyond the hand's capsule are nearer (in normalised distance) to a thigh than to the hand;
    left so, they would stay behind, floating, when the hand moves.
    """
    out = label.copy()
    for k in range(n_parts):
        own = (label == k).astype(np.uint8)
        if not own.any():
            continue
        n, comp = cv2.connectedComponents(own, connectivity=8)
        if n <= 2:
            continue
        anchored = np.zeros(n, bool)
        anchored[np.unique(comp[(own > 0) & (cost[k] <= 1.0)])] = True
        anchored[0] = True
        for c in np.nonzero(~anchored)[0]:
            piece = comp == c
            ring = cv2.dilate(piece.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~piece
            neighbours = label[ring]
            neighbours = neighbours[(neighbours >= 0) & (neighbours != k)]
            if len(neighbours):
                out[piece] = np.bincount(neighbours).argmax()
    return out


def _claim_hand_colour(
    label: np.ndarray,
    cost: np.ndarray,
    names: list[str],
    bones: dict[str, tuple[np.ndarray, np.ndarray, float]],
    rgb: np.ndarray,
) -> np.ndarray:
    """Give a hand the pixels of its own colour next to it that the geometry gave to the body.

    A hand resting on the belly has fingers outside the hand's capsule (BlazePose's finger landmarks are rough);
    labelled torso, they stay behind on the jacket as a ghost hand and the inpainting smears their skin colour over
    the hole the moved hand leaves. Pixels near the hand whose colour is much closer to the hand's (median of its
    core) than to the part they were given to, and connected to the hand, are the hand.
    """
    out = label.copy()
    excluded = {names.index(n) for n in names if n == "head"}
    for side in ("l", "r"):
        hand = f"{side}_hand"
        if hand not in names:
            continue
        hk = names.index(hand)
        core = (label == hk) & (cost[hk] <= 0.8)
        if core.sum() < 5:
            continue
        hand_col = np.median(rgb[core], axis=0)
        a, b, r = bones[hand]
        reach = float(np.linalg.norm(b - a)) + r
        yy, xx = np.mgrid[0 : label.shape[0], 0 : label.shape[1]].astype(np.float32)
        near = (_segment_distance(xx, yy, a, b) <= reach) & (label >= 0) & (label != hk)
        other_arm = {names.index(n) for n in names if n.startswith("lr"[side == "l"] + "_") and n in ARM_PARTS}
        # nor its own forearm: skin of the forearm taken by the hand would bend with the wrist
        own_forearm = {names.index(n) for n in names if n == f"{side}_forearm"}
        near &= ~np.isin(label, list(excluded | other_arm | own_forearm))
        if not near.any():
            continue
        to_hand = np.linalg.norm(rgb - hand_col, axis=2)
        to_own = np.full(label.shape, np.inf, np.float32)
        # the same in chromaticity: the shaded side of a drawn hand is far darker than its median but of the same
        # hue; it counts as the hand's colour while no darker than 0.6 × the hand (dark tights have a skin hue)
        chroma = rgb / (rgb.sum(axis=2, keepdims=True) + 1.0) * 300.0
        hand_chroma = hand_col / (hand_col.sum() + 1.0) * 300.0
        hue_to_hand = np.linalg.norm(chroma - hand_chroma, axis=2)
        hue_to_own = np.full(label.shape, np.inf, np.float32)
        bright = rgb.mean(axis=2) >= 0.6 * float(hand_col.mean())
        # and as colourful as skin: the pale anti-aliased rim of any part against a white backdrop has a skin-like
        # hue too, but washed out towards grey
        bright &= np.linalg.norm(chroma - 100.0, axis=2) > 0.6 * float(np.linalg.norm(hand_chroma - 100.0))
        for k in np.unique(label[near]):
            own_px = (label == k) & (cost[k] <= 1.0)
            if own_px.sum() < 5:
                continue
            own_col = np.median(rgb[own_px], axis=0)
            here = near & (label == k)
            to_own = np.where(here, np.linalg.norm(rgb - own_col, axis=2), to_own)
            own_chroma = own_col / (own_col.sum() + 1.0) * 300.0
            hue_to_own = np.where(here, np.linalg.norm(chroma - own_chroma, axis=2), hue_to_own)
        claim = near & (to_hand < 45.0) & (to_hand < 0.5 * to_own)
        claim |= near & bright & (hue_to_hand < 25.0) & (hue_to_hand < 0.4 * hue_to_own)
        # attached to the hand across the drawn outlines between the fingers (a 2-px bridge at work resolution)
        bridged = cv2.dilate((claim | core).astype(np.uint8), np.ones((5, 5), np.uint8))
        n, comp = cv2.connectedComponents(bridged, connectivity=8)
        attached = np.zeros(n, bool)
        attached[np.unique(comp[core])] = True
        attached[0] = False
        out[claim & attached[comp]] = hk
        # and the one-pixel rim (work resolution) of mixed colours around it: left on the body, the hand's outline
        # stays behind and the fill smears its skin colour into the hole
        rim = cv2.dilate((out == hk).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        rim &= near & (out != hk) & (to_hand < 2.0 * to_own)
        out[rim] = hk
    return out




def _polygon_distance(xx: np.ndarray, yy: np.ndarray, poly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """0 inside the polygon, distance to it outside."""
    inside = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(inside, np.round(poly).astype(np.int32), 1)
    d = np.full(shape, np.inf, np.float32)
    for i in range(len(poly)):
        d = np.minimum(d, _segment_distance(xx, yy, poly[i], poly[(i + 1) % len(poly)]))
    return np.where(inside > 0, 0.0, d)


def build_rig(photo: Image.Image | np.ndarray, sk: Skeleton) -> Rig:
    """Cut `photo` into parts along `sk` (which must be in the photo's pixel frame)."""
    rgb = np.asarray(photo.convert("RGB") if isinstance(photo, Image.Image) else photo)
    h, w = rgb.shape[:2]
    if (sk.width, sk.height) != (w, h):
        sk = sk.scaled_to(w, h)
    sw = shoulder_width_of(sk)
    kp = key_points(sk)
    mask = figure_mask(rgb, sk, sw)

    # 1. work resolution
    f = min(1.0, WORK_SIZE / max(w, h))
    ww, wh = max(1, round(w * f)), max(1, round(h * f))
    m_small = cv2.resize(mask, (ww, wh), interpolation=cv2.INTER_AREA) if f < 1 else mask
    fig = m_small > 0.3
    yy, xx = np.mgrid[0:wh, 0:ww].astype(np.float32)
    dt = cv2.distanceTransform(fig.astype(np.uint8), cv2.DIST_L2, 3)

    # 2. which parts exist, their bones and radii (work-resolution units)
    specs = [s for s in PARTS if kp.get(s.start) is not None and kp.get(s.end) is not None]
    if not any(s.name == TORSO for s in specs) and kp["neck"] is not None:
        # no hips in frame (waist-up photo): the torso runs from the neck straight down
        down = np.array([0.0, 1.2 * sw])
        kp = {**kp, "mid_hip": kp["neck"] + down}
        specs.insert(0, PARTS[0])
    bones: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    for s in specs:
        a, b = kp[s.start] * f, kp[s.end] * f
        default = s.radius * sw * f
        r = default
        if s.name not in (TORSO, "head"):
            # the limb's half-width, measured by the distance transform along the middle of the bone; an arm lying
            # against the body measures far too wide, so the measurement may only narrow the default a little
            ts = np.linspace(0.3, 0.7, 7)
            pts = a[None] + ts[:, None] * (b - a)[None]
            ix = np.clip(np.round(pts).astype(int), 0, [ww - 1, wh - 1])
            measured = float(np.median(dt[ix[:, 1], ix[:, 0]]))
            if measured > 0:
                r = float(np.clip(measured * 1.1, 0.6 * default, 1.5 * default))
        bones[s.name] = (a, b, max(r, 1.5))

    # 3. normalised distance of every figure pixel to every part; arms lie in front of the torso in a photo, so a
    # pixel within an arm's width belongs to the arm even inside the torso polygon
    names = [s.name for s in specs]
    cost = np.empty((len(names), wh, ww), np.float32)
    torso_poly = None
    corners = [kp[k] for k in ("l_shoulder", "r_shoulder", "r_hip", "l_hip")]
    if all(c is not None for c in corners):
        torso_poly = np.array(corners) * f
    for k, name in enumerate(names):
        a, b, r = bones[name]
        if name == TORSO and torso_poly is not None:
            d = _polygon_distance(xx, yy, torso_poly, (wh, ww))
            cost[k] = d / (r * _torso_reach(xx, yy, torso_poly))
        elif name == "head":
            # the head is round around its centre (hair, hats): distance to the centre, not to the neck bone
            d = np.hypot(xx - b[0], yy - b[1])
            cost[k] = np.maximum(d / (r * 1.2), 0.0) + 0.05
        else:
            d, t = _segment_distance(xx, yy, a, b, with_t=True)
            # upper arms and thighs are thicker where they join the body (deltoid, hip)
            taper = 1.0 + TAPER.get(name[2:], 0.0) * (1.0 - t)
            if name.endswith("upper_arm"):
                # cloth on the body's side of the shoulder joint stays with the torso: given to the arm, it swings
                # up past the shoulder as a spike ("wing") when the arm comes down
                bone = b - a
                behind = np.maximum(0.0, -((xx - a[0]) * bone[0] + (yy - a[1]) * bone[1])) / max(
                    float(np.linalg.norm(bone)), 1e-6
                )
                d = d + 2.0 * behind
            if name.endswith(("upper_arm", "thigh")) and any(PART_BY_NAME[n].parent == name for n in names):
                # and what lies past the elbow or knee is the forearm's or the shin's: the outline of a bent knee,
                # given to the thigh, swings away from the shin and leaves a wedge of backdrop inside the leg
                bone = b - a
                length = max(float(np.linalg.norm(bone)), 1e-6)
                past = np.maximum(0.0, ((xx - a[0]) * bone[0] + (yy - a[1]) * bone[1]) / length - length)
                d = d + 2.0 * past
            cost[k] = d / (r * taper)
    arm_idx = [k for k, n in enumerate(names) if n in ARM_PARTS]
    label = np.argmin(cost, axis=0)
    if arm_idx:
        arm_best = np.argmin(cost[arm_idx], axis=0)
        arm_cost = np.take_along_axis(cost[arm_idx], arm_best[None], 0)[0]
        in_arm = arm_cost <= 1.0
        label = np.where(in_arm, np.array(arm_idx)[arm_best], label)
    label = np.where(fig, label, -1)
    # what lies far outside every part's width is not the body: a prop, an anvil in front of the legs, a plinth
    far_from_body = fig & (cost.min(axis=0) > FAR_COST)
    label = _reattach_orphans(label, cost, len(names))
    prop_reach = _held_prop_reach(label, far_from_body, names, bones)
    rgb_small = cv2.resize(rgb, (ww, wh), interpolation=cv2.INTER_AREA) if f < 1 else rgb
    label = _claim_hand_colour(label, cost, names, bones, rgb_small.astype(np.float32))

    # a dress, skirt or coat spanning both legs is one garment piece, not two trouser legs (see garment.py)
    garment_zone, garment = _garment_zone(label, names, bones, fig, rgb_small, kp, f, xx, yy)
    label_legs = label
    if garment_zone is not None:
        label = np.where(garment_zone, len(names), label)

    # pixels an arm hides in the source: arm pixels with body on both sides (a hand on the belt, a forearm across
    # the belly). Closing the rest of the body with a disc about as wide as the arm finds them; they belong to the
    # footprint of the body part nearest to them, so that moving the arm away leaves a hole to inpaint, not a window
    # onto the backdrop.
    hidden_owner = np.full((wh, ww), -1, np.int64)
    if arm_idx:
        is_arm = np.isin(label, arm_idx)
        body = fig & ~is_arm
        arm_r = max(bones[n][2] for n in names if n in ARM_PARTS)
        k = max(3, int(round(4.5 * arm_r)) | 1)
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        closed = cv2.morphologyEx(body.astype(np.uint8), cv2.MORPH_CLOSE, disc)
        hidden = is_arm & (closed > 0)
        body_idx = [i for i in range(len(names)) if i not in arm_idx]
        if hidden.any() and body_idx:
            nearest = np.array(body_idx)[np.argmin(cost[body_idx], axis=0)]
            hidden_owner = np.where(hidden, nearest, -1)

    # 4. per-part alpha (own pixels + joint caps) and footprint, upsampled to full resolution
    parts: dict[str, Part] = {}
    crops = _Crops(rgb, mask, f, (ww, wh))
    for k, name in enumerate(names):
        spec = PART_BY_NAME[name]
        a, b, r = bones[name]
        own = label == k
        if garment_zone is not None and name in LEG_PARTS and not (label_legs == k).any():
            continue  # all of this leg is under the garment: the garment carries it
        member = own.copy()
        related = own.copy()
        # joint caps: a disc around each joint shared with the parent / a child, limited to the two parts' pixels
        for other, joint, cap in _joints_of(name, names, bones):
            j_idx = names.index(other)
            disc = np.hypot(xx - joint[0], yy - joint[1]) <= cap
            member |= disc & ((label == j_idx) | own)
            related |= label == j_idx
        if name == TORSO and torso_poly is not None:
            # joint centres sit inside the body: the torso reaches past the shoulder–hip polygon on the sides and
            # below the hip line, and whatever an arm covers there is torso too
            inside = np.zeros((wh, ww), np.uint8)
            cv2.fillConvexPoly(inside, np.round(_grown_torso(torso_poly, 0.2 * sw * f)).astype(np.int32), 1)
            hidden = (inside > 0) & fig & ((label == k) | np.isin(label, arm_idx))
        elif name == "head":
            hidden = np.zeros_like(fig)  # hair behind a raised arm is rare; an arm across the face is not hidden head
        else:
            hidden = (_segment_distance(xx, yy, a, b) <= 0.9 * r) & fig
        if garment_zone is not None and garment is not None:
            # the garment is drawn over the legs, so they keep only a band of what it covers, just above the hem:
            # where the garment narrows in the new pose, the tops of the legs show under it instead of backdrop
            own_leg = (label_legs == k) & garment.above_hem(xx, yy, 1.5 * r)
            member = (member & ~garment_zone) | own_leg
        foot = member | hidden | (hidden_owner == k)
        if garment_zone is not None and name in LEG_PARTS:
            foot &= ~garment_zone | member
        part = crops.part(spec, member, foot, r / f, kp)
        if part is not None:
            parts[name] = part
    garment_part = None
    if garment_zone is not None and garment is not None:
        leg_idx = [k for k, n in enumerate(names) if n in LEG_PARTS]
        under = garment.covers(xx, yy) & np.isin(hidden_owner, leg_idx)  # a hand resting on the skirt hides skirt
        garment_part = crops.part(GARMENT_SPEC, garment_zone, garment_zone | under, bones[TORSO][2] / f, kp)
    return Rig(
        image=rgb.astype(np.float32),
        image_u8=np.ascontiguousarray(rgb, dtype=np.uint8),
        mask=mask,
        skeleton=sk,
        key_points=kp,
        parts=parts,
        shoulder_width=sw,
        garment=garment_part,
        foreign_share=float(far_from_body.sum()) / max(1, int(fig.sum())),
        held_prop_reach=prop_reach,
        garment_hem=garment.hem if garment is not None and garment_part is not None else 0.0,
    )


def _torso_reach(xx: np.ndarray, yy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """How far (× the torso's radius) the torso reaches outside its shoulder–hip polygon, per pixel.

    The body is wider than its hip joints, so lower down the torso reaches well past the polygon's sides (a jacket's
    flare). At the shoulders it does not: the shoulder joint sits on the body's outline and what lies beyond it —
    a wide sleeve, the cloth under a raised arm — moves with the arm. Left to the torso, it stays behind as "wings"
    when the arm comes down.
    """
    ls, rs, rh, lh = poly
    neck, hip = (ls + rs) / 2.0, (lh + rh) / 2.0
    axis = hip - neck
    length = max(float(np.linalg.norm(axis)), 1e-6)
    down = axis / length
    half_w = max(float(np.linalg.norm(ls - rs)) / 2.0, 1e-6)
    rx, ry = xx - neck[0], yy - neck[1]
    along = (rx * down[0] + ry * down[1]) / length  # 0 at the shoulders, 1 at the hips
    across = np.abs(rx * down[1] - ry * down[0]) / half_w  # 1 at the shoulder joints
    upper = np.clip((0.5 - along) / 0.25, 0.0, 1.0)
    lateral = np.clip((across - 1.0) / 0.1, 0.0, 1.0)
    return (1.0 - 0.95 * upper * lateral).astype(np.float32)


def _grown_torso(poly: np.ndarray, margin: float) -> np.ndarray:
    """The torso polygon (l_shoulder, r_shoulder, r_hip, l_hip) pushed out by `margin` sideways and downwards."""
    ls, rs, rh, lh = poly
    across = (ls - rs) + (lh - rh)
    across /= max(np.linalg.norm(across), 1e-9)  # towards the subject's left
    down = (lh + rh) / 2 - (ls + rs) / 2
    down /= max(np.linalg.norm(down), 1e-9)
    return np.array([ls + margin * across, rs - margin * across, rh - margin * across + margin * down,
                     lh + margin * across + margin * down])


def _cap_radius(child: str, bones: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> float:
    # the joint cap is as wide as the child limb at the joint; the neck only gets a small one so that the collar
    # stays with the torso
    return 0.3 * bones[child][2] if child == "head" else 1.1 * bones[child][2]


def _joints_of(
    name: str, names: list[str], bones: dict[str, tuple[np.ndarray, np.ndarray, float]]
) -> list[tuple[str, np.ndarray, float]]:
    """(neighbour part, joint position, cap radius) for the parent and the children of `name` that exist."""
    out = []
    spec = PART_BY_NAME[name]
    if spec.parent in names:
        out.append((spec.parent, bones[name][0], _cap_radius(name, bones)))
    for other in names:
        child = PART_BY_NAME[other]
        if child.parent == name:
            out.append((other, bones[other][0], _cap_radius(other, bones)))
    return out


class _Crops:
    """Turns work-resolution member / footprint masks into a full-resolution `Part` (crop, alpha, colours)."""

    def __init__(self, rgb: np.ndarray, mask: np.ndarray, f: float, work_size: tuple[int, int]) -> None:
        self.rgb, self.mask, self.f, self.work_size = rgb, mask, f, work_size

    def part(
        self, spec: PartSpec, member: np.ndarray, foot: np.ndarray, radius: float, kp: dict[str, np.ndarray | None]
    ) -> Part | None:
        if not foot.any():
            return None
        f, (ww, wh) = self.f, self.work_size
        h, w = self.mask.shape
        ys, xs = np.nonzero(foot)
        pad = 3
        x0s, x1s = max(0, xs.min() - pad), min(ww, xs.max() + 1 + pad)
        y0s, y1s = max(0, ys.min() - pad), min(wh, ys.max() + 1 + pad)
        x0, y0 = int(np.floor(x0s / f)), int(np.floor(y0s / f))
        x1, y1 = min(w, int(np.ceil(x1s / f))), min(h, int(np.ceil(y1s / f)))
        crop_mask = self.mask[y0:y1, x0:x1]
        alpha = _upsample(member[y0s:y1s, x0s:x1s], (x0s, y0s), f, (x0, y0, x1, y1)) * crop_mask
        footprint = _upsample(foot[y0s:y1s, x0s:x1s], (x0s, y0s), f, (x0, y0, x1, y1)) * crop_mask
        body = spec.name in (TORSO, GARMENT_SPEC.name)
        start, end = (kp["neck"], kp["mid_hip"]) if body else (kp[spec.start], kp[spec.end])
        if start is None or end is None:
            return None  # a part is only built for a bone whose two joints were found
        return Part(
            spec=spec,
            start=start,
            end=end,
            radius=radius,
            alpha=alpha.astype(np.float32),
            rgba=np.dstack([self.rgb[y0:y1, x0:x1].astype(np.float32) * alpha[..., None], alpha]).astype(np.float32),
            footprint=np.maximum(footprint, alpha).astype(np.float32),
            box=(x0, y0, x1, y1),
        )


def _garment_zone(
    label: np.ndarray,
    names: list[str],
    bones: dict[str, tuple[np.ndarray, np.ndarray, float]],
    fig: np.ndarray,
    rgb: np.ndarray,
    kp: dict[str, np.ndarray | None],
    f: float,
    xx: np.ndarray,
    yy: np.ndarray,
) -> tuple[np.ndarray | None, Garment | None]:
    """(work-frame bool mask of the leg pixels a garment spanning both legs covers, the garment), or (None, None)."""
    legs: dict[str, np.ndarray | None] = {n: (v * f if (v := kp.get(n)) is not None else None) for n in LEG_KEYS}
    radii = [bones[n][2] for n in ("l_thigh", "r_thigh") if n in bones]
    if len(radii) < 2:
        return None, None
    garment = find_garment(fig, rgb, legs, float(np.mean(radii)))
    if garment is None:
        return None, None
    leg_idx = [k for k, n in enumerate(names) if n in LEG_PARTS or (garment.floor_length and n.endswith("_foot"))]
    zone = np.isin(label, leg_idx) & garment.covers(xx, yy)
    return (zone if zone.any() else None), garment


def _upsample(
    small: np.ndarray, origin: tuple[int, int], f: float, box: tuple[int, int, int, int]
) -> np.ndarray:
    """A work-resolution bool crop → a smooth float crop covering `box` at full resolution."""
    x0, y0, x1, y1 = box
    if f >= 1.0:
        return cv2.GaussianBlur(small.astype(np.float32), (0, 0), 0.8)[: y1 - y0, : x1 - x0]
    # map each full-res pixel centre of the box into the small crop
    m = np.array([[f, 0, (x0 + 0.5) * f - 0.5 - origin[0]], [0, f, (y0 + 0.5) * f - 0.5 - origin[1]]], np.float32)
    out = cv2.warpAffine(
        small.astype(np.float32), m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
    )
    return out
