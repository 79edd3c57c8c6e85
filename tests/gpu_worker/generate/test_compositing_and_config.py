"""Exact-pixel compositing and POSE_STUDIO_DIFFUSION_* parsing (no models needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpu_worker.generate.compositing import composite_exact, feathered_alpha
from gpu_worker.generate.model_config import ConfigError, DiffusionConfig, Mode, resolve_ref


def test_composite_is_bit_identical_inside_the_mask_and_blends_just_outside() -> None:
    rng = np.random.default_rng(0)
    exact = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    generated = Image.fromarray(rng.integers(0, 256, (20, 15, 3), dtype=np.uint8))  # half size: resized first
    mask = np.zeros((40, 30), bool)
    mask[10:25, 8:20] = True
    out = np.asarray(composite_exact(generated, Image.fromarray(exact), mask, feather=4))
    assert out.shape == exact.shape
    assert np.array_equal(out[mask], exact[mask])
    gen_up = np.asarray(generated.resize((30, 40), Image.Resampling.LANCZOS))
    far = np.ones_like(mask)
    far[4:31, 2:26] = False  # more than 4 px away from the mask
    assert np.array_equal(out[far], gen_up[far])


def test_feathered_alpha_ramps_outside_only() -> None:
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    alpha = feathered_alpha(mask, 3)
    assert alpha[4, 4] == 1.0
    assert 0.0 < alpha[4, 5] < 1.0 and alpha[4, 5] > alpha[4, 6] > alpha[4, 7]
    assert alpha[4, 8] == 0.0
    assert np.array_equal(feathered_alpha(mask, 0), mask.astype(np.float32))


def test_no_mask_means_just_the_resized_generation() -> None:
    gen = Image.new("RGB", (8, 8), (200, 10, 10))
    out = composite_exact(gen, Image.new("RGB", (16, 16)), None)
    assert out.size == (16, 16) and out.getpixel((3, 3)) == (200, 10, 10)


def test_mask_of_another_size_is_refused() -> None:
    with pytest.raises(ValueError, match="exact mask is 4x4"):
        composite_exact(Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8)), np.ones((4, 4), bool))


def test_config_reads_the_environment_and_defaults_to_the_preset(tmp_path: Path) -> None:
    env = {
        "POSE_STUDIO_DIFFUSION_PRESET": "sd15", "POSE_STUDIO_DIFFUSION_STEPS": "4",
        "POSE_STUDIO_DIFFUSION_GUIDANCE_SCALE": "1.0", "POSE_STUDIO_DIFFUSION_SCHEDULER": "lcm",
        "POSE_STUDIO_DIFFUSION_COMPILE": "yes", "POSE_STUDIO_DIFFUSION_MODE": "Generate",
        "POSE_STUDIO_DIFFUSION_IP_ADAPTER": "none", "POSE_STUDIO_MODELS_DIR": str(tmp_path),
    }  # fmt: skip
    cfg = DiffusionConfig.from_env(env)
    assert (cfg.num_steps, cfg.guidance, cfg.scheduler, cfg.compile, cfg.mode) == (
        4,
        1.0,
        "lcm",
        True,
        Mode.GENERATE,
    )
    assert cfg.long_side == 768
    base = cfg.ref("base")
    assert base is not None and base.repo_id == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert base.path == tmp_path / "stable-diffusion-v1-5--stable-diffusion-v1-5"
    assert cfg.ref("ip_adapter") is None and cfg.ref("image_encoder") is None  # image prompt switched off
    default = DiffusionConfig.from_env({})
    assert (default.num_steps, default.long_side, default.guidance) == (30, 1024, 5.0)
    assert default.ref("controlnet").repo_id == "xinsir/controlnet-openpose-sdxl-1.0"  # type: ignore[union-attr]


def test_hub_reference_with_a_path_inside_the_repo(tmp_path: Path) -> None:
    ref = resolve_ref("h94/IP-Adapter/sdxl_models/ip-adapter_sdxl_vit-h.safetensors", tmp_path)
    assert ref.repo_id == "h94/IP-Adapter" and ref.subpath == "sdxl_models/ip-adapter_sdxl_vit-h.safetensors"
    assert ref.path == tmp_path / "h94--IP-Adapter" / "sdxl_models" / "ip-adapter_sdxl_vit-h.safetensors"
    assert resolve_ref(str(tmp_path), tmp_path).repo_id is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STEPS", "many", "POSE_STUDIO_DIFFUSION_STEPS='many' is not a valid int"),
        ("COMPILE", "maybe", "POSE_STUDIO_DIFFUSION_COMPILE='maybe' is not a valid bool"),
        ("SCHEDULER", "k_lms", "SCHEDULER must be one of"),
        ("PRESET", "flux", "PRESET must be one of"),
        ("REFINE_STRENGTH", "0", "REFINE_STRENGTH must be in (0, 1]"),
        ("MODE", "sideways", "not a valid mode"),
        ("BASE", "justaname", "neither an existing local path nor a Hub id"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(
        ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        cfg = DiffusionConfig.from_env({f"POSE_STUDIO_DIFFUSION_{name}": value})
        cfg.ref("base")
