"""Fixtures for the engine tests: a synthetic figure with a known skeleton, and the shipped samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gpu_worker.pose.skeleton import N_LANDMARKS, Skeleton

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "gpu_worker" / "assets" / "samples"

# colours of the synthetic figure's parts
TORSO_RGB = (220, 120, 40)
UPPER_ARM_RGB = (40, 70, 200)
FOREARM_RGB = (30, 170, 60)
LEG_RGB = (110, 80, 70)
SKIN_RGB = (240, 200, 170)
# the torso "print": a checkerboard whose pixels must survive bit for bit
PRINT_BOX = (184, 190, 216, 222)  # x0, y0, x1, y1


def figure_points() -> dict[int, tuple[float, float]]:
    """MediaPipe landmarks of the synthetic figure (subject's left = image right)."""
    p = {
        0: (200, 100), 1: (204, 92), 2: (207, 92), 3: (210, 92), 4: (196, 92), 5: (193, 92), 6: (190, 92),
        7: (216, 96), 8: (184, 96), 9: (205, 110), 10: (195, 110),
        11: (240, 150), 12: (160, 150), 13: (252, 222), 14: (148, 222), 15: (256, 292), 16: (144, 292),
        17: (260, 306), 18: (140, 306), 19: (257, 310), 20: (143, 310), 21: (251, 304), 22: (149, 304),
        23: (226, 300), 24: (174, 300), 25: (228, 400), 26: (172, 400), 27: (228, 500), 28: (172, 500),
        29: (226, 512), 30: (174, 512), 31: (246, 516), 32: (154, 516),
    }  # fmt: skip
    return p


def skeleton_from(points: dict[int, tuple[float, float]], w: int = 400, h: int = 600) -> Skeleton:
    pts = np.full((N_LANDMARKS, 2), np.nan)
    for i, xy in points.items():
        pts[i] = xy
    return Skeleton(pts, np.where(np.isfinite(pts[:, 0]), 1.0, 0.0), w, h)


def draw_figure(points: dict[int, tuple[float, float]] | None = None) -> Image.Image:
    """A flat-coloured figure on white: orange torso with a checkerboard print, blue upper arms, green forearms."""
    p = points or figure_points()
    im = Image.new("RGB", (400, 600), "white")
    d = ImageDraw.Draw(im)

    def line(a: int, b: int, colour: tuple[int, int, int], width: int) -> None:
        d.line([p[a], p[b]], fill=colour, width=width)
        for j in (a, b):
            d.ellipse([p[j][0] - width / 2, p[j][1] - width / 2, p[j][0] + width / 2, p[j][1] + width / 2], fill=colour)

    line(23, 25, LEG_RGB, 30)
    line(25, 27, LEG_RGB, 26)
    line(24, 26, LEG_RGB, 30)
    line(26, 28, LEG_RGB, 26)
    d.polygon([(236, 140), (164, 140), (170, 312), (230, 312)], fill=TORSO_RGB)
    x0, y0, x1, y1 = PRINT_BOX
    for yy in range(y0, y1, 4):
        for xx in range(x0, x1, 4):
            if ((xx - x0) // 4 + (yy - y0) // 4) % 2 == 0:
                d.rectangle([xx, yy, xx + 3, yy + 3], fill=(10, 10, 10))
            else:
                d.rectangle([xx, yy, xx + 3, yy + 3], fill=(250, 250, 90))
    d.ellipse([170, 62, 230, 128], fill=SKIN_RGB)
    line(11, 13, UPPER_ARM_RGB, 20)
    line(12, 14, UPPER_ARM_RGB, 20)
    line(13, 15, FOREARM_RGB, 16)
    line(14, 16, FOREARM_RGB, 16)
    for w_ in (15, 16):
        d.ellipse([p[w_][0] - 9, p[w_][1] - 2, p[w_][0] + 9, p[w_][1] + 20], fill=SKIN_RGB)
    return im


@dataclass(frozen=True)
class Figure:
    image: Image.Image
    skeleton: Skeleton


@pytest.fixture()
def figure() -> Figure:
    return Figure(draw_figure(), skeleton_from(figure_points()))


def sample(name: str) -> Path:
    return SAMPLES_DIR / f"{name}.png"
