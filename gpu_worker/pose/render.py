"""Pictures of skeletons: the OpenPose control image ControlNets expect, an overlay, a gallery figure.

`render_openpose` reproduces controlnet_aux 0.0.10 `open_pose/util.py::draw_bodypose` (Apache-2.0) exactly:
black canvas, 17 limbs as filled ellipses in colour × 0.6, then the 18 joints as filled circles in full colour
(notes B9). The line width is a per-model setting: xinsir's SDXL openpose model wants thicker lines
(`line_width_for`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from gpu_worker.pose.skeleton import BONES, HEAD, L_EAR, NOSE, R_EAR, Skeleton

if TYPE_CHECKING:
    from gpu_worker.pose.library import Pose

# controlnet_aux `limbSeq` (1-based OpenPose-18 indices); only these 17 are drawn.
LIMB_SEQ: tuple[tuple[int, int], ...] = (
    (2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12), (12, 13), (13, 14),
    (2, 1), (1, 15), (15, 17), (1, 16), (16, 18),
)  # fmt: skip
# controlnet_aux `colors` (RGB); limb i uses COLORS[i] × 0.6, joint j uses COLORS[j].
COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip


def line_width_for(width: int, height: int) -> int:
    """Stick width (and joint radius) for a control image of this size: xinsir's 4 × ratio (notes B9)."""
    side = max(width, height)
    for ratio, bound in enumerate((500, 1000, 2000, 3000, 4000, 5000), start=1):
        if side < bound:
            return 4 * ratio
    return 4 * 7


def render_openpose(
    skeleton: Skeleton,
    *,
    width: int | None = None,
    height: int | None = None,
    stick_width: int = 4,
    joint_radius: int = 4,
) -> Image.Image:
    """The OpenPose-18 control image of `skeleton` (scaled to `width` × `height`, default its frame)."""
    w = int(width or skeleton.width)
    h = int(height or skeleton.height)
    kp = skeleton.openpose18()
    # Normalized then × W/H, as controlnet_aux does.
    xs = kp[:, 0] / skeleton.width * w
    ys = kp[:, 1] / skeleton.height * h
    present = kp[:, 2] > 0
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    for (a, b), color in zip(LIMB_SEQ, COLORS, strict=False):
        i, j = a - 1, b - 1
        if not (present[i] and present[j]):
            continue
        # controlnet_aux swaps the names (X = y, Y = x); kept literally so the rounding is identical.
        Y = np.array([xs[i], xs[j]])
        X = np.array([ys[i], ys[j]])
        m_x, m_y = np.mean(X), np.mean(Y)
        length = ((X[0] - X[1]) ** 2 + (Y[0] - Y[1]) ** 2) ** 0.5
        angle = math.degrees(math.atan2(X[0] - X[1], Y[0] - Y[1]))
        polygon = cv2.ellipse2Poly(
            (int(m_y), int(m_x)), (int(length / 2), stick_width), int(angle), 0, 360, 1
        )
        cv2.fillConvexPoly(canvas, np.asarray(polygon, np.int32), [float(int(float(c) * 0.6)) for c in color])
    for k, color in enumerate(COLORS):
        if present[k]:
            cv2.circle(canvas, (int(xs[k]), int(ys[k])), joint_radius, color, thickness=-1)
    return Image.fromarray(canvas, "RGB")


