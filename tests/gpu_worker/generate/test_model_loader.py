"""The production loader on tiny model folders: lazy per-process cache, and a clear error per broken
component."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gpu_worker.generate.model_config import Family
from gpu_worker.generate.model_loader import (
    DiffusionModelError,
    clear_cache,
    inspect_models,
    load_models,
)


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_loads_through_from_pretrained_and_caches_per_process(family: str, tiny_models) -> None:
    config = tiny_models.config(family)
    report = inspect_models(config)
    assert report.ok, report.problems
    assert report.family is Family(family)
    assert report.pixel_multiple == 16  # ×8 VAE × 2 UNet levels
    first = load_models(config)
    assert first.family is Family(family)
    assert first.has_ip_adapter
    assert load_models(config) is first  # cached
    assert load_models(config.with_overrides(steps=9)) is first  # per-call knobs do not reload


def test_scheduler_is_swappable_by_config(tiny_models) -> None:
    models = load_models(tiny_models.config("sd15", SCHEDULER="lcm"))
    assert type(models.pipeline.scheduler).__name__ == "LCMScheduler"


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst) if src.is_dir() else shutil.copy(src, dst)
    return dst


def _load_error(config) -> DiffusionModelError:
    clear_cache()
    with pytest.raises(DiffusionModelError) as info:
        load_models(config)
    return info.value


def test_missing_base_names_it_and_says_how_to_get_it(tiny_models, tmp_path: Path) -> None:
    err = _load_error(tiny_models.config("sd15", BASE=str(tmp_path / "nowhere")))
    assert [p.component for p in err.problems] == ["base"]
    assert "does not exist" in str(err) and "POSE_STUDIO_DIFFUSION_BASE" in str(err)


def test_hub_reference_not_fetched_points_to_models_fetch(tiny_models) -> None:
    err = _load_error(tiny_models.config("sd15", CONTROLNET="xinsir/controlnet-openpose-sdxl-1.0"))
    assert err.problems[0].component == "controlnet"
    assert "pose-studio models fetch" in err.problems[0].fix
    assert "xinsir--controlnet-openpose-sdxl-1.0" in str(err)


def test_missing_unet_weights(tiny_models, tmp_path: Path) -> None:
    base = _copy(tiny_models.sd15["base"], tmp_path / "base")
    (base / "unet" / "diffusion_pytorch_model.fp16.safetensors").unlink()
    err = _load_error(tiny_models.config("sd15", BASE=str(base)))
    assert [p.component for p in err.problems] == ["base/unet"]
    assert "no weights" in str(err)


def test_sdxl_controlnet_on_sd15_base_is_a_mismatch(tiny_models) -> None:
    err = _load_error(tiny_models.config("sd15", CONTROLNET=str(tiny_models.sdxl["controlnet"])))
    (problem,) = [p for p in err.problems if p.component == "controlnet"]
    assert "cross-attention dim 64 does not match the base UNet's 32" in problem.message
    assert "SDXL-class" in problem.message


def test_image_encoder_projection_must_match_ip_adapter(tiny_models, tmp_path: Path) -> None:
    from gpu_worker.generate.fake_models import tiny_image_encoder

    tiny_image_encoder(tmp_path / "enc16", projection_dim=16)
    err = _load_error(tiny_models.config("sd15", IMAGE_ENCODER=str(tmp_path / "enc16")))
    (problem,) = err.problems
    assert problem.component == "image_encoder"
    assert "projection dim 16" in problem.message and "expects 32" in problem.message


def test_ip_adapter_for_another_unet(tiny_models) -> None:
    err = _load_error(tiny_models.config("sd15", IP_ADAPTER=str(tiny_models.sdxl["ip_adapter"])))
    assert [p.component for p in err.problems] == ["ip_adapter"]
    assert "cross-attention dim 64" in str(err)


def test_weights_that_do_not_fit_their_config_fail_at_load_naming_the_component(
    tiny_models, tmp_path: Path
) -> None:
    # The config says SD1.5-sized ControlNet, the weights are the SDXL one: only loading can tell.
    cn = _copy(tiny_models.sd15["controlnet"], tmp_path / "cn")
    shutil.copy(tiny_models.sdxl["controlnet"] / "diffusion_pytorch_model.safetensors", cn)
    assert inspect_models(tiny_models.config("sd15", CONTROLNET=str(cn))).ok
    err = _load_error(tiny_models.config("sd15", CONTROLNET=str(cn)))
    assert err.problems[0].component == "controlnet"
    assert str(cn) in str(err) and "could not be loaded" in str(err)


def test_corrupt_ip_adapter_file(tiny_models, tmp_path: Path) -> None:
    bad = tmp_path / "ip.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
    err = _load_error(tiny_models.config("sd15", IP_ADAPTER=str(bad)))
    assert err.problems[0].component == "ip_adapter" and "not a readable safetensors" in str(err)


def test_base_without_model_index(tiny_models, tmp_path: Path) -> None:
    base = _copy(tiny_models.sd15["base"], tmp_path / "base")
    (base / "model_index.json").unlink()
    err = _load_error(tiny_models.config("sd15", BASE=str(base)))
    assert "no model_index.json" in str(err)


def test_family_is_read_from_the_unet_config_when_the_index_does_not_say(tiny_models, tmp_path: Path) -> None:
    base = _copy(tiny_models.sdxl["base"], tmp_path / "base")
    index = json.loads((base / "model_index.json").read_text())
    index["_class_name"] = "DiffusionPipeline"
    index.pop("text_encoder_2")
    (base / "model_index.json").write_text(json.dumps(index))
    assert inspect_models(tiny_models.config("sdxl", BASE=str(base))).family is Family.SDXL
