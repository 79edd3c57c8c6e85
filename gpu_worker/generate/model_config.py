"""Which diffusion models to use and how to run them: every setting from `POSE_STUDIO_DIFFUSION_*`
(docs/MODELS.md).

A model setting is a *reference*: either a local path (absolute, or starting with `.` / `~`, or an existing
path) or a Hugging Face Hub id, optionally followed by a path inside the repository
(`h94/IP-Adapter/sdxl_models/ip-adapter_sdxl_vit-h.safetensors`). Hub references are never downloaded at run
time: they name the folder `pose-studio models fetch` writes under `POSE_STUDIO_MODELS_DIR` (`owner--name/…`),
and the loader reads only that folder. This module imports nothing heavy (no torch), so the CLI and the Celery
parent can use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from pathlib import Path

ENV_PREFIX = "POSE_STUDIO_DIFFUSION_"
MODELS_DIR_ENV = "POSE_STUDIO_MODELS_DIR"
DEFAULT_MODELS_DIR = "~/.cache/pose-studio/models"


class Family(StrEnum):
    """Architecture class of the base checkpoint (detected from model_index.json / unet config, never
    configured)."""

    SD15 = "sd15"
    SDXL = "sdxl"
    FLUX2_KLEIN = "flux2-klein"  # reference editing (`--backend edit`)
    QWEN_IMAGE_EDIT = "qwen-image-edit"


class Mode(StrEnum):
    """How one pose is produced. AUTO: refine when the warp backend can render the pose, else generate."""

    AUTO = "auto"
    REFINE = "refine"
    GENERATE = "generate"


# The diffusers pipeline class of each reference-editing family (model_index.json's _class_name).
EDIT_PIPELINES = {Family.FLUX2_KLEIN: "Flux2KleinPipeline", Family.QWEN_IMAGE_EDIT: "QwenImageEditPlusPipeline"}

COMPONENTS = ("base", "controlnet", "vae", "ip_adapter", "image_encoder", "ip_adapter_face", "lora")
SCHEDULERS = ("default", "euler", "euler_a", "unipc", "dpmpp_2m", "ddim", "lcm", "tcd")


@dataclass(frozen=True)
class Preset:
    """A recommended, commercially usable model set (licences in docs/MODELS.md)."""

    base: str
    controlnet: str
    ip_adapter: str
    image_encoder: str
    steps: int
    guidance_scale: float
    resolution: int
    few_step_lora: str  # what `--few-step` fetches; used only when POSE_STUDIO_DIFFUSION_LORA names it
    # "controlnet": pose ControlNet + IP-Adapter (`--backend diffusion`); "edit": an instruction/reference editing
    # pipeline (`--backend edit`) whose diffusers class is `pipeline`, the base folder holds every component.
    kind: str = "controlnet"
    pipeline: str = ""


PRESETS: dict[str, Preset] = {
    # xinsir's card: ~1024² buckets, 30 steps, conditioning scale 1.0; Apache-2.0 (notes B6/B9).
    "sdxl": Preset(
        base="stabilityai/stable-diffusion-xl-base-1.0",
        controlnet="xinsir/controlnet-openpose-sdxl-1.0",
        ip_adapter="h94/IP-Adapter/sdxl_models/ip-adapter_sdxl_vit-h.safetensors",
        image_encoder="h94/IP-Adapter/models/image_encoder",
        steps=30,
        guidance_scale=5.0,
        resolution=1024,
        few_step_lora="h1t/TCD-SDXL-LoRA/pytorch_lora_weights.safetensors",
    ),
    "sd15": Preset(
        base="stable-diffusion-v1-5/stable-diffusion-v1-5",
        controlnet="lllyasviel/control_v11p_sd15_openpose",
        ip_adapter="h94/IP-Adapter/models/ip-adapter_sd15.safetensors",
        image_encoder="h94/IP-Adapter/models/image_encoder",
        steps=20,
        guidance_scale=7.0,
        resolution=768,
        few_step_lora="latent-consistency/lcm-lora-sdv1-5/pytorch_lora_weights.safetensors",
    ),
    # FLUX.2 [klein] 4B: Apache-2.0, step-distilled (4 steps, no CFG), multi-reference editing.
    "flux2-klein": Preset(
        base="black-forest-labs/FLUX.2-klein-4B", controlnet="", ip_adapter="", image_encoder="", steps=4,
        guidance_scale=1.0, resolution=1024, few_step_lora="", kind="edit", pipeline="Flux2KleinPipeline",
    ),
    # Qwen-Image-Edit-2511: Apache-2.0, multi-image input; 40 steps with true CFG 4.0 (its card).
    "qwen-image-edit": Preset(
        base="Qwen/Qwen-Image-Edit-2511", controlnet="", ip_adapter="", image_encoder="", steps=40,
        guidance_scale=4.0, resolution=1024, few_step_lora="", kind="edit", pipeline="QwenImageEditPlusPipeline",
    ),
}  # fmt: skip


class ConfigError(ValueError):
    """A POSE_STUDIO_DIFFUSION_* value cannot be parsed; the message names the variable and what it
    accepts."""


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference: where it is on disk, and the Hub repo it comes from (None for a local
    path)."""

    text: str
    path: Path
    repo_id: str | None = None
    subpath: str = ""

    def __str__(self) -> str:
        return self.text


