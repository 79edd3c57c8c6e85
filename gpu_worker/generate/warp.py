"""The CPU backend: re-pose the figure by moving its body parts like a cut-out puppet. No weights, no GPU.

Per source photo (once): cut the figure into layered rigid parts along the skeleton (`parts.build_rig`) and paint the
figure out of the backdrop (`inpaint.background_plate`).

Per target pose:
1. one transform per part, down the kinematic chain: rotate the bone onto the target bone about its joint, scale
   along the bone only (retargeting may change a bone length slightly; the limb must not get fatter), and hang every
   child from where its parent actually put the joint, so parts stay attached;
2. linear-blend skinning at the joints: near a joint, a part's backward map blends towards its neighbour's
   (smooth radial weights). The blend weight is capped per joint so the Jacobian provably stays positive
   (see `_blend_cap`): no fold-over even for a fully bent elbow;
3. render each part by backward mapping (cv2.remap) and composite back to front (legs, torso, head, arms; an arm
   whose hand rests on the body goes in front);
4. fill what the move uncovered: the backdrop plate outside the figure; a torso patch an arm used to hide from the
   mirror image of the torso (garments are nearly symmetric), cv2.inpaint for what is left.

A global piecewise-affine warp is *not* used: it folds over whenever a limb crosses the body (notes B8).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from gpu_worker.generate.base import ProgressCallback, Rendered
from gpu_worker.generate.capability import pose_refusal
from gpu_worker.generate.framing import Framing, fit_frame, skeleton_scale, source_margins
from gpu_worker.generate.inpaint import background_plate, fill_holes
from gpu_worker.generate.parts import (
    GARMENT_SPEC,
    LEG_PARTS,
    PART_BY_NAME,
    PARTS,
    TORSO,
    Part,
    Rig,
    build_rig,
    key_points,
)
from gpu_worker.generate.smooth_deform import rigid_mls_backward
from gpu_worker.pose.skeleton import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER, Skeleton

if TYPE_CHECKING:
    from gpu_worker.pose.library import Pose

# A retargeted bone may be a little longer or shorter than the source's; beyond these limits the stretch would
# show (a limb pointing at the camera is foreshortened in the target: better a slightly long limb than a stub).
MIN_STRETCH, MAX_STRETCH = 0.8, 1.25
# Torso transforms this close to a pure translation are snapped to a whole-pixel shift, so the garment (prints,
# logos) is copied bit for bit instead of resampled.
SNAP_DEGREES, SNAP_SCALE = 1.5, 0.03
# Skinning zone around a joint, as a multiple of the child limb's half-width.
BLEND_RADIUS = 1.6
# The neck's half-width as a fraction of the head's radius.
NECK_FRACTION = 0.35
# Parts whose rigid pixels are reported in `exact_mask` (the garment and the face; limbs bend at the joints).
EXACT_PARTS = frozenset({TORSO, "head"})
GARMENT = GARMENT_SPEC.name


@dataclass(frozen=True)
class PartMotion:
    """Forward affine map of one part (source → target pixels) and what it is."""

    forward: np.ndarray  # (2, 3)
    rigid: bool  # no stretch (a pure rotation + translation)
    integer_shift: bool  # a whole-pixel translation: pixels copied exactly


class WarpBackend:
    """Layered-part warp (CPU). `render` returns one `Rendered` per target skeleton, at the photo's resolution."""

    name = "warp"

    def supports(self, pose: Pose) -> bool:
        backends = tuple(getattr(pose, "backends", ()) or ())
        return not backends or self.name in backends

    def __init__(self) -> None:
        # the rig of the last photo: `refusal` builds it for the poses, `render` reuses it for the same photo
        self._rig: tuple[tuple[int, int], Rig] | None = None

    def _rig_for(self, photo: Image.Image, source: Skeleton) -> Rig:
        key = (id(photo), id(source))
        if self._rig is None or self._rig[0] != key:
            self._rig = (key, prepare(photo, source))
        return self._rig[1]

    def refusal(self, photo: Image.Image, source: Skeleton, pose: Pose, target: Skeleton) -> str | None:
        """Why this figure cannot be warped into `target` (a side view, overlapping legs, a long dress asked to
        stride), or None."""
        return pose_refusal(self._rig_for(photo, source), target)

    def render(
        self,
        photo: Image.Image,
        source: Skeleton,
        targets: Sequence[Skeleton],
        *,
        seed: int = 0,
        progress: ProgressCallback | None = None,
        poses: Sequence[Pose] | None = None,
    ) -> list[Rendered]:
        # seed and poses: the warp is deterministic and needs only the target skeletons
        rig = self._rig_for(photo, source)
        self._rig = None  # one photo's rig is not kept past its render (memory)
        out = []
        for k, target in enumerate(targets):
            out.append(warp(rig, target))
            if progress is not None:
                progress((k + 1) / max(1, len(targets)), f"warped pose {k + 1}/{len(targets)}")
        return out


