"""Defect classes of the warp backend, each on a real figure through the engine (real detector, real retarget).

Kept cheap: small working size, one or two poses per figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gpu_worker.engine import ReposeResult, repose
from gpu_worker.pose.library import load_pose_set
from gpu_worker.pose.skeleton import Skeleton

from .conftest import sample

SIZE = 448


def _backdrop_distance(rgb: np.ndarray) -> np.ndarray:
    """Per pixel, how far its colour is from the (white) backdrop."""
    return np.linalg.norm(rgb.astype(np.float32) - 255.0, axis=2)


@pytest.fixture(scope="module")
def skirt() -> ReposeResult:
    # a walking business woman in a pencil skirt, into calm stances (legs together, weight on one leg)
    return repose(
        sample("bussiness_woman_donna_i_01"),
        load_pose_set("catalog-basics"),
        poses=["front-relaxed", "weight-shift"],
        max_size=SIZE,
    )


def test_a_skirt_stays_one_piece_between_the_legs(skirt: ReposeResult) -> None:
    src = np.asarray(skirt.image).astype(np.float32)
    s = skirt.source.points
    # the skirt's colour: below the middle of the hips in the source
    hips = (s[23] + s[24]) / 2.0
    skirt_rgb = src[int(hips[1] + 0.1 * (s[25, 1] - s[23, 1])), int(hips[0])]
    for out in skirt.outputs:
        rgb = np.asarray(out.rendered.image).astype(np.float32)
        t = out.target.points
        # a third of the way down the thighs, between them: still skirt. Cut along the legs (the old warp), the
        # skirt came out as two short trouser legs with stockings between them.
        for frac in (0.3, 0.35):
            left = t[23] + frac * (t[25] - t[23])
            right = t[24] + frac * (t[26] - t[24])
            pts = np.round(np.linspace(right, left, 20)[6:-6]).astype(int)
            same = np.linalg.norm(rgb[pts[:, 1], pts[:, 0]] - skirt_rgb, axis=1) < 60
            assert same.mean() >= 0.85, (out.pose.id, frac, same)


def test_a_skirt_spanning_both_legs_does_not_fold(skirt: ReposeResult) -> None:
    for out in skirt.outputs:
        assert out.rendered.foldover_fraction < 0.005, out.pose.id


@pytest.fixture(scope="module")
def arms_out() -> ReposeResult:
    # a narrow portrait picture (standing police woman) into arms stretched out sideways: wider than the frame
    return repose(
        sample("woman_police_01_gerald_g_01"), load_pose_set("activewear"), poses=["t-pose"], max_size=SIZE
    )


def test_a_wide_pose_is_not_cut_by_the_frame(arms_out: ReposeResult) -> None:
    out = arms_out.outputs[0]
    rgb = np.asarray(out.rendered.image)
    figure = _backdrop_distance(rgb) > 40
    # no figure on the left, right or top edge (the source figure touched none of them)
    assert not figure[:, :2].any() and not figure[:, -2:].any() and not figure[:2, :].any()
    # and the hands are in the picture: the figure reaches out to (about) where the target puts the wrists
    xs = np.nonzero(figure.any(axis=0))[0]
    wrists = out.target.points[[15, 16], 0]
    assert xs.min() <= wrists.min() + 2 and xs.max() >= wrists.max() - 2


CALIBRATION = Path(__file__).resolve().parents[2] / "gpu_worker" / "assets" / "calibration"


def _placed(name: str) -> Skeleton:
    """The skeleton placed by hand on a calibration figure (as the pose editor saves it)."""
    return Skeleton.from_dict(json.loads((CALIBRATION / "skeletons" / f"{name}.json").read_text()))


def test_a_figure_seen_from_the_side_is_skipped_with_a_reason() -> None:
    # a leaping ballerina turned sideways (real detector): the warp cannot turn her to face the camera
    result = repose(CALIBRATION / "ballerina_architetto_fra_01.png", load_pose_set("catalog-basics"), max_size=SIZE)
    assert result.outputs == []
    assert len(result.skipped) == 5
    for s in result.skipped:
        assert s.reason.startswith("needs the diffusion backend: the figure is turned sideways"), s.reason


def test_a_statue_with_a_hand_placed_skeleton_is_skipped_when_turned() -> None:
    # the detector finds nobody on this line-art statue; the merchant placed the skeleton by hand
    result = repose(
        CALIBRATION / "hygieia_peterm_01.png",
        load_pose_set("catalog-basics"),
        poses=["front-relaxed"],
        max_size=SIZE,
        source_skeleton=_placed("hygieia_peterm_01"),
    )
    assert result.outputs == [] and "turned sideways" in result.skipped[0].reason


def test_a_mascot_re_poses_from_a_hand_placed_skeleton() -> None:
    # big head, short legs, no detection: the skeleton placed in the pose editor drives the warp end to end
    result = repose(
        CALIBRATION / "police_man_ganson.png",
        load_pose_set("catalog-basics"),
        poses=["front-relaxed", "hands-on-hips"],
        max_size=SIZE,
        source_skeleton=_placed("police_man_ganson"),
    )
    assert [o.pose.id for o in result.outputs] == ["front-relaxed", "hands-on-hips"]
    for out in result.outputs:
        assert out.rendered.image.size == result.image.size
        fig = _backdrop_distance(np.asarray(out.rendered.image)) > 40
        # the raised hand came down: nothing of the figure is cut by the top or the sides
        assert not fig[:2].any() and not fig[:, :2].any() and not fig[:, -2:].any(), out.pose.id
        assert out.rendered.foldover_fraction < 0.005


def test_a_skeleton_standing_on_its_head_is_refused_not_drawn_upside_down() -> None:
    # a skeleton with the hips above the shoulders (older detector builds fitted one onto the architect mascot; a
    # merchant can place one): the old warp turned every output over to match it
    placed = _placed("police_man_ganson")
    pts = placed.points.copy()
    pts[:, 1] = placed.height - pts[:, 1]
    result = repose(
        CALIBRATION / "police_man_ganson.png",
        load_pose_set("catalog-basics"),
        poses=["front-relaxed"],
        max_size=SIZE,
        source_skeleton=placed.with_points(pts),
    )
    assert result.outputs == []
    assert "upside down" in result.skipped[0].reason and "by hand" in result.skipped[0].reason


def test_an_object_joined_to_the_figure_is_refused_not_torn() -> None:
    # a smith behind his anvil: the anvil is joined to the figure's outline and the old warp tore it apart with the
    # legs (pieces of anvil flying with each shin)
    result = repose(
        CALIBRATION / "blacksmiti_ganson.png", load_pose_set("catalog-basics"), poses=["front-relaxed"], max_size=SIZE
    )
    assert result.outputs == []
    assert "a large object is joined to the figure" in result.skipped[0].reason


def test_a_hand_taken_off_the_hip_leaves_no_fingers_behind() -> None:
    # the fitness sample rests a hand on her hip; its fingers lie on the leotard, outside the hand's landmarks. The
    # old warp left them on the hip (a ghost hand) when the arm came down.
    result = repose(
        sample("fitness_architetto_franc_01"), load_pose_set("catalog-basics"), poses=["front-relaxed"], max_size=640
    )
    src = np.asarray(result.image).astype(np.float32)
    s = result.source.points
    reach = 1.6 * float(np.linalg.norm(s[[18, 20, 22]].mean(axis=0) - s[16]))
    yy, xx = np.mgrid[0 : src.shape[0], 0 : src.shape[1]].astype(np.float32)
    skin = np.median(src[np.hypot(xx - s[16, 0], yy - s[16, 1]) < 0.3 * reach], axis=0)
    out = result.outputs[0]
    rgb = np.asarray(out.rendered.image).astype(np.float32)
    t = out.target.points
    # the lower half of the target's torso, away from where the target puts the arms: no skin there
    lower = np.zeros(rgb.shape[:2], np.uint8)
    quad = [(t[11] + t[23]) / 2, (t[12] + t[24]) / 2, t[24], t[23]]
    cv2.fillConvexPoly(lower, np.round(np.array(quad)).astype(np.int32), 1)
    arms = np.zeros(rgb.shape[:2], bool)
    for a, b in ((11, 13), (13, 15), (12, 14), (14, 16), (15, 19), (16, 20)):
        d = t[b] - t[a]
        u = np.clip(((xx - t[a, 0]) * d[0] + (yy - t[a, 1]) * d[1]) / max(float(d @ d), 1e-9), 0.0, 1.0)
        arms |= np.hypot(xx - t[a, 0] - u * d[0], yy - t[a, 1] - u * d[1]) < 0.6 * reach
    ghost = (lower > 0) & ~arms & (np.linalg.norm(rgb - skin, axis=2) < 60)
    assert ghost.sum() < 40, ghost.sum()


def test_a_long_prop_in_the_hand_is_refused_not_broken_off() -> None:
    # the fairy's wand sticks out far past her hand: the old warp left its star behind as a smear at the top
    result = repose(
        CALIBRATION / "fata_fatina_architetto_f_01.png",
        load_pose_set("catalog-basics"),
        poses=["front-relaxed"],
        max_size=SIZE,
        source_skeleton=_placed("fata_fatina_architetto_f_01"),
    )
    assert result.outputs == []
    assert "holds a long prop" in result.skipped[0].reason