def is_local_ref(text: str) -> bool:
    return text.startswith(("/", ".", "~")) or os.path.exists(text)


def resolve_ref(text: str, models_dir: Path) -> ModelRef:
    """`text` → ModelRef. A Hub id `owner/name[/sub/path]` maps to `models_dir/owner--name/sub/path`."""
    text = text.strip()
    if is_local_ref(text):
        return ModelRef(text=text, path=Path(text).expanduser())
    parts = [p for p in text.split("/") if p]
    if len(parts) < 2:
        raise ConfigError(
            f"model reference {text!r} is neither an existing local path nor a Hub id 'owner/name[/path]'"
        )
    repo_id = f"{parts[0]}/{parts[1]}"
    sub = "/".join(parts[2:])
    path = models_dir / f"{parts[0]}--{parts[1]}"
    if sub:
        path = path / sub
    return ModelRef(text=text, path=path, repo_id=repo_id, subpath=sub)


@dataclass(frozen=True)
class DiffusionConfig:
    """Every knob of the diffusion backend. Build with `DiffusionConfig.from_env()`; fields are documented in
    docs/MODELS.md (the variable is `POSE_STUDIO_DIFFUSION_<FIELD NAME IN UPPER CASE>`)."""

    preset: str = "sdxl"
    base: str = ""
    controlnet: str = ""
    vae: str = ""  # optional VAE override (e.g. madebyollin/sdxl-vae-fp16-fix for fp16 SDXL)
    ip_adapter: str = ""  # "none" disables the image prompt
    image_encoder: str = ""
    ip_adapter_scale: float = 0.6
    # optional second IP-Adapter fed a face crop (e.g. h94/IP-Adapter/models/ip-adapter-full-face_sd15.safetensors);
    # it must use the same image encoder as ip_adapter
    ip_adapter_face: str = ""
    ip_adapter_face_scale: float = 0.4
    lora: str = ""  # few-step LoRA weight file (fused at load); pair it with scheduler lcm / tcd
    lora_scale: float = 1.0
    scheduler: str = "default"
    eta: float = 0.3  # TCD's gamma (its card: 0.3); ignored by schedulers without eta
    steps: int = 0  # 0 = the preset's
    guidance_scale: float = (
        -1.0
    )  # < 0 = the preset's; <= 1 disables classifier-free guidance (few-step models)
    controlnet_scale: float = 1.0
    refine_strength: float = 0.55
    resolution: int = 0  # long side of the generation in px; 0 = the preset's
    line_width: int = (
        0  # OpenPose stick width in px at generation size; 0 = xinsir's rule (render.line_width_for)
    )
    prompt: str = (
        "professional fashion product photo of a model, full body, studio lighting, sharp focus, high quality"
    )
    negative_prompt: str = (
        "deformed, extra limbs, extra fingers, missing limbs, blurry, low quality, watermark, text, cropped"
    )
    mode: Mode = Mode.AUTO
    # --backend edit: what the editing model is asked (the product photo is reference 1, the target skeleton 2)
    edit_instruction: str = (
        "Picture 1 is a product photo. Picture 2 is an OpenPose skeleton. Show the same person, wearing exactly the "
        "same garment, with the same face, hair, lighting and background as in picture 1, in the body pose of the "
        "skeleton in picture 2. Full body, photorealistic; do not draw the skeleton."
    )
    max_sequence_length: int = 512  # text tokens of the editing model's prompt
    feather: int = 6  # px (output size) of the blend band outside the exact garment pixels
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (bf16 on CUDA when supported, else fp16; fp32 on CPU) | bf16 | fp16 | fp32
    cpu_offload: bool = False
    compile: bool = False
    compile_mode: str = "max-autotune-no-cudagraphs"
    channels_last: bool = True
    vae_tiling_above: int = 1536 * 1536  # generation pixels above which the VAE decodes in tiles
    max_batch: int = 8
    simulate_oom_above: int = 0  # testing/ops drill: raise CUDA OOM for batches larger than this (0 = off)
    models_dir: str = DEFAULT_MODELS_DIR

    # -- construction
    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> DiffusionConfig:
        """Read `POSE_STUDIO_DIFFUSION_*` (and `POSE_STUDIO_MODELS_DIR`) from `env` (default os.environ)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(MODELS_DIR_ENV) if f.name == "models_dir" else env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(f.name, f.type, raw.strip())
        values.update(overrides)
        return cls(**values).validated()  # type: ignore[arg-type]

    def validated(self) -> DiffusionConfig:
        if self.preset not in PRESETS:
            raise ConfigError(f"{ENV_PREFIX}PRESET must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(
                f"{ENV_PREFIX}SCHEDULER must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}"
            )
        if self.dtype not in ("auto", "bf16", "fp16", "fp32"):
            raise ConfigError(f"{ENV_PREFIX}DTYPE must be auto, bf16, fp16 or fp32, got {self.dtype!r}")
        if not 0.0 < self.refine_strength <= 1.0:
            raise ConfigError(f"{ENV_PREFIX}REFINE_STRENGTH must be in (0, 1], got {self.refine_strength}")
        if self.max_batch < 1:
            raise ConfigError(f"{ENV_PREFIX}MAX_BATCH must be >= 1, got {self.max_batch}")
        return replace(self, mode=Mode(self.mode))

    def with_overrides(self, **changes: object) -> DiffusionConfig:
        return replace(self, **changes).validated()  # type: ignore[arg-type]

    # -- derived
    # -----------------------------------------------------------------------------------------------
    @property
    def preset_values(self) -> Preset:
        return PRESETS[self.preset]

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir).expanduser()

    def ref(self, component: str) -> ModelRef | None:
        """The resolved reference of `component` (base, controlnet, vae, ip_adapter, image_encoder, lora);
        None when that optional component is switched off."""
        text = getattr(self, component)
        if text == "" and component in ("base", "controlnet", "ip_adapter", "image_encoder"):
            text = getattr(self.preset_values, component)
        if text == "" or text.lower() == "none":
            return None
        if component in ("image_encoder", "ip_adapter_face") and self.ref("ip_adapter") is None:
            return None
        return resolve_ref(text, self.models_path)

    @property
    def is_edit(self) -> bool:
        """The preset is a reference-editing model (`--backend edit`), not a pose ControlNet set."""
        return self.preset_values.kind == "edit"

    @property
    def num_steps(self) -> int:
        return self.steps or self.preset_values.steps

    @property
    def guidance(self) -> float:
        return self.guidance_scale if self.guidance_scale >= 0 else self.preset_values.guidance_scale

    @property
    def long_side(self) -> int:
        return self.resolution or self.preset_values.resolution

    def cache_key(self) -> tuple[object, ...]:
        """What decides the loaded weights (not the per-call knobs such as steps or prompt)."""
        return (
            tuple(str(self.ref(c)) for c in COMPONENTS),
            self.models_dir, self.lora_scale, self.scheduler, self.device, self.dtype, self.cpu_offload,
            self.compile, self.compile_mode, self.channels_last,
        )  # fmt: skip


def _parse(name: str, type_: object, raw: str) -> object:
    var = ENV_PREFIX + name.upper()
    kind = str(type_)
    try:
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Mode":
            return Mode(raw.lower())
    except ValueError as exc:
        raise ConfigError(f"{var}={raw!r} is not a valid {kind.lower()}") from exc
    return raw