def prepare(photo: Image.Image | np.ndarray, source: Skeleton) -> Rig:
    """The per-photo work: the rig and the backdrop plate."""
    rig = build_rig(photo, source)
    rig.background = background_plate(rig.image, rig.mask)
    rig.background_u8 = np.clip(np.rint(rig.background), 0, 255).astype(np.uint8)
    return rig


# --------------------------------------------------------------------------------------------------------------------
# 1. transforms


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def _angle(v: np.ndarray) -> float:
    return math.atan2(float(v[1]), float(v[0]))


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Least-squares rotation angle, scale and translation mapping `src` points onto `dst` (Umeyama, no reflection)."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    # complex-number form: dst ≈ z · src, z = Σ conj(a)·b / Σ |a|²
    za = a[:, 0] + 1j * a[:, 1]
    zb = b[:, 0] + 1j * b[:, 1]
    denom = float(np.sum(np.abs(za) ** 2))
    z = complex(np.sum(np.conj(za) * zb) / denom) if denom > 1e-9 else 1.0 + 0j
    angle, scale = math.atan2(z.imag, z.real), abs(z)
    t = md - scale * _rotation(angle) @ ms
    return angle, scale, t


def part_motions(rig: Rig, target: Skeleton) -> dict[str, PartMotion]:
    """Forward transform of every part of `rig` for `target` (in the rig's pixel frame)."""
    w, h = rig.size
    if (target.width, target.height) != (w, h):
        target = target.scaled_to(w, h)
    kt = key_points(target)
    ks = rig.key_points
    motions: dict[str, PartMotion] = {}
    turn: dict[str, float] = {}  # rotation of each part (radians), for children with no target bone

    # torso: best similarity from the visible torso corners both skeletons have
    idx = [i for i in (L_SHOULDER, R_SHOULDER, L_HIP, R_HIP) if rig.skeleton.visible()[i] and target.visible()[i]]
    if len(idx) >= 2:
        angle, scale, t = _similarity(rig.skeleton.points[idx], target.points[idx])
    else:
        angle, scale, t = 0.0, 1.0, np.zeros(2)
    scale = float(np.clip(scale, 0.85, 1.15))
    if abs(math.degrees(angle)) < SNAP_DEGREES and abs(scale - 1.0) < SNAP_SCALE:
        # shift by whole pixels: keep the centroid mapping as close as rounding allows
        centre = rig.skeleton.points[idx].mean(axis=0) if idx else np.zeros(2)
        centre_t = target.points[idx].mean(axis=0) if idx else np.zeros(2)
        shift = np.round(centre_t - centre)
        fwd = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
        motions[TORSO] = PartMotion(fwd, rigid=True, integer_shift=True)
        turn[TORSO] = 0.0
    else:
        m = scale * _rotation(angle)
        motions[TORSO] = PartMotion(np.hstack([m, t[:, None]]), rigid=abs(scale - 1.0) < 1e-6, integer_shift=False)
        turn[TORSO] = angle

    for spec in PARTS[1:]:
        if spec.name not in rig.parts and not (rig.garment is not None and spec.name in LEG_PARTS):
            continue
        parent = spec.parent or TORSO
        if parent not in motions:
            parent = TORSO
        pf = motions[parent].forward
        a_s, b_s = ks[spec.start], ks[spec.end]
        if a_s is None or b_s is None:
            continue
        a_t_fk = pf[:, :2] @ a_s + pf[:, 2]  # where the parent put this part's joint
        v_s = b_s - a_s
        l_s = float(np.linalg.norm(v_s))
        ta, tb = kt.get(spec.start), kt.get(spec.end)
        if ta is not None and tb is not None and np.linalg.norm(tb - ta) > 1e-6 and l_s > 1e-6:
            v_t = tb - ta
            theta = _angle(v_t) - _angle(v_s)
            stretch = float(np.clip(np.linalg.norm(v_t) / l_s, MIN_STRETCH, MAX_STRETCH))
        else:
            # the target does not place this bone: it keeps its angle to its parent
            theta = turn[parent]
            stretch = 1.0
        if spec.name == "head":
            stretch = 1.0  # a head never stretches
        turn[spec.name] = theta
        u_s = v_s / max(l_s, 1e-9)
        n_s = np.array([-u_s[1], u_s[0]])
        # stretch along the source bone, then rotate
        stretch_m = np.outer(u_s, u_s) * stretch + np.outer(n_s, n_s)
        m = _rotation(theta) @ stretch_m
        t = a_t_fk - m @ a_s
        rigid = abs(stretch - 1.0) < 1e-6
        motions[spec.name] = PartMotion(np.hstack([m, t[:, None]]), rigid=rigid, integer_shift=False)
    return motions


