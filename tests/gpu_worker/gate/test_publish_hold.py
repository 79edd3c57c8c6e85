"""A warp of a photograph waits for a person even when it passes the gate (auto mode publishes only passes with no
note, plugin/services/gpu_reports.py); a warp of a drawing does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from gpu_worker.gate.figure import looks_photographic
from gpu_worker.tasks import PHOTO_WARP_NOTE, photo_warp_hold

ASSETS = Path(__file__).resolve().parents[3] / "gpu_worker" / "assets"


def test_photographs_and_drawings_are_told_apart() -> None:
    assert looks_photographic(np.asarray(Image.open(ASSETS / "samples" / "astronaut.png").convert("RGB")))
    for name in ("kid_01", "groom1_jarno_vasamaa_01", "bussiness_woman_donna_i_01", "fitness_architetto_franc_01"):
        assert not looks_photographic(np.asarray(Image.open(ASSETS / "samples" / f"{name}.png").convert("RGB")))


def test_a_warp_of_a_photograph_is_held_for_review() -> None:
    from gpu_worker.engine import repose
    from gpu_worker.pose.library import load_pose_set

    photo = repose(ASSETS / "samples" / "astronaut.png", load_pose_set("catalog-basics"), poses=["front-relaxed"],
                   max_size=384)  # fmt: skip
    drawing = repose(ASSETS / "samples" / "kid_01.png", load_pose_set("catalog-basics"), poses=["front-relaxed"],
                     max_size=384)  # fmt: skip
    assert photo_warp_hold(photo) == [PHOTO_WARP_NOTE]
    assert photo_warp_hold(drawing) == []
