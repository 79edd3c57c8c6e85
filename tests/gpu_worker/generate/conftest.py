"""Tiny, seeded diffusion models written once per session by `pose-studio models fake`'s builder
(gpu_worker/generate/fake_models.py): random weights, no Hub, in exactly the layout `models fetch` writes, one
models dir per preset. The ControlNet's output convolutions are random (not zero), so ControlNet wiring shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs the gpu extra (torch, diffusers)")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gpu_worker.generate.model_config import DiffusionConfig  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[3] / "gpu_worker" / "assets" / "samples"


def build_preset(preset: str, models_dir: Path) -> dict[str, Path]:
    """The tiny models of `preset`, written by `pose-studio models fake`'s builder in the fetch layout."""
    from gpu_worker.generate.fake_models import write_fake_preset

    write_fake_preset(preset, models_dir)
    config = DiffusionConfig(preset=preset, models_dir=str(models_dir)).validated()
    components = ("base",) if config.is_edit else ("base", "controlnet", "ip_adapter", "image_encoder")
    return {c: config.ref(c).path for c in components}


@dataclass(frozen=True)
class TinyModels:
    sd15: dict[str, Path]
    sdxl: dict[str, Path]
    root: Path

    def env(self, family: str = "sd15", **extra: str) -> dict[str, str]:
        """POSE_STUDIO_* for the tiny set of `family` (CPU, fp32, 2 steps, 64 px long side): the preset's own
        Hub references, resolved in the models dir `models fake` wrote, as in production after `models fetch`."""
        env = {
            "POSE_STUDIO_DIFFUSION_PRESET": family,
            "POSE_STUDIO_DIFFUSION_DEVICE": "cpu",
            "POSE_STUDIO_DIFFUSION_STEPS": "2",
            "POSE_STUDIO_DIFFUSION_RESOLUTION": "64",
            "POSE_STUDIO_MODELS_DIR": str(self.root / family),
            # the editing models' prompt: a few dozen tokens, not 512 (CPU time)
            "POSE_STUDIO_DIFFUSION_MAX_SEQUENCE_LENGTH": "96",
        }
        env.update(
            {k if k.startswith("POSE_STUDIO") else f"POSE_STUDIO_DIFFUSION_{k}": v for k, v in extra.items()}
        )
        return env

    def config(self, family: str = "sd15", **extra: str) -> DiffusionConfig:
        return DiffusionConfig.from_env(self.env(family, **extra))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    root = tmp_path_factory.mktemp("tiny-diffusion")
    # One models dir per preset: a reference the other preset would have fetched stays missing here.
    return TinyModels(sd15=build_preset("sd15", root / "sd15"), sdxl=build_preset("sdxl", root / "sdxl"), root=root)


@pytest.fixture(scope="session")
def tiny_edit_models(tiny_models: TinyModels) -> TinyModels:
    """The tiny FLUX.2 [klein] set, next to the ControlNet ones (built only by the tests that use it)."""
    build_preset("flux2-klein", tiny_models.root / "flux2-klein")
    return tiny_models


@pytest.fixture(scope="session")
def subject():
    """A real sample photo (public-domain clip art), its detected skeleton, and the activewear pose set
    retargeted onto it: 3 poses the warp renders (refine) and 2 it cannot (generate)."""
    from gpu_worker.pose.detect import detect
    from gpu_worker.pose.library import load_pose_set
    from gpu_worker.pose.retarget import retarget

    figure = Image.open(SAMPLES / "bussiness_woman_donna_i_01.png").convert("RGB")
    figure = figure.resize(
        (figure.width // 4, figure.height // 4), Image.Resampling.LANCZOS
    )  # 139×320: fast warp
    # on a canvas with room for the activewear poses (arms out, a lunge, an arm over the head): on the bare narrow
    # picture the warp must shrink the figure to keep it in the frame, and a shrunk garment has no exact pixels
    photo = Image.new("RGB", (320, 400), (255, 255, 255))
    photo.paste(figure, ((320 - figure.width) // 2, 80))
    source = detect(photo)
    poses = list(load_pose_set("activewear").poses)
    targets = [retarget(source, pose) for pose in poses]
    return photo, source, poses, targets


def as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)
