"""The CPU warp backend on a drawn figure whose skeleton is known exactly (no detector involved)."""

from __future__ import annotations

import math

import numpy as np

from gpu_worker.generate.base import Rendered
from gpu_worker.generate.warp import WarpBackend, foldover_fraction, prepare, warp

from .conftest import FOREARM_RGB, PRINT_BOX, Figure, figure_points, skeleton_from


def _moved(changes: dict[int, tuple[float, float]]) -> dict[int, tuple[float, float]]:
    p = figure_points()
    p.update(changes)
    return p


def _rotate_about(p: dict[int, tuple[float, float]], centre: int, joints: list[int], degrees: float) -> None:
    cx, cy = p[centre]
    a = math.radians(degrees)
    for j in joints:
        x, y = p[j][0] - cx, p[j][1] - cy
        p[j] = (cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a))


def _close(px: np.ndarray, rgb: tuple[int, int, int], tol: float = 40.0) -> bool:
    return float(np.linalg.norm(px.astype(float) - np.array(rgb))) < tol


def _raised_left_arm() -> dict[int, tuple[float, float]]:
    # subject's left arm out to the side (image right), nearly horizontal (horizontal, its hand would leave the
    # 400-px frame and the warp would move the figure back in)
    p = figure_points()
    _rotate_about(p, 11, [13, 15, 17, 19, 21], -68.0)
    return p


def test_output_has_the_input_size_and_reports(figure: Figure) -> None:
    out = WarpBackend().render(figure.image, figure.skeleton, [skeleton_from(_raised_left_arm())])
    assert len(out) == 1
    r = out[0]
    assert isinstance(r, Rendered)
    assert r.image.size == figure.image.size
    assert r.image.mode == "RGB"
    assert r.exact_mask is not None and r.exact_mask.shape == (600, 400)
    assert 0.0 <= r.uncovered_fraction < 0.1
    assert r.foldover_fraction == 0.0


def test_moving_an_arm_moves_its_pixels(figure: Figure) -> None:
    target = _raised_left_arm()
    rig = prepare(figure.image, figure.skeleton)
    out = np.asarray(warp(rig, skeleton_from(target)).image)
    # the middle of the forearm, where the target puts it, is forearm-coloured
    mx, my = (np.array(target[13]) + np.array(target[15])) / 2
    assert _close(out[int(my), int(mx)], FOREARM_RGB), out[int(my), int(mx)]
    # where the forearm was, it is gone (backdrop again)
    sx, sy = (np.array(figure_points()[13]) + np.array(figure_points()[15])) / 2
    assert not _close(out[int(sy), int(sx) + 3], FOREARM_RGB), out[int(sy), int(sx) + 3]
    # the other arm did not move
    src = np.asarray(figure.image)
    rx, ry = (np.array(figure_points()[14]) + np.array(figure_points()[16])) / 2
    assert _close(out[int(ry), int(rx)], tuple(src[int(ry), int(rx)]), tol=5)


def test_torso_print_is_copied_bit_for_bit(figure: Figure) -> None:
    r = warp(prepare(figure.image, figure.skeleton), skeleton_from(_raised_left_arm()))
    out, src = np.asarray(r.image), np.asarray(figure.image)
    x0, y0, x1, y1 = PRINT_BOX
    assert r.exact_mask is not None
    assert r.exact_mask[y0:y1, x0:x1].all()
    assert np.array_equal(out[r.exact_mask], src[r.exact_mask])
    assert np.array_equal(out[y0:y1, x0:x1], src[y0:y1, x0:x1])


def test_shifted_torso_keeps_its_print_exact(figure: Figure) -> None:
    # the whole figure 7 px right, 5 px down: a whole-pixel shift copies the print exactly, displaced
    p = {k: (x + 7, y + 5) for k, (x, y) in figure_points().items()}
    r = warp(prepare(figure.image, figure.skeleton), skeleton_from(p))
    out, src = np.asarray(r.image), np.asarray(figure.image)
    x0, y0, x1, y1 = PRINT_BOX
    assert np.array_equal(out[y0 + 5 : y1 + 5, x0 + 7 : x1 + 7], src[y0:y1, x0:x1])


def test_hand_on_hip_does_not_fold_and_the_arm_is_in_front(figure: Figure) -> None:
    # elbow out, forearm back in across the body's edge, wrist on the hip: the case a global warp folds over
    target = _moved({13: (292, 215), 15: (232, 290), 17: (222, 300), 19: (224, 302), 21: (230, 296)})
    r = warp(prepare(figure.image, figure.skeleton), skeleton_from(target))
    assert r.foldover_fraction == 0.0
    out = np.asarray(r.image)
    mx, my = (np.array(target[13]) + np.array(target[15])) / 2
    assert _close(out[int(my), int(mx)], FOREARM_RGB), out[int(my), int(mx)]
    assert r.extras["depth_order"].index("l_forearm") > r.extras["depth_order"].index("torso")


def test_fully_bent_elbow_stays_fold_free(figure: Figure) -> None:
    p = figure_points()
    _rotate_about(p, 13, [15, 17, 19, 21], 160.0)  # forearm folded back up against the upper arm
    r = warp(prepare(figure.image, figure.skeleton), skeleton_from(p))
    assert r.foldover_fraction == 0.0


def test_foldover_fraction_sees_a_mirrored_map() -> None:
    h, w = 20, 30
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    parts = np.zeros((h, w), np.int16)
    figure = np.ones((h, w), bool)
    assert foldover_fraction(gx, gy, parts, figure) == 0.0
    assert foldover_fraction(w - gx, gy, parts, figure) == 1.0  # a mirror: determinant −1 everywhere
    # a jump between two parts is layering, not folding
    parts[:, 15:] = 1
    assert foldover_fraction(np.where(gx < 15, gx, gx + 100), gy, parts, figure) == 0.0


def test_render_is_deterministic_and_reports_progress(figure: Figure) -> None:
    seen: list[float] = []
    targets = [skeleton_from(_raised_left_arm()), figure.skeleton]
    a = WarpBackend().render(figure.image, figure.skeleton, targets, progress=lambda f, s: seen.append(f))
    b = WarpBackend().render(figure.image, figure.skeleton, targets, seed=7)
    assert seen == [0.5, 1.0]
    assert all(np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a, b, strict=True))
    # the unchanged pose gives back (almost exactly) the photo
    diff = np.abs(np.asarray(a[1].image).astype(int) - np.asarray(figure.image).astype(int))
    assert np.mean(diff) < 1.0
