"""Quality check: OKS / PCK arithmetic on canned keypoints, and the full check on real pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gpu_worker.generate.base import Rendered
from gpu_worker.pose.detect import detect
from gpu_worker.pose.image_io import load_image
from gpu_worker.pose.skeleton import Skeleton
from gpu_worker.quality import (
    COCO_SIGMAS,
    check,
    colour_distance,
    colour_stats,
    oks,
    pck,
    swapped,
)

from .conftest import figure_points, sample, skeleton_from


def _shift(sk: Skeleton, dx: float, dy: float = 0.0) -> Skeleton:
    return sk.with_points(sk.points + np.array([dx, dy]))


def test_identical_keypoints_score_one() -> None:
    sk = skeleton_from(figure_points())
    assert oks(sk, sk, area=20_000) == pytest.approx(1.0)
    assert pck(sk, sk) == pytest.approx(1.0)


def test_far_keypoints_score_low() -> None:
    sk = skeleton_from(figure_points())
    far = _shift(sk, 200.0)
    assert oks(far, sk, area=20_000) < 0.01
    assert pck(far, sk) == 0.0


def test_oks_matches_the_coco_formula() -> None:
    sk = skeleton_from(figure_points())
    area, d = 20_000.0, 6.0
    moved = _shift(sk, d)
    expected = float(np.mean(np.exp(-(d**2) / (2 * area * (2 * COCO_SIGMAS) ** 2))))
    assert oks(moved, sk, area=area) == pytest.approx(expected, rel=1e-9)


def test_pck_threshold_is_a_tenth_of_the_bbox() -> None:
    sk = skeleton_from(figure_points())
    x0, y0, x1, y1 = sk.bbox()
    size = max(x1 - x0, y1 - y0)
    assert pck(_shift(sk, 0.09 * size), sk) == 1.0
    assert pck(_shift(sk, 0.11 * size), sk) == 0.0


def test_only_joints_the_target_has_count() -> None:
    sk = skeleton_from(figure_points())
    vis = sk.visibility.copy()
    vis[[25, 26, 27, 28]] = 0.0  # the target has no knees or ankles (a waist-up crop)
    target = sk.with_points(sk.points, vis)
    det = sk.with_points(sk.points.copy())
    pts = det.points.copy()
    pts[[25, 26, 27, 28]] += 300.0  # wherever the output's legs are does not matter
    assert oks(det.with_points(pts), target, area=20_000) == pytest.approx(1.0)


def test_a_missing_joint_in_the_output_scores_zero_for_it() -> None:
    sk = skeleton_from(figure_points())
    pts = sk.points.copy()
    pts[15] = np.nan  # the output lost the left wrist (COCO index 9)
    score = oks(sk.with_points(pts), sk, area=20_000)
    assert score == pytest.approx(16 / 17)


def test_left_right_swap_is_told_apart() -> None:
    sk = skeleton_from(figure_points())
    assert oks(swapped(sk), sk, area=20_000) < 0.3
    assert oks(swapped(sk), swapped(sk), area=20_000) == pytest.approx(1.0)


def test_colour_distance() -> None:
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :20] = (200, 30, 30)
    rgb[:, 20:] = (30, 30, 200)
    mask = np.ones((40, 40), bool)
    same = colour_stats(rgb, mask)
    assert colour_distance(same, same) == 0.0
    assert colour_distance(same, colour_stats(255 - rgb, mask)) > 30


# -- the full check, with the real detector -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def groom() -> tuple[Image.Image, Skeleton]:
    im = load_image(sample("groom1_jarno_vasamaa_01"))
    return im, detect(im)


def test_the_photo_itself_passes_against_its_own_skeleton(groom: tuple[Image.Image, Skeleton]) -> None:
    im, sk = groom
    q = check(im, sk, Rendered(image=im), im, sk)
    assert q.passed, q.reasons
    assert q.oks > 0.95 and q.pck == 1.0
    assert q.detected is not None


def test_no_person_in_the_output_fails(groom: tuple[Image.Image, Skeleton]) -> None:
    im, sk = groom
    blank = Image.new("RGB", im.size, "white")
    q = check(blank, sk, Rendered(image=blank), im, sk)
    assert not q.passed
    assert "no person re-detected in the output" in q.reasons
    assert q.oks == 0.0


def test_swapped_labels_fail_as_a_swap(groom: tuple[Image.Image, Skeleton]) -> None:
    im, sk = groom
    q = check(im, swapped(sk), Rendered(image=im), im, sk)
    assert not q.passed
    assert any("left and right swapped" in r for r in q.reasons), q.reasons


def test_a_broken_output_fails_even_with_the_right_pose(groom: tuple[Image.Image, Skeleton]) -> None:
    # pose agreement alone must not pass a folded, smeared picture (notes A6)
    im, sk = groom
    r = Rendered(image=im, foldover_fraction=0.2, uncovered_fraction=0.3)
    q = check(im, sk, r, im, sk)
    assert q.oks > 0.9
    assert not q.passed
    assert any("fold-over" in x for x in q.reasons) and any("filled in" in x for x in q.reasons)


def test_recoloured_figure_fails(groom: tuple[Image.Image, Skeleton]) -> None:
    im, sk = groom
    arr = np.asarray(im).copy()
    arr[..., 0] = 255 - arr[..., 0]  # garment colours inverted in one channel
    out = Image.fromarray(arr)
    q = check(out, sk, Rendered(image=out), im, sk)
    assert not q.passed
    assert any("colours changed" in x for x in q.reasons), q.reasons
    assert q.to_dict()["passed"] is False