# --------------------------------------------------------------------------------------------------------------------
# 2. depth order


def depth_order(rig: Rig, target: Skeleton, motions: dict[str, PartMotion]) -> list[str]:
    """Part names back to front for this target pose.

    Legs behind the torso (the hips and a skirt cover the tops of the thighs), the head over the torso, arms in front
    of everything. Within a limb the child is drawn over its parent (a bent forearm lies over the upper arm). Of two
    arms (or legs) the one reaching further across the body's midline is in front: it is the one crossing over.
    """
    w, h = rig.size
    if (target.width, target.height) != (w, h):
        target = target.scaled_to(w, h)
    kt = key_points(target)
    mid_x = kt["neck"][0] if kt["neck"] is not None else w / 2.0

    def crossing(side: str, tip: str) -> float:
        p = kt.get(f"{side}_{tip}")
        if p is None:
            return 0.0
        # subject's left is on the image's right: how far the tip reaches over to the other side
        return float(mid_x - p[0]) if side == "l" else float(p[0] - mid_x)

    legs = sorted(("l", "r"), key=lambda s: crossing(s, "ankle"))
    arms = sorted(("l", "r"), key=lambda s: crossing(s, "wrist"))
    order: list[str] = []
    for s in legs:
        order += [f"{s}_thigh", f"{s}_shin", f"{s}_foot"]
    if rig.garment is not None:
        order.append(GARMENT)  # over the legs (they come out under its hem), under the torso and the arms
    order += [TORSO, "head"]
    for s in arms:
        order += [f"{s}_upper_arm", f"{s}_forearm", f"{s}_hand"]
    return [n for n in order if (n in motions and n in rig.parts) or n == GARMENT]


# --------------------------------------------------------------------------------------------------------------------
# 3. skinning weights near joints


