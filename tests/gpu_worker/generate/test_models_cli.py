"""`pose-studio models check|fetch` through the root CLI (tiny models; fetch without network)."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from pose_studio.cli import main


def _run(args: list[str], env: dict[str, str]):
    return CliRunner().invoke(main, args, env=env)


def test_check_passes_on_a_complete_set(tiny_models) -> None:
    result = _run(["models", "check"], tiny_models.env("sdxl"))
    assert result.exit_code == 0, result.output
    assert "base family sdxl" in result.output
    for component in ("base/unet", "base/text_encoder_2", "controlnet", "ip_adapter", "image_encoder"):
        assert f"ok       {component}" in result.output
    assert "present and consistent" in result.output


def test_check_fails_naming_what_is_missing_and_how_to_get_it(tiny_models) -> None:
    env = tiny_models.env("sd15", CONTROLNET="thibaud/controlnet-sd15-openpose-not-fetched")
    result = _run(["models", "check"], env)
    assert result.exit_code == 1
    assert "MISSING  controlnet" in result.output
    assert (
        "pose-studio models fetch" in result.output
        and "thibaud/controlnet-sd15-openpose-not-fetched" in result.output
    )


def test_check_reports_a_mismatch(tiny_models) -> None:
    env = tiny_models.env("sdxl", CONTROLNET=str(tiny_models.sd15["controlnet"]))
    result = _run(["models", "check"], env)
    assert result.exit_code == 1
    assert "controlnet: cross-attention dim 32 does not match the base UNet's 64" in result.output


@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        ({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE is set"),
        # A closed local port: the connection is refused at once, like a host without network.
        ({"HF_ENDPOINT": "http://127.0.0.1:9"}, "cannot download stabilityai/stable-diffusion-xl-base-1.0"),
    ],
)
def test_fetch_without_network_fails_with_one_line(tiny_models, tmp_path, extra, expect) -> None:
    env = {"POSE_STUDIO_MODELS_DIR": str(tmp_path), "HF_HUB_OFFLINE": "", **extra}
    started = time.perf_counter()
    result = _run(["models", "fetch", "--preset", "sdxl", "--timeout", "2"], env)
    assert time.perf_counter() - started < 30
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and expect in errors[0], result.output
    assert "Traceback" not in result.output


def test_fetch_with_only_local_paths_has_nothing_to_do(tiny_models) -> None:
    local = {c.upper(): str(path) for c, path in tiny_models.sd15.items()}
    result = _run(["models", "fetch"], tiny_models.env("sd15", **local))
    assert result.exit_code == 0 and "nothing to fetch" in result.output


def test_fake_writes_the_fetch_layout_that_check_accepts(tmp_path) -> None:
    dest = tmp_path / "models"
    result = _run(["models", "fake", "--preset", "sd15", "--dest", str(dest)], {})
    assert result.exit_code == 0, result.output
    # Where `models fetch --preset sd15` puts the real files (base weights as the fp16 variant).
    for rel in (
        "stable-diffusion-v1-5--stable-diffusion-v1-5/model_index.json",
        "stable-diffusion-v1-5--stable-diffusion-v1-5/unet/diffusion_pytorch_model.fp16.safetensors",
        "stable-diffusion-v1-5--stable-diffusion-v1-5/text_encoder/model.fp16.safetensors",
        "lllyasviel--control_v11p_sd15_openpose/diffusion_pytorch_model.safetensors",
        "h94--IP-Adapter/models/ip-adapter_sd15.safetensors",
        "h94--IP-Adapter/models/image_encoder/model.safetensors",
        "latent-consistency--lcm-lora-sdv1-5/pytorch_lora_weights.safetensors",
    ):
        assert (dest / rel).is_file(), rel
    check = _run(["models", "check"], {"POSE_STUDIO_MODELS_DIR": str(dest), "POSE_STUDIO_DIFFUSION_PRESET": "sd15"})
    assert check.exit_code == 0, check.output
    assert "present and consistent" in check.output
