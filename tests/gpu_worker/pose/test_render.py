"""render: the OpenPose control image (colours, limb order, missing joints), overlay and gallery figure."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gpu_worker.pose.authoring import PoseAngles, build_skeleton
from gpu_worker.pose.library import load_pose_set
from gpu_worker.pose.render import (
    COLORS,
    LIMB_SEQ,
    draw_overlay,
    line_width_for,
    render_figure,
    render_openpose,
)
from gpu_worker.pose.skeleton import Skeleton


def _t_pose() -> Skeleton:
    # Arms straight out: every OpenPose limb is long and apart from the others.
    return build_skeleton(
        PoseAngles(l_arm=90, l_fore=90, r_arm=90, r_fore=90, l_thigh=20, r_thigh=20, l_shin=20, r_shin=20)
    )


def test_limbseq_and_colours_are_controlnet_auxs() -> None:
    assert len(LIMB_SEQ) == 17 and len(COLORS) == 18
    assert LIMB_SEQ[0] == (2, 3) and LIMB_SEQ[12] == (2, 1) and LIMB_SEQ[16] == (16, 18)
    assert COLORS[0] == (255, 0, 0) and COLORS[12] == (0, 0, 255) and COLORS[17] == (255, 0, 85)


def test_limbs_are_dimmed_colours_and_joints_full_colours() -> None:
    sk = _t_pose()
    img = np.asarray(render_openpose(sk))
    assert img.shape == (sk.height, sk.width, 3)
    op = sk.openpose18()
    # Limb i: its colour × 0.6 at the point a third along the limb (clear of both joint circles).
    for i, (a, b) in enumerate(LIMB_SEQ):
        if i in (13, 14, 15, 16, 12):  # head limbs are short and overlap each other
            continue
        p = op[a - 1, :2] + (op[b - 1, :2] - op[a - 1, :2]) * 0.4
        expected = [int(float(c) * 0.6) for c in COLORS[i]]
        assert list(img[int(p[1]), int(p[0])]) == expected, f"limb {i} {a}-{b}"
    # Joints drawn last, in full colour.
    for k in (2, 3, 4, 5, 6, 7, 9, 10, 12, 13):
        x, y = int(op[k, 0]), int(op[k, 1])
        assert tuple(img[y, x]) == COLORS[k], f"joint {k}"
    assert tuple(img[5, 5]) == (0, 0, 0)


def test_missing_joints_and_their_limbs_are_skipped() -> None:
    sk = _t_pose()
    vis = sk.visibility.copy()
    vis[[14, 16, 18, 20, 22]] = 0.0  # right elbow, wrist and hand missing
    img = np.asarray(render_openpose(sk.with_points(sk.points, vis)))
    op = sk.openpose18()
    for k in (3, 4):  # OpenPose right elbow, right wrist
        x, y = int(op[k, 0]), int(op[k, 1])
        assert img[y - 6 : y + 7, x - 6 : x + 7].max() == 0
    # The upper arm (limb 2, right shoulder → right elbow) is gone too; the left one is still drawn.
    p = (op[2, :2] + op[3, :2]) / 2
    assert tuple(img[int(p[1]), int(p[0])]) == (0, 0, 0)
    p = (op[5, :2] + op[6, :2]) / 2
    assert img[int(p[1]), int(p[0])].max() > 0


def test_render_scales_to_the_requested_size_and_line_width() -> None:
    sk = _t_pose()
    img = render_openpose(sk, width=512, height=512, stick_width=line_width_for(512, 512))
    assert img.size == (512, 512) and img.mode == "RGB"
    thin = np.asarray(render_openpose(sk, width=512, height=512)).any(axis=2).sum()
    thick = np.asarray(img).any(axis=2).sum()
    assert thick > 1.5 * thin


@pytest.mark.parametrize(
    ("size", "width"),
    [((499, 300), 4), ((512, 512), 8), ((1024, 768), 12), ((2048, 2048), 16), ((6000, 10), 28)],
)
def test_line_width_follows_xinsirs_rule(size: tuple[int, int], width: int) -> None:
    assert line_width_for(*size) == width


def test_overlay_draws_on_the_photo() -> None:
    sk = _t_pose()
    photo = Image.new("RGB", (sk.width, sk.height), (120, 120, 120))
    out = draw_overlay(photo, sk)
    arr = np.asarray(out)
    assert out.size == photo.size
    assert tuple(arr[2, 2]) == (120, 120, 120)
    op = sk.openpose18()
    assert tuple(arr[int(op[1, 1]), int(op[1, 0])]) != (120, 120, 120)
    # A photo of another size: the skeleton is scaled to it.
    assert draw_overlay(photo.resize((300, 300)), sk).size == (300, 300)


def test_figure_for_every_builtin_pose() -> None:
    for pose in load_pose_set("mascot").poses:
        img = render_figure(pose, size=(128, 160))
        arr = np.asarray(img)
        assert img.size == (128, 160)
        assert (arr < 200).any() and tuple(arr[0, 0]) == (255, 255, 255)
