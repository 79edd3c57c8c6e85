"""Find, check and load the diffusion models: a lazy, per-process cache.

- `inspect_models(config)` reads only config files and safetensors headers (no torch): is every configured
  component there, and do the components fit together (UNet ↔ ControlNet channels and cross-attention, VAE ↔
  ControlNet down-sampling, image encoder ↔ IP-Adapter projection)? `pose-studio models check` prints its
  report.
- `load_models(config)` loads each component with its own `from_pretrained(..., local_files_only=True)` on
  first use in *this* process and caches it per (pid, config): a Celery prefork parent never loads weights,
  and a forked child never reuses CUDA state it inherited. Every failure names the component, the folder, and
  what to do.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_worker.errors import PoseStudioError
from gpu_worker.generate.model_config import (
    EDIT_PIPELINES,
    ENV_PREFIX,
    PRESETS,
    DiffusionConfig,
    Family,
    ModelRef,
)

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

WEIGHT_STEMS = {"model": "model", "diffusers": "diffusion_pytorch_model"}
COMPONENT_ENV = {
    "base": "BASE", "controlnet": "CONTROLNET", "vae": "VAE", "ip_adapter": "IP_ADAPTER",
    "image_encoder": "IMAGE_ENCODER", "ip_adapter_face": "IP_ADAPTER_FACE", "lora": "LORA",
}  # fmt: skip


class DiffusionModelError(PoseStudioError):
    """The configured diffusion models are missing, incomplete or do not fit together.

    `problems` lists each one (component, what is wrong, how to fix it); `str(e)` says it in a few lines.
    """

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class Problem:
    component: str  # base/unet, controlnet, ip_adapter, ...
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.component}: {self.message}. Fix: {self.fix}"


@dataclass
class ModelReport:
    family: Family | None = None
    found: list[tuple[str, str]] = field(default_factory=list)  # (component, where / what)
    problems: list[Problem] = field(default_factory=list)
    pixel_multiple: int = 64  # generation width/height must be multiples of this

    @property
    def ok(self) -> bool:
        return not self.problems


# -- inspection (no torch)
# ----------------------------------------------------------------------------------------
def _fix_for(config: DiffusionConfig, component: str, ref: ModelRef) -> str:
    env = ENV_PREFIX + COMPONENT_ENV[component]
    if ref.repo_id is not None:
        return (
            f"run `pose-studio models fetch` (downloads {ref.repo_id} into {config.models_path}) "
            f"or set {env} to a local copy"
        )
    return f"set {env} to a folder that holds the {component} in diffusers layout (see docs/MODELS.md)"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with path.open() as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def weight_variant(folder: Path, stem: str) -> tuple[str | None, Path | None]:
    """(variant, file) of the weights of `stem` in `folder`: plain, then fp16, safetensors before .bin,
    sharded index files count. (None, None) when there are none."""
    for variant in (None, "fp16"):
        infix = f".{variant}" if variant else ""
        for name in (
            f"{stem}{infix}.safetensors",
            f"{stem}{infix}.safetensors.index.json",
            f"{stem}{infix}.bin",
            f"{stem}{infix}.bin.index.json",
        ):
            if (folder / name).is_file():
                return variant, folder / name
    return None, None


def safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name → shape from a .safetensors header (reads a few KB, never the weights)."""
    with path.open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > 100_000_000:
            raise ValueError("header too large")
        header = json.loads(fh.read(n))
    return {k: list(v["shape"]) for k, v in header.items() if k != "__metadata__"}


def _model_folder(
    report: ModelReport, component: str, folder: Path, stem: str, fix: str
) -> dict[str, Any] | None:
    """Check `folder` holds config.json + weights of `stem`; return the config."""
    if not folder.is_dir():
        report.problems.append(Problem(component, f"folder {folder} does not exist", fix))
        return None
    cfg = _read_json(folder / "config.json")
    if cfg is None:
        report.problems.append(
            Problem(component, f"{folder / 'config.json'} is missing or not valid JSON", fix)
        )
        return None
    variant, weights = weight_variant(folder, stem)
    if weights is None:
        report.problems.append(
            Problem(
                component,
                f"no weights in {folder} (expected {stem}.safetensors or {stem}.fp16.safetensors)",
                fix,
            )
        )
        return None
    report.found.append((component, f"{weights}" + (f" (variant {variant})" if variant else "")))
    return cfg


