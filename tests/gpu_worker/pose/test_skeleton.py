"""Skeleton: format mappings, JSON round trip, copies, plausibility — on canned skeletons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpu_worker.errors import ImplausibleSkeleton, PoseLibraryError
from gpu_worker.pose.authoring import CHIBI, PoseAngles, build_skeleton
from gpu_worker.pose.skeleton import (
    BONES,
    COCO17_FROM_MP,
    MIRROR,
    MP_LANDMARKS,
    OPENPOSE18_NAMES,
    Skeleton,
    check_plausible,
    missing_skeleton,
)


def _numbered() -> Skeleton:
    """Joint i at (10 + i, 100 + i): every mapping can be read back from the coordinates."""
    i = np.arange(33, dtype=float)
    return Skeleton(points=np.stack([10 + i, 100 + i], axis=1), visibility=np.ones(33), width=200, height=300)


def test_landmark_names_follow_mediapipe() -> None:
    assert len(MP_LANDMARKS) == 33
    assert (
        MP_LANDMARKS[0] == "nose"
        and MP_LANDMARKS[11] == "left_shoulder"
        and MP_LANDMARKS[32] == "right_foot_index"
    )


def test_openpose18_order_and_neck() -> None:
    op = _numbered().openpose18()
    expected_mp = [0, None, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7]
    for k, mp in enumerate(expected_mp):
        if mp is None:
            assert op[k, 0] == pytest.approx(10 + 11.5) and op[k, 1] == pytest.approx(100 + 11.5)
        else:
            assert op[k, 0] == 10 + mp, OPENPOSE18_NAMES[k]
            assert MP_LANDMARKS[mp].split("_")[0] in OPENPOSE18_NAMES[k] or mp == 0
    assert (op[:, 2] == 1).all()


def test_openpose18_missing_joints_have_zero_confidence() -> None:
    sk = _numbered()
    vis = np.ones(33)
    vis[12] = 0.2  # right shoulder weakly seen → missing; the neck needs both shoulders
    vis[16] = 0.0
    op = sk.with_points(sk.points, vis).openpose18()
    assert op[2, 2] == 0 and op[1, 2] == 0 and op[4, 2] == 0
    assert (op[[2, 1, 4], :2] == 0).all()
    assert op[5, 2] == 1


def test_coco17_order() -> None:
    coco = _numbered().coco17()
    assert list(coco[:, 0] - 10) == list(COCO17_FROM_MP)
    assert list(COCO17_FROM_MP) == [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


def test_mirror_is_an_involution_that_swaps_sides() -> None:
    assert sorted(MIRROR) == list(range(33))
    assert all(MIRROR[MIRROR[i]] == i for i in range(33))
    for i, name in enumerate(MP_LANDMARKS):
        other = MP_LANDMARKS[MIRROR[i]]
        assert other == name.replace("left", "@").replace("right", "left").replace("@", "right")


def test_bones_form_a_limb_tree_over_real_indices() -> None:
    assert all(0 <= a < 33 and 0 <= b < 33 for a, b in BONES)
    children = {b for _, b in BONES}
    assert set(range(33)) - {11, 12, 23} <= children  # everything hangs from the torso
    assert (11, 13) in BONES and (13, 15) in BONES and (25, 27) in BONES and (27, 31) in BONES


def test_json_round_trip_keeps_missing_joints_missing() -> None:
    sk = build_skeleton(PoseAngles())
    pts = sk.points.copy()
    vis = sk.visibility.copy()
    pts[27:] = np.nan
    vis[5] = 0.3
    sk = sk.with_points(pts, vis)
    d = json.loads(json.dumps(sk.to_dict()))
    back = Skeleton.from_dict(d)
    assert (back.width, back.height) == (sk.width, sk.height)
    assert np.array_equal(back.visible(), sk.visible())
    assert np.allclose(back.points[:27], sk.points[:27], atol=1e-3)
    assert np.isnan(back.points[27:]).all() and d["landmarks"][30] is None
    assert back.visibility[5] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ([], "JSON object"),
        ({"width": 0, "height": 10, "landmarks": []}, "'width'"),
        ({"width": 10, "height": 10, "landmarks": [[0.5, 0.5, 1]] * 32}, "33"),
        ({"width": 10, "height": 10, "landmarks": [[0.5, 0.5, 1]] * 32 + [[0.5, 9, 1]]}, "right_foot_index"),
        ({"width": 10, "height": 10, "landmarks": [[0.5, 0.5, 1]] * 32 + [["a", 0.5]]}, "numbers"),
        ({"width": 10, "height": 10, "landmarks": [[0.5, 0.5, 2]] * 33}, "visibility"),
        ({"width": 10, "height": 10, "landmarks": [[0.5]] * 33}, "nose"),
    ],
)
def test_from_dict_rejects_bad_documents(bad: object, words: str) -> None:
    with pytest.raises(PoseLibraryError) as info:
        Skeleton.from_dict(bad)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_copies_bbox_and_scaling() -> None:
    sk = _numbered()
    assert sk.bbox() == (10.0, 100.0, 42.0, 132.0)
    big = sk.scaled_to(400, 600)
    assert big.bbox() == (20.0, 200.0, 84.0, 264.0) and (big.width, big.height) == (400, 600)
    moved = sk.with_points(sk.points + 1)
    assert moved.bbox()[0] == 11.0 and sk.bbox()[0] == 10.0
    with pytest.raises(ValueError, match="read-only"):
        sk.points[0, 0] = 5
    assert missing_skeleton(10, 10).bbox() == (0.0, 0.0, 0.0, 0.0)


def test_mask_is_resized_with_the_frame() -> None:
    sk = _numbered()
    masked = Skeleton(sk.points, sk.visibility, 200, 300, mask=np.ones((300, 200), np.float32))
    assert masked.scaled_to(100, 150).mask.shape == (150, 100)
    assert "mask" not in masked.to_dict()
    with pytest.raises(ValueError, match="mask shape"):
        Skeleton(sk.points, sk.visibility, 200, 300, mask=np.ones((10, 10), np.float32))


def test_plausibility_accepts_adults_and_chibis() -> None:
    check_plausible(build_skeleton(PoseAngles()))
    check_plausible(build_skeleton(PoseAngles(), proportions=CHIBI))


def _distorted(fn) -> Skeleton:  # type: ignore[no-untyped-def]
    sk = build_skeleton(PoseAngles())
    pts = sk.points.copy()
    fn(pts)
    return sk.with_points(pts)


@pytest.mark.parametrize(
    ("name", "distort"),
    [
        ("one arm four times the other", lambda p: p.__setitem__(13, p[11] + (p[13] - p[11]) * 4)),
        ("shin as long as three torsos", lambda p: p.__setitem__(27, p[25] + (p[27] - p[25]) * 6)),
        (
            "hips far wider than shoulders",
            lambda p: (p.__setitem__(23, p[23] + (400, 0)), p.__setitem__(24, p[24] - (400, 0))),
        ),
        ("no head", lambda p: p.__setitem__(slice(0, 11), np.nan)),
        ("no shoulders", lambda p: p.__setitem__(slice(11, 13), np.nan)),
    ],
)
def test_plausibility_rejects_non_human_figures(name: str, distort) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImplausibleSkeleton) as info:
        check_plausible(_distorted(distort))
    assert "\n" not in str(info.value) and "pose editor" in str(info.value)