def draw_overlay(photo: Image.Image, skeleton: Skeleton, *, alpha: float = 0.8) -> Image.Image:
    """`photo` with the skeleton drawn over it (OpenPose colours plus hands and feet), for people to check."""
    base = photo.convert("RGB")
    w, h = base.size
    sk = skeleton if (skeleton.width, skeleton.height) == (w, h) else skeleton.scaled_to(w, h)
    lw = max(2, line_width_for(w, h) // 2)
    layer = np.asarray(render_openpose(sk, stick_width=lw, joint_radius=lw + 1)).copy()
    # Hands and feet (not part of OpenPose-18) as thin white lines.
    vis = sk.visible()
    for a, b in BONES:
        if (a in (15, 16, 27, 28)) and vis[a] and vis[b]:
            pa = tuple(int(round(c)) for c in sk.points[a])
            pb = tuple(int(round(c)) for c in sk.points[b])
            cv2.line(layer, pa, pb, (255, 255, 255), max(1, lw // 2), cv2.LINE_AA)
    drawn = layer.any(axis=2)
    photo_arr = np.asarray(base).astype(np.float32)
    out = photo_arr.copy()
    out[drawn] = (1 - alpha) * photo_arr[drawn] + alpha * layer[drawn].astype(np.float32)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


_LEFT_COLOUR = (40, 110, 220)  # subject's left: blue
_RIGHT_COLOUR = (230, 120, 30)  # subject's right: orange
_MID_COLOUR = (60, 60, 60)


def render_figure(pose_or_skeleton: Pose | Skeleton, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """A clean stick figure on white, fitted into `size` (subject's left in blue, right in orange)."""
    sk = pose_or_skeleton if isinstance(pose_or_skeleton, Skeleton) else pose_or_skeleton.skeleton
    w, h = int(size[0]), int(size[1])
    ss = 3  # supersampling for smooth lines
    canvas = np.full((h * ss, w * ss, 3), 255, dtype=np.uint8)
    vis = sk.visible()
    if vis.any():
        x0, y0, x1, y1 = sk.bbox()
        head_r = _head_radius(sk)
        x0, y0, x1, y1 = x0 - head_r, y0 - head_r, x1 + head_r, y1 + head_r
        margin = 0.06 * min(w, h)
        scale = min((w - 2 * margin) / max(x1 - x0, 1e-6), (h - 2 * margin) / max(y1 - y0, 1e-6))
        off = np.array([w / 2 - scale * (x0 + x1) / 2, h / 2 - scale * (y0 + y1) / 2])
        pts = (sk.points * scale + off) * ss
        thick = max(2, int(round(min(w, h) / 60 * ss)))

        def ipt(i: int) -> tuple[int, int]:
            return int(round(pts[i, 0])), int(round(pts[i, 1]))

        for a, b in BONES:
            if a in HEAD and b in HEAD:
                continue
            if vis[a] and vis[b]:
                colour = _LEFT_COLOUR if b % 2 == 1 and b > 10 else _RIGHT_COLOUR if b > 10 else _MID_COLOUR
                if (a, b) in ((11, 12), (23, 24), (11, 23), (12, 24)):
                    colour = _MID_COLOUR
                cv2.line(canvas, ipt(a), ipt(b), colour, thick, cv2.LINE_AA)
        head = [i for i in HEAD if vis[i]]
        if head:
            centre = pts[head].mean(axis=0)
            cv2.circle(
                canvas,
                (int(centre[0]), int(centre[1])),
                int(head_r * scale * ss),
                _MID_COLOUR,
                thick,
                cv2.LINE_AA,
            )
            if vis[NOSE]:
                cv2.circle(canvas, ipt(NOSE), thick, _MID_COLOUR, -1, cv2.LINE_AA)
        for i in range(11, 33):
            if vis[i]:
                cv2.circle(canvas, ipt(i), thick, _LEFT_COLOUR if i % 2 else _RIGHT_COLOUR, -1, cv2.LINE_AA)
    img = Image.fromarray(canvas, "RGB")
    return img.resize((w, h), Image.Resampling.LANCZOS)


def _head_radius(sk: Skeleton) -> float:
    vis = sk.visible()
    if vis[L_EAR] and vis[R_EAR]:
        return 0.75 * float(np.hypot(*(sk.points[L_EAR] - sk.points[R_EAR])))
    neck = sk.neck()
    if neck is not None and vis[NOSE]:
        return 0.6 * float(np.hypot(*(sk.points[NOSE] - neck)))
    x0, y0, x1, y1 = sk.bbox()
    return 0.06 * max(x1 - x0, y1 - y0, 1.0)
