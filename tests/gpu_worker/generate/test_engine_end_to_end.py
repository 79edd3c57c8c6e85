"""Engine + backend + quality check, end to end, for every preset on its tiny models (`models fake`): the images are
noise, so every output must come back failed with reasons, after its re-renders, and nothing may crash."""

from __future__ import annotations

import pytest

from gpu_worker.engine import repose
from gpu_worker.generate.diffusion import DiffusionBackend
from gpu_worker.pose.library import load_pose_set


@pytest.mark.parametrize("preset", ["sd15", "sdxl"])
def test_diffusion_preset_runs_the_whole_production_path(preset: str, tiny_models, subject) -> None:
    photo, *_ = subject
    backend = DiffusionBackend(tiny_models.config(preset))
    # one pose the warp renders (refine) and one it cannot (generate)
    result = repose(photo, load_pose_set("activewear"), poses=["t-pose", "run"], backend=backend, seed=1,
                    max_attempts=2)  # fmt: skip
    assert result.backend == "diffusion"
    assert [o.rendered.extras["mode"] for o in result.outputs] == ["refine", "generate"]
    for out in result.outputs:
        assert out.rendered.image.size == result.image.size
        assert not out.passed and out.quality.reasons
        assert out.attempts == 2
    # a generated output fails on its pixels (pose, figure), never on a coverage figure the backend made up
    assert not any("filled in" in r for r in result.outputs[1].quality.reasons)
