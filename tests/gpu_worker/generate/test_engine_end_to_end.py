"""Engine + backend + quality check, end to end, for every preset on its tiny models (`models fake`): the images are
noise, so every output must come back failed with reasons, after its re-renders, and nothing may crash."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpu_worker.engine import repose
from gpu_worker.generate.diffusion import DiffusionBackend
from gpu_worker.generate.references import person_crop
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
    # the IP-Adapter saw the whole person, square-padded (not the portrait photo, whose centre crop loses the head)
    (seen,) = result.outputs[0].rendered.extras["ip_adapter_image"]
    assert seen.width == seen.height
    assert np.array_equal(np.asarray(seen), np.asarray(person_crop(result.image, result.source)))
    # a generated output fails on its pixels (pose, figure), never on a coverage figure the backend made up
    assert not any("filled in" in r for r in result.outputs[1].quality.reasons)


def test_edit_backend_runs_generate_end_to_end_through_the_cli(tiny_edit_models, tmp_path) -> None:
    """`pose-studio models check` then `pose-studio generate --backend edit` on the tiny FLUX.2 [klein] set."""
    from click.testing import CliRunner

    from gpu_worker.engine import get_backend
    from pose_studio.cli import main

    from .conftest import SAMPLES

    env = tiny_edit_models.env("flux2-klein", POSE_STUDIO_MAX_ATTEMPTS="2")
    check = CliRunner().invoke(main, ["models", "check"], env=env)
    assert check.exit_code == 0, check.output
    get_backend.cache_clear()  # the engine keeps one backend per name and process; this one reads `env`
    try:
        result = CliRunner().invoke(main, [
            "generate", str(SAMPLES / "bussiness_woman_donna_i_01.png"), "--pose-set", "activewear",
            "--poses", "t-pose,run", "--out", str(tmp_path), "--backend", "edit", "--max-size", "320",
        ], env=env)  # fmt: skip
    finally:
        get_backend.cache_clear()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output  # noise fails the check: reported, not crashed
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["backend"] == "edit"
    assert [o["pose"] for o in report["outputs"]] == ["t-pose", "run"]  # every pose, back views too
    for out in report["outputs"]:
        assert out["passed"] is False and out["reasons"]


def test_backend_and_preset_kind_must_agree(tiny_edit_models) -> None:
    from gpu_worker.generate.edit import EditBackend
    from gpu_worker.generate.model_config import ConfigError

    with pytest.raises(ConfigError, match="use --backend edit"):
        DiffusionBackend(tiny_edit_models.config("flux2-klein"))
    with pytest.raises(ConfigError, match="use --backend diffusion"):
        EditBackend(tiny_edit_models.config("sd15"))
