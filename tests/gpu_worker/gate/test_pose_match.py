"""Pose agreement measures of the gate (gpu_worker.gate.pose_match): COCO OKS, PCK, left/right swap."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.gate.pose_match import COCO_SIGMAS, oks, pck, swapped
from gpu_worker.pose.skeleton import Skeleton

from ..conftest import figure_points, skeleton_from


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