def detect_family(model_index: dict[str, Any], unet_cfg: dict[str, Any] | None) -> Family:
    if "XL" in str(model_index.get("_class_name", "")) or "text_encoder_2" in model_index:
        return Family.SDXL
    if unet_cfg is not None and unet_cfg.get("addition_embed_type") == "text_time":
        return Family.SDXL
    return Family.SD15


def inspect_edit_models(config: DiffusionConfig) -> ModelReport:
    """`inspect_models` for a reference-editing preset: one diffusers folder whose model_index.json names the
    preset's pipeline, and every model component in it with its config and weights."""
    report = ModelReport()
    base = config.ref("base")
    assert base is not None
    fix = _fix_for(config, "base", base)
    want = config.preset_values.pipeline
    index = _read_json(base.path / "model_index.json")
    if index is None:
        what = "does not exist" if not base.path.exists() else "has no model_index.json (not a diffusers checkpoint)"
        report.problems.append(Problem("base", f"{base.path} {what}", fix))
        return report
    if index.get("_class_name") != want:
        report.problems.append(
            Problem("base", f"{base.path} holds a {index.get('_class_name')}, preset {config.preset} needs a {want}",
                    f"point {ENV_PREFIX}BASE at a {want} checkpoint or pick its preset")
        )  # fmt: skip
        return report
    report.family = next(f for f, cls in EDIT_PIPELINES.items() if cls == want)
    if report.family is Family.QWEN_IMAGE_EDIT and importlib.util.find_spec("torchvision") is None:
        report.problems.append(Problem(
            "base/processor", "transformers' Qwen2-VL processor needs torchvision, which is not installed",
            "install the torchvision build that matches your torch (pip install torchvision==<matching version>)",
        ))  # fmt: skip
    for name, spec in sorted(index.items()):
        if name.startswith("_") or not isinstance(spec, list) or spec[0] is None:
            continue
        folder = base.path / name
        if any(k in str(spec[1]) for k in ("Tokenizer", "Processor", "Scheduler")):
            if folder.is_dir():
                report.found.append((f"base/{name}", str(folder)))
            else:
                report.problems.append(Problem(f"base/{name}", f"folder {folder} does not exist", fix))
            continue
        stem = WEIGHT_STEMS["diffusers" if spec[0] == "diffusers" else "model"]
        cfg = _model_folder(report, f"base/{name}", folder, stem, fix)
        if name == "vae" and cfg is not None:
            # ×2 latent packing on top of the VAE's own down-sampling (Qwen's VAE: one ×2 per temporal entry)
            levels = len(cfg["temperal_downsample"]) if "temperal_downsample" in cfg else (
                len(cfg.get("block_out_channels", [0])) - 1)  # fmt: skip
            report.pixel_multiple = max(16, 2 * 2**levels)
    lora = config.ref("lora")
    if lora is not None and not lora.path.is_file():
        report.problems.append(Problem("lora", f"{lora.path} does not exist", _fix_for(config, "lora", lora)))
    return report