def _inverse(forward: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(forward.astype(np.float64))


def _blend_cap(m_own: np.ndarray, m_other: np.ndarray) -> float:
    """Largest skinning weight (≤ 0.5) towards a neighbour that keeps the blended map free of fold-over.

    The blended backward map is B = B_own + w(x)·(B_other − B_own) with w = w_max·(1 − smoothstep(|x − j| / R)).
    Both maps send the joint j to the same source point, so B_other − B_own = D·(x − j) with D = M_other − M_own
    (the linear parts), and |x − j| ≤ R inside the zone; smoothstep's slope is at most 1.5/R. Hence
    J = (1 − w)·M_own + w·M_other + D·(x − j)·∇wᵀ, whose last term has norm ≤ 1.5·w_max·‖D‖. J is non-singular,
    with the sign of det M_own > 0, while that bound stays below the smallest singular value of the first two terms
    (checked on a grid of w with a 25 % margin).
    """
    d_norm = float(np.linalg.norm(m_other - m_own, 2))
    if d_norm < 1e-9:
        return 0.5
    ws = np.linspace(0.0, 0.5, 26)
    mats = (1.0 - ws)[:, None, None] * m_own[None] + ws[:, None, None] * m_other[None]
    det = mats[:, 0, 0] * mats[:, 1, 1] - mats[:, 0, 1] * mats[:, 1, 0]
    fro2 = np.sum(mats**2, axis=(1, 2))
    # smallest singular value of a 2×2 matrix in closed form
    sv_min = np.sqrt(np.maximum(0.0, (fro2 - np.sqrt(np.maximum(0.0, fro2**2 - 4.0 * det**2))) / 2.0))
    best = 0.0
    for w_max in np.linspace(0.05, 0.5, 10):
        upto = ws <= w_max + 1e-9
        if np.all(det[upto] > 0) and np.all(sv_min[upto] > 1.25 * 1.5 * w_max * d_norm):
            best = float(w_max)
        else:
            break
    return best


def _neighbours(rig: Rig, name: str, motions: dict[str, PartMotion]) -> list[str]:
    spec = PART_BY_NAME[name]
    out = [spec.parent] if spec.parent in motions and spec.parent in rig.parts else []
    out += [p.name for p in PARTS if p.parent == name and p.name in motions and p.name in rig.parts]
    return out


def _joint_between(rig: Rig, a: str, b: str) -> np.ndarray:
    """Source position of the joint between parts `a` and `b` (the child's start point)."""
    child = b if PART_BY_NAME[b].parent == a else a
    return rig.parts[child].start


# --------------------------------------------------------------------------------------------------------------------
# 4. render


@dataclass
class _Canvas:
    colour: np.ndarray  # premultiplied (H, W, 3)
    alpha: np.ndarray
    footprint: np.ndarray
    top: np.ndarray  # (H, W) int16 index of the topmost opaque part, -1 none
    top_alpha: np.ndarray
    map_x: np.ndarray  # dense backward map of the topmost part
    map_y: np.ndarray
    blended: np.ndarray  # bool: the topmost part's map is skinned (not rigid) here


def warp(rig: Rig, target: Skeleton) -> Rendered:
    """Re-pose the rig's figure into `target`. Output at the rig's (source) resolution."""
    w, h = rig.size
    if (target.width, target.height) != (w, h):
        target = target.scaled_to(w, h)
    # the frame. Retargeting may have scaled the skeleton down to keep its joints in the frame; parts cannot follow
    # that bone by bone (a head does not shrink, limbs only stretch so far), so the pose is drawn at the subject's
    # size and the whole figure is scaled as one. Then, what still sticks out (hair, hands, a skirt: joints are
    # not the outline) is moved in, or shrunk in.
    framing, target = _unscaled(rig, target)
    motions = part_motions(rig, target)
    extent = moved_extent(rig, motions)
    corners = framing.apply(np.array([[extent[0], extent[1]], [extent[2], extent[3]]]))
    framing = framing.then(
        fit_frame((*corners[0], *corners[1]), (w, h), source_margins(rig.mask), framing.apply(_anchor(target)))
    )
    if not framing.identity and framing.scale == 1.0:
        # a move only: by whole pixels, so rigid parts (prints, the face) stay pixel-exact
        framing = Framing(shift=(float(round(framing.shift[0])), float(round(framing.shift[1]))))
        motions = {n: PartMotion(framing.compose(m.forward), m.rigid, m.integer_shift) for n, m in motions.items()}
        target = target.with_points(framing.apply(target.points))
    elif not framing.identity:
        motions = {
            n: PartMotion(framing.compose(m.forward), rigid=False, integer_shift=False) for n, m in motions.items()
        }
        target = target.with_points(framing.apply(target.points))
    order = depth_order(rig, target, motions)
    inv = {n: _inverse(m.forward) for n, m in motions.items()}
    cv = _Canvas(
        colour=np.zeros((h, w, 3), np.float32),
        alpha=np.zeros((h, w), np.float32),
        footprint=np.zeros((h, w), np.float32),
        top=np.full((h, w), -1, np.int16),
        top_alpha=np.zeros((h, w), np.float32),
        map_x=np.zeros((h, w), np.float32),
        map_y=np.zeros((h, w), np.float32),
        blended=np.zeros((h, w), bool),
    )
    boxes = [
        b
        for k, name in enumerate(order)
        if (
            b := _draw_garment(rig, k, motions, cv) if name == GARMENT else _draw_part(rig, name, k, motions, inv, cv)
        )
        is not None
    ]
    plate = rig.background if rig.background is not None else rig.image
    plate_u8 = rig.background_u8 if rig.background_u8 is not None else rig.image_u8
    exact = np.zeros((h, w), bool)
    figure_mask = np.zeros((h, w), bool)
    if not boxes:
        return Rendered(image=Image.fromarray(plate_u8.copy()), exact_mask=exact)

    # 5. fill, inside the box the parts landed in: backdrop outside the figure, inpainting for holes inside it.
    # Colours are un-premultiplied by the accumulated alpha *inside the footprint*, so that the soft seam between
    # two parts does not let the backdrop shine through.
    bx0, by0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    bx1, by1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    bb = (slice(by0, by1), slice(bx0, bx1))
    a = cv.alpha[bb]
    cover = np.maximum(a, cv.footprint[bb])
    figure = cv.colour[bb] / np.maximum(a, 1e-3)[..., None]
    # only the box the figure landed in is computed in floats; the rest of the frame is the plate's own pixels
    out = plate[bb] * (1.0 - cover[..., None]) + figure * cover[..., None]
    figure_mask[bb] = cover > 0.5
    holes = (cv.footprint[bb] > 0.5) & (a < 0.5)
    remaining = _mirror_torso_fill(rig, inv, out, holes, (bx0, by0))
    out = fill_holes(out, remaining, figure_mask[bb])
    image = plate_u8.copy()
    image[bb] = np.clip(np.rint(out), 0, 255).astype(np.uint8)

    # rigid garment / face pixels; for a whole-pixel shift put them back bit for bit (no float round trip)
    top, top_alpha, blended = cv.top[bb], cv.top_alpha[bb], cv.blended[bb]
    for k, name in enumerate(order):
        if name in EXACT_PARTS and motions[name].rigid:
            exact[bb] |= (top == k) & (top_alpha >= 0.999) & (a >= 0.999) & ~blended
    if exact.any():
        ey, ex = np.nonzero(exact)
        xs = np.rint(cv.map_x[ey, ex]).astype(int)
        ys = np.rint(cv.map_y[ey, ex]).astype(int)
        shifted = np.isin(cv.top[ey, ex], [k for k, n in enumerate(order) if n in motions and motions[n].integer_shift])
        ok = shifted & (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        image[ey[ok], ex[ok]] = rig.image_u8[ys[ok], xs[ok]]

    fig_px = max(1, int(figure_mask.sum()))
    uncovered = float(holes.sum()) / fig_px
    fold = foldover_fraction(cv.map_x[bb], cv.map_y[bb], top, figure_mask[bb])
    return Rendered(
        image=Image.fromarray(image),
        exact_mask=exact,
        uncovered_fraction=uncovered,
        foldover_fraction=fold,
        extras={
            "depth_order": order,
            "figure_mask": figure_mask,
            "source_figure_mask": rig.mask > 0.5,
            # the target as drawn: moved / scaled to stay in the frame (the check compares with this one)
            "target": target,
            "framing": framing,
        },
    )


def _unscaled(rig: Rig, target: Skeleton) -> tuple[Framing, Skeleton]:
    """(the uniform scale retargeting applied to fit the frame, as a Framing; the target at the subject's size)."""
    s = skeleton_scale(rig.skeleton.points, rig.skeleton.visible(), target.points, target.visible())
    if s == 1.0:
        return Framing(), target
    v = target.visible()
    pivot = target.points[v].mean(axis=0)
    unscaled = target.with_points(np.where(v[:, None], pivot + (target.points - pivot) / s, target.points))
    sh = pivot * (1.0 - s)
    return Framing(scale=s, shift=(float(sh[0]), float(sh[1]))), unscaled


def _anchor(target: Skeleton) -> np.ndarray:
    """The point a shrink keeps in place: between the feet (the figure stays on its floor), else the hips."""
    v = target.visible()
    for idx in ((27, 28), (23, 24)):
        ok = [i for i in idx if v[i]]
        if ok:
            return target.points[ok].mean(axis=0)
    x0, y0, x1, y1 = target.bbox()
    return np.array([(x0 + x1) / 2.0, y1])


def _outline(part: Part) -> np.ndarray | None:
    """Convex hull (source pixels) of the part's opaque pixels, cached on the part."""
    if part.hull is None:
        ys, xs = np.nonzero(part.alpha > 0.5)
        if len(xs) == 0:
            return None
        hull = cv2.convexHull(np.stack([xs, ys], axis=1).astype(np.int32)).reshape(-1, 2)
        part.hull = hull.astype(np.float64) + np.array(part.box[:2], np.float64)
    return part.hull


def moved_extent(rig: Rig, motions: dict[str, PartMotion]) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1) of the figure after `motions` (each part's opaque pixels' box, moved)."""
    pts = []
    for name, part in rig.parts.items():
        if name not in motions:
            continue
        hull = _outline(part)
        if hull is None:
            continue
        m = motions[name].forward
        pts.append(hull @ m[:, :2].T + m[:, 2])
    if rig.garment is not None and TORSO in motions:
        tgt, src = garment_handles(rig, motions)
        if len(src):
            x0, y0, x1, y1 = rig.garment.box
            corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
            reach = float(np.max(np.min(np.linalg.norm(corners[:, None] - src[None], axis=2), axis=1)))
            # the garment's own pixels are well inside its box: half the reach is a fair bound
            pts.append(np.vstack([tgt.min(axis=0) - 0.5 * reach, tgt.max(axis=0) + 0.5 * reach]))
    if not pts:
        w, h = rig.size
        return 0.0, 0.0, float(w - 1), float(h - 1)
    allp = np.vstack(pts)
    return float(allp[:, 0].min()), float(allp[:, 1].min()), float(allp[:, 0].max()), float(allp[:, 1].max())


def _mirror_torso_fill(
    rig: Rig, inv: dict[str, np.ndarray], out: np.ndarray, holes: np.ndarray, origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Fill holes on the torso from the mirror image of the torso; returns the holes left for inpainting.

    A hand moved off the belly uncovers garment the photo never showed. Garments are close to left–right symmetric,
    so the other side of the torso (reflected about the neck–hip axis, in the source) is a far better guess than
    inpainting, which smears the colours around the hole into it. A hole pixel is filled only when its mirror point
    is the torso's own, fully opaque pixel (not one an arm hides too). It is still counted as filled in.
    `out` and `holes` are the crop of the frame whose top-left corner is `origin`.
    """
    torso = rig.parts.get(TORSO)
    neck, hip = rig.key_points.get("neck"), rig.key_points.get("mid_hip")
    if torso is None or neck is None or hip is None or TORSO not in inv or not holes.any():
        return holes
    axis = hip - neck
    length = float(np.linalg.norm(axis))
    if length < 1e-6:
        return holes
    u = axis / length
    ys0, xs0 = np.nonzero(holes)
    ys, xs = ys0 + origin[1], xs0 + origin[0]
    b = inv[TORSO]
    sx = b[0, 0] * xs + b[0, 1] * ys + b[0, 2]
    sy = b[1, 0] * xs + b[1, 1] * ys + b[1, 2]
    x0, y0, x1, y1 = torso.box

    def sample(img: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        ix, iy = np.rint(px).astype(int) - x0, np.rint(py).astype(int) - y0
        ok = (ix >= 0) & (ix < x1 - x0) & (iy >= 0) & (iy < y1 - y0)
        vals = np.zeros(len(px), np.float32)
        vals[ok] = img[iy[ok], ix[ok]]
        return vals

    on_torso = sample(torso.footprint, sx, sy) > 0.5
    # reflect about the neck–hip line
    rx, ry = sx - neck[0], sy - neck[1]
    along = rx * u[0] + ry * u[1]
    mx = neck[0] + 2.0 * along * u[0] - rx
    my = neck[1] + 2.0 * along * u[1] - ry
    ok = on_torso & (sample(torso.alpha, mx, my) >= 0.98)
    if not ok.any():
        return holes
    w, h = rig.size
    px = np.clip(np.rint(mx[ok]).astype(int), 0, w - 1)
    py = np.clip(np.rint(my[ok]).astype(int), 0, h - 1)
    out[ys0[ok], xs0[ok]] = rig.image[py, px]
    remaining = holes.copy()
    remaining[ys0[ok], xs0[ok]] = False
    return remaining


def _draw_part(
    rig: Rig, name: str, k: int, motions: dict[str, PartMotion], inv: dict[str, np.ndarray], cv: _Canvas
) -> tuple[int, int, int, int] | None:
    """Render part `name` over the canvas; returns the target box it was drawn in (None when off the frame)."""
    part: Part = rig.parts[name]
    w, h = rig.size
    fwd = motions[name].forward
    x0, y0, x1, y1 = part.box
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    tc = corners @ fwd[:, :2].T + fwd[:, 2]
    tx0, ty0 = np.floor(tc.min(axis=0)).astype(int) - 1
    tx1, ty1 = np.ceil(tc.max(axis=0)).astype(int) + 2
    tx0, ty0, tx1, ty1 = max(0, int(tx0)), max(0, int(ty0)), min(w, int(tx1)), min(h, int(ty1))
    if tx1 <= tx0 or ty1 <= ty0:
        return None
    # dense backward map of this part over its target box (source pixel for every output pixel), as the crop's
    # own coordinates
    gx = np.arange(tx0, tx1, dtype=np.float32)
    gy = np.arange(ty0, ty1, dtype=np.float32)
    b = inv[name].astype(np.float32)
    mx = (b[0, 0] * gx)[None, :] + (b[0, 1] * gy + (b[0, 2] - x0))[:, None]
    my = (b[1, 0] * gx)[None, :] + (b[1, 1] * gy + (b[1, 2] - y0))[:, None]
    skinned = np.zeros(mx.shape, bool)
    # linear-blend skinning near each joint with a neighbour (only the zone's own box is touched)
    for other in _neighbours(rig, name, motions):
        joint_s = _joint_between(rig, name, other)
        jx, jy = fwd[:, :2] @ joint_s + fwd[:, 2]
        if np.allclose(inv[name], inv[other], atol=1e-4):
            continue  # both parts move alike: nothing to blend (and the pixels stay exact)
        child = other if PART_BY_NAME[other].parent == name else name
        # the neck is far narrower than the head hanging from it
        radius = BLEND_RADIUS * rig.parts[child].radius * (NECK_FRACTION if child == "head" else 1.0)
        zx0, zx1 = max(tx0, int(jx - radius)), min(tx1, int(jx + radius) + 2)
        zy0, zy1 = max(ty0, int(jy - radius)), min(ty1, int(jy + radius) + 2)
        if zx1 <= zx0 or zy1 <= zy0:
            continue
        w_max = _blend_cap(inv[name][:, :2], inv[other][:, :2])
        if w_max <= 0:
            continue
        zgx, zgy = gx[zx0 - tx0 : zx1 - tx0], gy[zy0 - ty0 : zy1 - ty0]
        t = np.clip(np.hypot(zgx[None, :] - jx, zgy[:, None] - jy) / radius, 0.0, 1.0)
        wgt = (w_max * (1.0 - t * t * (3.0 - 2.0 * t))).astype(np.float32)
        bo = inv[other].astype(np.float32)
        ox = (bo[0, 0] * zgx)[None, :] + (bo[0, 1] * zgy + (bo[0, 2] - x0))[:, None]
        oy = (bo[1, 0] * zgx)[None, :] + (bo[1, 1] * zgy + (bo[1, 2] - y0))[:, None]
        zs = (slice(zy0 - ty0, zy1 - ty0), slice(zx0 - tx0, zx1 - tx0))
        mx[zs] += wgt * (ox - mx[zs])
        my[zs] += wgt * (oy - my[zs])
        skinned[zs] |= wgt > 1e-4
    return _composite(part, k, mx, my, skinned, (tx0, ty0, tx1, ty1), cv)


def _composite(
    part: Part,
    k: int,
    mx: np.ndarray,
    my: np.ndarray,
    skinned: np.ndarray,
    box: tuple[int, int, int, int],
    cv: _Canvas,
) -> tuple[int, int, int, int]:
    """Draw `part` over the canvas in `box` through its backward map (mx, my: crop coordinates)."""
    tx0, ty0, tx1, ty1 = box
    x0, y0 = part.box[0], part.box[1]
    warped = cv2.remap(part.rgba, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    fp = cv2.remap(part.footprint, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = warped[..., 3]
    sl = (slice(ty0, ty1), slice(tx0, tx1))
    # "over" compositing, in place
    colour = cv.colour[sl]
    colour *= (1.0 - a)[..., None]
    colour += warped[..., :3]
    alpha = cv.alpha[sl]
    alpha *= 1.0 - a
    alpha += a
    np.maximum(cv.footprint[sl], fp, out=cv.footprint[sl])
    on_top = a > 0.5
    np.copyto(cv.top[sl], np.int16(k), where=on_top)
    np.copyto(cv.top_alpha[sl], a, where=on_top)
    np.copyto(cv.map_x[sl], mx + np.float32(x0), where=on_top)
    np.copyto(cv.map_y[sl], my + np.float32(y0), where=on_top)
    np.copyto(cv.blended[sl], skinned, where=on_top)
    return tx0, ty0, tx1, ty1


def garment_handles(rig: Rig, motions: dict[str, PartMotion]) -> tuple[np.ndarray, np.ndarray]:
    """(target points, source points) that drive the garment: along both legs, and the hips and waist on the torso.

    The leg handles go where the leg parts go (the legs below the hem come out of the garment where they should);
    the torso handles keep the waistband on the torso.
    """
    kp = rig.key_points
    src: list[np.ndarray] = []
    tgt: list[np.ndarray] = []

    def fwd(name: str, p: np.ndarray) -> np.ndarray:
        m = motions[name].forward
        return m[:, :2] @ p + m[:, 2]

    def add(name: str, p: np.ndarray) -> None:
        src.append(p)
        tgt.append(fwd(name, p))

    # Pairs of points at the same fraction down both legs. A skirt has no left and right leg, only a left and a
    # right side: the point on the source's image-left side drives the target's image-left side, so that legs the
    # detector sees crossing (a 3/4 stride) do not fold the skirt over itself.
    lh_s, rh_s = kp.get("l_hip"), kp.get("r_hip")
    lh_t, rh_t = (fwd(TORSO, x) if x is not None else None for x in (lh_s, rh_s))
    if lh_s is None or rh_s is None or lh_t is None or rh_t is None:
        return np.zeros((0, 2)), np.zeros((0, 2))
    across_s, across_t = lh_s - rh_s, lh_t - rh_t
    for bone in ("thigh", "shin"):
        ts = np.linspace(0.0, 1.0, 6)[1:] if bone == "shin" else np.linspace(0.0, 1.0, 6)
        for t in ts:
            pair = []
            for side in ("l", "r"):
                spec = PART_BY_NAME[f"{side}_{bone}"]
                a, b = kp.get(spec.start), kp.get(spec.end)
                if a is None or b is None or spec.name not in motions:
                    break
                pt = a + t * (b - a)
                pair.append((pt, fwd(spec.name, pt)))
            if len(pair) < 2:
                continue
            src_pair = sorted((pt for pt, _ in pair), key=lambda x: float(x @ across_s))
            tgt_pair = sorted((pt for _, pt in pair), key=lambda x: float(x @ across_t))
            src.extend(src_pair)
            tgt.extend(tgt_pair)
    lh, rh, neck = kp.get("l_hip"), kp.get("r_hip"), kp.get("neck")
    if lh is not None and rh is not None:
        for t in (-0.4, 0.0, 0.5, 1.0, 1.4):
            add(TORSO, rh + t * (lh - rh))
        if neck is not None:
            mid = (lh + rh) / 2.0
            for t in (0.3, 0.6):
                add(TORSO, mid + t * (neck - mid))
    return np.array(tgt), np.array(src)


def _draw_garment(rig: Rig, k: int, motions: dict[str, PartMotion], cv: _Canvas) -> tuple[int, int, int, int] | None:
    """Render the garment spanning both legs as one piece (rigid-MLS map from the leg and hip handles)."""
    part = rig.garment
    if part is None or TORSO not in motions:
        return None
    tgt, src = garment_handles(rig, motions)
    if len(src) < 3:
        return None
    w, h = rig.size
    x0, y0, x1, y1 = part.box
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    # every garment pixel lies within `reach` of a handle, and the map is locally rigid: so does its image
    reach = float(np.max(np.min(np.linalg.norm(corners[:, None] - src[None], axis=2), axis=1))) + 4.0
    tx0, ty0 = np.floor(tgt.min(axis=0) - reach).astype(int)
    tx1, ty1 = np.ceil(tgt.max(axis=0) + reach).astype(int)
    tx0, ty0, tx1, ty1 = max(0, int(tx0)), max(0, int(ty0)), min(w, int(tx1)), min(h, int(ty1))
    if tx1 <= tx0 or ty1 <= ty0:
        return None
    mx, my = rigid_mls_backward(tgt, src, (tx0, ty0, tx1, ty1))
    mx -= np.float32(x0)
    my -= np.float32(y0)
    return _composite(part, k, mx, my, np.zeros(mx.shape, bool), (tx0, ty0, tx1, ty1), cv)


# --------------------------------------------------------------------------------------------------------------------
# 6. metrics


def foldover_fraction(map_x: np.ndarray, map_y: np.ndarray, part: np.ndarray, figure: np.ndarray) -> float:
    """Share of figure pixels where the backward map's Jacobian determinant is ≤ 0 (the picture folds over itself).

    Finite differences of the dense backward map, taken only between pixels that the same part renders (the map
    jumps between parts by design; that is layering, not folding).
    """
    valid = figure[:-1, :-1] & (part[:-1, :-1] >= 0)
    valid &= (part[:-1, :-1] == part[:-1, 1:]) & (part[:-1, :-1] == part[1:, :-1])
    n = int(valid.sum())
    if n == 0:
        return 0.0
    dxx = map_x[:-1, 1:] - map_x[:-1, :-1]
    dyx = map_y[:-1, 1:] - map_y[:-1, :-1]
    dxy = map_x[1:, :-1] - map_x[:-1, :-1]
    dyy = map_y[1:, :-1] - map_y[:-1, :-1]
    det = dxx * dyy - dxy * dyx
    return float(((det <= 0) & valid).sum()) / n
