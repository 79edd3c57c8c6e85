"""Fixtures for the pose core: the shipped sample pictures, detected once per session, and a drawn penguin."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from gpu_worker.pose.detect import detect
from gpu_worker.pose.skeleton import Skeleton

SAMPLES = Path(__file__).resolve().parents[3] / "gpu_worker" / "assets" / "samples"
SAMPLE_NAMES = (
    "astronaut",
    "bussiness_woman_donna_i_01",
    "fitness_architetto_franc_01",
    "groom1_jarno_vasamaa_01",
    "kid_01",
    "woman_police_01_gerald_g_01",
)


def sample_path(name: str) -> Path:
    return SAMPLES / f"{name}.png"


@pytest.fixture(scope="session")
def detected() -> dict[str, Skeleton]:
    """Every sample's skeleton (real MediaPipe), detected once."""
    return {name: detect(sample_path(name)) for name in SAMPLE_NAMES}


def draw_penguin(w: int = 744, h: int = 1052, *, flipper_angle: float = 0.0) -> Image.Image:
    """A cartoon penguin (Tux-like: black body, white belly and eyes, orange beak and feet), in ellipses."""
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    s = min(w, h / 1.4) / 744
    cx, top = w / 2, (h - 1000 * s) / 2
    orange = (245, 160, 20)

    def ell(x0: float, y0: float, x1: float, y1: float, **kw: object) -> None:
        d.ellipse([cx + x0 * s, top + y0 * s, cx + x1 * s, top + y1 * s], **kw)  # type: ignore[arg-type]

    for side in (-1, 1):  # flippers: rotated ellipses as polygons
        a = math.radians(flipper_angle) * side
        pts = []
        for k in range(36):
            th = 2 * math.pi * k / 36
            ex, ey = 55 * math.cos(th), 190 * math.sin(th)
            x, y = ex * math.cos(a) - ey * math.sin(a), ex * math.sin(a) + ey * math.cos(a)
            pts.append((cx + (side * 235 + x) * s, top + (500 + y) * s))
        d.polygon(pts, fill="black")
    ell(-240, 860, -20, 960, fill=orange, outline="black", width=4)
    ell(20, 860, 240, 960, fill=orange, outline="black", width=4)
    ell(-250, 330, 250, 920, fill="black")
    ell(-180, 420, 180, 900, fill="white")
    ell(-150, 40, 150, 380, fill="black")
    ell(-100, 130, -10, 250, fill="white")
    ell(10, 130, 100, 250, fill="white")
    ell(-60, 175, -25, 225, fill="black")
    ell(25, 175, 60, 225, fill="black")
    ell(-80, 250, 80, 320, fill=orange, outline="black", width=3)
    return im