def inspect_models(config: DiffusionConfig) -> ModelReport:
    """Check every configured component without loading weights (what `pose-studio models check` prints)."""
    if config.is_edit:
        return inspect_edit_models(config)
    report = ModelReport()

    # Base checkpoint: model_index.json, then each sub-model.
    base = config.ref("base")
    assert base is not None
    fix = _fix_for(config, "base", base)
    index = _read_json(base.path / "model_index.json")
    if index is None:
        what = (
            "does not exist"
            if not base.path.exists()
            else "has no model_index.json (not a diffusers checkpoint)"
        )
        report.problems.append(Problem("base", f"{base.path} {what}", fix))
        # Keep going: the other components can still be checked for presence.
        unet_cfg = vae_cfg = None
        family = None
    else:
        unet_cfg = _model_folder(report, "base/unet", base.path / "unet", WEIGHT_STEMS["diffusers"], fix)
        family = report.family = detect_family(index, unet_cfg)
        vae_ref = config.ref("vae")
        if vae_ref is not None:
            vae_cfg = _model_folder(
                report, "vae", vae_ref.path, WEIGHT_STEMS["diffusers"], _fix_for(config, "vae", vae_ref)
            )
        else:
            vae_cfg = _model_folder(report, "base/vae", base.path / "vae", WEIGHT_STEMS["diffusers"], fix)
        encoders = ["text_encoder"] + (["text_encoder_2"] if family is Family.SDXL else [])
        for name in encoders:
            _model_folder(report, f"base/{name}", base.path / name, WEIGHT_STEMS["model"], fix)
        for name in ["tokenizer"] + (["tokenizer_2"] if family is Family.SDXL else []):
            folder = base.path / name
            if (folder / "tokenizer.json").is_file() or (
                (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
            ):
                report.found.append((f"base/{name}", str(folder)))
            else:
                report.problems.append(
                    Problem(
                        f"base/{name}", f"{folder} has neither tokenizer.json nor vocab.json + merges.txt", fix
                    )
                )
        if _read_json(base.path / "scheduler" / "scheduler_config.json") is None:
            report.problems.append(
                Problem("base/scheduler", f"{base.path / 'scheduler'}/scheduler_config.json is missing", fix)
            )
        else:
            report.found.append(("base/scheduler", str(base.path / "scheduler")))
        if unet_cfg is not None and vae_cfg is not None:
            vae_factor = 2 ** (len(vae_cfg.get("block_out_channels", [0] * 4)) - 1)
            report.pixel_multiple = vae_factor * 2 ** (len(unet_cfg.get("block_out_channels", [0] * 4)) - 1)

    # Pose ControlNet: must have been trained for this UNet.
    cn = config.ref("controlnet")
    assert cn is not None
    cn_fix = _fix_for(config, "controlnet", cn)
    cn_cfg = _model_folder(report, "controlnet", cn.path, WEIGHT_STEMS["diffusers"], cn_fix)
    if cn_cfg is not None and unet_cfg is not None:
        other = "an SDXL-class" if family is Family.SD15 else "an SD1.5-class"
        example = PRESETS["sdxl" if family is Family.SDXL else "sd15"].controlnet
        for key, label in (
            ("cross_attention_dim", "cross-attention dim"),
            ("block_out_channels", "block channels"),
            ("addition_embed_type", "added-embedding type"),
            ("in_channels", "latent channels"),
        ):
            if cn_cfg.get(key) != unet_cfg.get(key):
                report.problems.append(
                    Problem(
                        "controlnet",
                        f"{label} {cn_cfg.get(key)} does not match the base UNet's {unet_cfg.get(key)} "
                        f"(a ControlNet for {other if key != 'in_channels' else 'another'} base?)",
                        f"use a pose ControlNet trained for the {family.value} base, e.g. {example}",
                    )
                )
                break
        if vae_cfg is not None:
            cn_factor = 2 ** (len(cn_cfg.get("conditioning_embedding_out_channels", [16, 32, 96, 256])) - 1)
            vae_factor = 2 ** (len(vae_cfg.get("block_out_channels", [0] * 4)) - 1)
            if cn_factor != vae_factor:
                report.problems.append(
                    Problem(
                        "controlnet",
                        f"its conditioning embedding down-samples by {cn_factor} but the VAE by {vae_factor}",
                        "use a ControlNet made for this base model",
                    )
                )

    # IP-Adapter + image encoder.
    ip = config.ref("ip_adapter")
    if ip is not None:
        _inspect_ip_adapter(config, report, ip, unet_cfg)
    face = config.ref("ip_adapter_face")
    if face is not None:
        if face.path.is_file():
            report.found.append(("ip_adapter_face", str(face.path)))
        else:
            report.problems.append(
                Problem("ip_adapter_face", f"weight file {face.path} does not exist",
                        _fix_for(config, "ip_adapter_face", face))
            )  # fmt: skip

    lora = config.ref("lora")
    if lora is not None:
        if lora.path.is_file():
            report.found.append(("lora", str(lora.path)))
        else:
            report.problems.append(
                Problem("lora", f"{lora.path} does not exist", _fix_for(config, "lora", lora))
            )
    return report


def _inspect_ip_adapter(
    config: DiffusionConfig, report: ModelReport, ip: ModelRef, unet_cfg: dict[str, Any] | None
) -> None:
    enc = config.ref("image_encoder")
    assert enc is not None
    enc_cfg = _model_folder(
        report, "image_encoder", enc.path, WEIGHT_STEMS["model"], _fix_for(config, "image_encoder", enc)
    )
    if enc_cfg is not None and "vision_config" in enc_cfg:
        enc_cfg = {**enc_cfg["vision_config"], **{k: v for k, v in enc_cfg.items() if k == "projection_dim"}}
    fix = _fix_for(config, "ip_adapter", ip)
    if not ip.path.is_file():
        report.problems.append(Problem("ip_adapter", f"weight file {ip.path} does not exist", fix))
        return
    report.found.append(("ip_adapter", str(ip.path)))
    if ip.path.suffix != ".safetensors":
        return  # .bin: shapes are checked when it loads
    try:
        shapes = safetensors_shapes(ip.path)
    except (OSError, ValueError, struct.error) as exc:
        report.problems.append(
            Problem("ip_adapter", f"{ip.path} is not a readable safetensors file ({exc})", fix)
        )
        return
    if not any(k.startswith("image_proj.") for k in shapes) or not any(
        k.startswith("ip_adapter.") for k in shapes
    ):
        report.problems.append(
            Problem(
                "ip_adapter", f"{ip.path} has no image_proj.* / ip_adapter.* tensors (not an IP-Adapter)", fix
            )
        )
        return
    cross = unet_cfg.get("cross_attention_dim") if unet_cfg else None
    to_k = [v for k, v in shapes.items() if k.endswith(".to_k_ip.weight")]
    if cross is not None and to_k and to_k[0][1] != cross:
        report.problems.append(
            Problem(
                "ip_adapter",
                f"made for a UNet with cross-attention dim {to_k[0][1]}, the base UNet has {cross}",
                "use the IP-Adapter file for this base family (docs/MODELS.md)",
            )
        )
    if enc_cfg is None:
        return
    if "image_proj.proj.weight" in shapes:  # basic adapter: projects the pooled, projected CLIP embedding
        want, have, what = (
            shapes["image_proj.proj.weight"][1],
            enc_cfg.get("projection_dim"),
            "projection dim",
        )
    elif "image_proj.proj_in.weight" in shapes:  # "plus" adapter: resamples the penultimate hidden states
        want, have, what = shapes["image_proj.proj_in.weight"][1], enc_cfg.get("hidden_size"), "hidden size"
    else:
        return
    if want != have:
        report.problems.append(
            Problem(
                "image_encoder",
                f"{what} {have} does not match the IP-Adapter, which expects {want}",
                "use the image encoder the IP-Adapter was trained with "
                "(ViT-H: h94/IP-Adapter/models/image_encoder; ViT-bigG: h94/IP-Adapter/sdxl_models/image_encoder)",
            )
        )


# -- loading (torch)
# ----------------------------------------------------------------------------------------------
@dataclass
class LoadedModels:
    family: Family
    pipeline: Any  # pipelines.run.PosePipelines (diffusers' stock ControlNet pipelines of the family)
    device: torch.device
    dtype: torch.dtype
    has_ip_adapter: bool
    pixel_multiple: int
    load_seconds: float
    has_face_adapter: bool = False  # a second IP-Adapter that takes the face crop


_CACHE: dict[tuple[object, ...], LoadedModels] = {}
_LOCK = threading.Lock()


def load_models(config: DiffusionConfig) -> LoadedModels:
    """The loaded pipeline for `config`, loading it on first use in this process."""
    key = (os.getpid(), config.cache_key())
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            # Entries of another pid were inherited through fork: never reuse them (CUDA contexts do not
            # survive).
            for stale in [k for k in _CACHE if k[0] != os.getpid()]:
                del _CACHE[stale]
            cached = _CACHE[key] = _load(config)
        return cached


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def resolve_device(config: DiffusionConfig) -> tuple[torch.device, torch.dtype]:
    import torch

    name = config.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DiffusionModelError(
            f"{ENV_PREFIX}DEVICE={config.device} but this torch build sees no CUDA device"
        )
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if config.dtype != "auto":
        return device, dtypes[config.dtype]
    if device.type == "cuda":
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.float32


def _load_component(component: str, where: Path, fix: str, loader: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return loader(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 — any loader failure becomes one clear, named error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        problem = Problem(
            component, f"{where} could not be loaded ({type(exc).__name__}: {first[:300]})", fix
        )
        raise DiffusionModelError(f"diffusion model {problem}", [problem]) from exc


def _load(config: DiffusionConfig) -> LoadedModels:
    report = inspect_models(config)
    if not report.ok:
        lines = "\n".join(f"- {p}" for p in report.problems)
        raise DiffusionModelError(
            f"the diffusion models are not ready ({len(report.problems)} problem(s)):\n{lines}",
            report.problems,
        )
    if config.is_edit:
        return _load_edit(config, report)
    started = time.perf_counter()
    import diffusers
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import (
        CLIPImageProcessor,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
        CLIPVisionModelWithProjection,
    )

    device, dtype = resolve_device(config)
    family = report.family
    assert family is not None
    base = config.ref("base")
    cn = config.ref("controlnet")
    assert base is not None and cn is not None
    base_fix = _fix_for(config, "base", base)
    common = {"local_files_only": True}

    def variant(folder: Path, stem: str) -> str | None:
        return weight_variant(folder, stem)[0]

    def diffusers_model(component: str, cls: Any, folder: Path, fix: str) -> Any:
        v = variant(folder, WEIGHT_STEMS["diffusers"])
        return _load_component(
            component, folder, fix, cls.from_pretrained, folder, variant=v, torch_dtype=dtype, **common
        )

    def text_model(component: str, cls: Any, folder: Path) -> Any:
        v = variant(folder, WEIGHT_STEMS["model"])
        return _load_component(
            component, folder, base_fix, cls.from_pretrained, folder, variant=v, dtype=dtype, **common
        )

    components: dict[str, Any] = {
        "unet": diffusers_model("base/unet", UNet2DConditionModel, base.path / "unet", base_fix),
        "controlnet": diffusers_model(
            "controlnet", ControlNetModel, cn.path, _fix_for(config, "controlnet", cn)
        ),
        "text_encoder": text_model("base/text_encoder", CLIPTextModel, base.path / "text_encoder"),
        "tokenizer": _load_component(
            "base/tokenizer",
            base.path / "tokenizer",
            base_fix,
            CLIPTokenizer.from_pretrained,
            base.path / "tokenizer",
        ),
    }
    vae_ref = config.ref("vae")
    vae_folder = vae_ref.path if vae_ref else base.path / "vae"
    vae_fix = _fix_for(config, "vae", vae_ref) if vae_ref else base_fix
    components["vae"] = diffusers_model("vae" if vae_ref else "base/vae", AutoencoderKL, vae_folder, vae_fix)
    if family is Family.SDXL:
        components["text_encoder_2"] = text_model(
            "base/text_encoder_2", CLIPTextModelWithProjection, base.path / "text_encoder_2"
        )
        components["tokenizer_2"] = _load_component(
            "base/tokenizer_2",
            base.path / "tokenizer_2",
            base_fix,
            CLIPTokenizer.from_pretrained,
            base.path / "tokenizer_2",
        )
    sched_cfg = _read_json(base.path / "scheduler" / "scheduler_config.json") or {}
    sched_cls = getattr(diffusers, str(sched_cfg.get("_class_name", "")), None)
    if sched_cls is None:
        raise DiffusionModelError(
            f"base/scheduler: unknown scheduler class {sched_cfg.get('_class_name')!r} "
            f"in {base.path / 'scheduler'}"
        )
    scheduler = _load_component(
        "base/scheduler",
        base.path / "scheduler",
        base_fix,
        sched_cls.from_pretrained,
        base.path,
        subfolder="scheduler",
    )
    components["scheduler"] = _swap_scheduler(scheduler, config.scheduler)

    ip = config.ref("ip_adapter")
    if ip is not None:
        enc = config.ref("image_encoder")
        assert enc is not None
        image_encoder = _load_component(
            "image_encoder", enc.path, _fix_for(config, "image_encoder", enc),
            CLIPVisionModelWithProjection.from_pretrained, enc.path,
            variant=variant(enc.path, WEIGHT_STEMS["model"]), dtype=dtype, **common,
        )  # fmt: skip
        size = int(image_encoder.config.image_size)
        components["image_encoder"] = image_encoder
        components["feature_extractor"] = CLIPImageProcessor(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}
        )
    else:
        components["image_encoder"] = None
        components["feature_extractor"] = None

    from gpu_worker.generate.pipelines.run import PosePipelines

    if family is Family.SDXL:
        generate = diffusers.StableDiffusionXLControlNetPipeline(**components, add_watermarker=False)
        refine = diffusers.StableDiffusionXLControlNetImg2ImgPipeline(
            **generate.components, requires_aesthetics_score=False, add_watermarker=False
        )
    else:
        extra = {"safety_checker": None, "requires_safety_checker": False}
        generate = diffusers.StableDiffusionControlNetPipeline(**components, **extra)
        refine = diffusers.StableDiffusionControlNetImg2ImgPipeline(
            **{**generate.components, **extra}
        )
    pipe = generate  # adapters, LoRA and placement act on the shared components through it
    for p in (generate, refine):
        p.set_progress_bar_config(disable=True)

    face = config.ref("ip_adapter_face")
    if ip is not None:
        adapters = [ip] + ([face] if face is not None else [])
        _load_component(
            "ip_adapter" if face is None else "ip_adapter / ip_adapter_face", ip.path,
            _fix_for(config, "ip_adapter", ip), pipe.load_ip_adapter,
            [str(a.path.parent) for a in adapters], subfolder=[""] * len(adapters),
            weight_name=[a.path.name for a in adapters], image_encoder_folder=None, **common,
        )  # fmt: skip
        scales = [config.ip_adapter_scale] + ([config.ip_adapter_face_scale] if face is not None else [])
        pipe.set_ip_adapter_scale(scales if len(scales) > 1 else scales[0])
    lora = config.ref("lora")
    if lora is not None:
        _load_component(
            "lora", lora.path, "install `peft` (pip install peft) and check the LoRA matches the base family",
            pipe.load_lora_weights, str(lora.path.parent), weight_name=lora.path.name, **common,
        )  # fmt: skip
        pipe.fuse_lora(lora_scale=config.lora_scale)

    _place(pipe, config, device, dtype)
    seconds = time.perf_counter() - started
    log.info("diffusion models loaded: %s on %s/%s in %.1f s", family.value, device, dtype, seconds)
    pipelines = PosePipelines(generate, refine, sdxl=family is Family.SDXL)
    return LoadedModels(
        family, pipelines, device, dtype, ip is not None, report.pixel_multiple, seconds,
        has_face_adapter=ip is not None and face is not None,
    )  # fmt: skip


def _load_edit(config: DiffusionConfig, report: ModelReport) -> LoadedModels:
    """A reference-editing pipeline: the stock diffusers class, every component from the one base folder."""
    import diffusers

    started = time.perf_counter()
    device, dtype = resolve_device(config)
    base = config.ref("base")
    assert base is not None and report.family is not None
    cls = getattr(diffusers, config.preset_values.pipeline)
    pipe = _load_component(
        "base", base.path, _fix_for(config, "base", base), cls.from_pretrained, base.path, torch_dtype=dtype,
        local_files_only=True,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    lora = config.ref("lora")
    if lora is not None:
        _load_component(
            "lora", lora.path, "install `peft` (pip install peft) and check the LoRA matches the base model",
            pipe.load_lora_weights, str(lora.path.parent), weight_name=lora.path.name, local_files_only=True,
        )  # fmt: skip
        pipe.fuse_lora(lora_scale=config.lora_scale)
    if config.cpu_offload and device.type == "cuda":
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if config.compile:
        pipe.transformer.compile(mode=config.compile_mode)
    seconds = time.perf_counter() - started
    log.info("edit model loaded: %s on %s/%s in %.1f s", report.family.value, device, dtype, seconds)
    return LoadedModels(report.family, pipe, device, dtype, False, report.pixel_multiple, seconds)


def _swap_scheduler(scheduler: Any, name: str) -> Any:
    if name == "default":
        return scheduler
    import diffusers

    classes = {
        "euler": diffusers.EulerDiscreteScheduler,
        "euler_a": diffusers.EulerAncestralDiscreteScheduler,
        "unipc": diffusers.UniPCMultistepScheduler,
        "dpmpp_2m": diffusers.DPMSolverMultistepScheduler,
        "ddim": diffusers.DDIMScheduler,
        "lcm": diffusers.LCMScheduler,
        "tcd": diffusers.TCDScheduler,
    }
    return classes[name].from_config(scheduler.config)


def _place(pipe: Any, config: DiffusionConfig, device: torch.device, dtype: torch.dtype) -> None:
    """Device, memory format, offload and compilation (each only where it helps)."""
    import torch

    if config.cpu_offload and device.type == "cuda":
        # Moves each model to the GPU only while it runs: ~1/3 of the memory, slower (PCIe copies every call).
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if device.type == "cuda" and config.channels_last:
        # Convolutions in NHWC use the tensor-core kernels directly (no layout transposes) under cuDNN.
        for module in (pipe.unet, pipe.controlnet, pipe.vae):
            module.to(memory_format=torch.channels_last)
    if config.compile:
        # nn.Module.compile keeps the module (and its .config) in place; shapes are static per (batch, size),
        # so each new batch size compiles once (the OOM fallback halves it: at most log2(max_batch) variants).
        pipe.unet.compile(mode=config.compile_mode)
        pipe.controlnet.compile(mode=config.compile_mode)
