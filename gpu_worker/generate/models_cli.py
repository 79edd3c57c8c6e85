"""`pose-studio models check|fetch|fake`: are the diffusion models there and do they fit together; download
them; or write tiny random stand-ins in the same layout (`fake`, for tests and CPU demos).

`check` reads configs and safetensors headers only (seconds, no GPU) and exits 1 when anything is missing or
mismatched, saying what and how to get it. `fetch` downloads the configured Hub references into
`POSE_STUDIO_MODELS_DIR` with `huggingface_hub.snapshot_download` (only the files the loader reads) and fails
with one line where there is no network. Nothing else in the worker ever downloads.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import click

from gpu_worker.generate.model_config import MODELS_DIR_ENV, PRESETS, ConfigError, DiffusionConfig, ModelRef

# Files the loader reads, per component (relative to the component's folder). Base weights: the fp16 variant
# (half the download; the loader upcasts to the run dtype and picks the variant up by itself).
_BASE_FILES = [
    "model_index.json", "scheduler/scheduler_config.json", "tokenizer/*", "tokenizer_2/*",
    "text_encoder/config.json", "text_encoder/model.fp16.safetensors",
    "text_encoder_2/config.json", "text_encoder_2/model.fp16.safetensors",
    "unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors",
    "vae/config.json", "vae/diffusion_pytorch_model.fp16.safetensors",
]  # fmt: skip
_DIFFUSERS_MODEL_FILES = ["config.json", "diffusion_pytorch_model.safetensors"]
_TRANSFORMERS_MODEL_FILES = ["config.json", "model.safetensors"]


# A reference-editing model (FLUX.2 klein, Qwen-Image-Edit) is one diffusers folder: every component's config,
# weights (often sharded) and the tokenizer / processor files; not the single-file checkpoints at the repo root.
_EDIT_BASE_FILES = [
    "model_index.json", "scheduler/*", "tokenizer/*", "processor/*", "*/config.json", "*/*.safetensors",
    "*/*.safetensors.index.json", "text_encoder/generation_config.json",
]  # fmt: skip


def _patterns(component: str, ref: ModelRef, edit: bool = False) -> list[str]:
    prefix = f"{ref.subpath}/" if ref.subpath else ""
    if component == "base":
        files = _EDIT_BASE_FILES if edit else _BASE_FILES
    elif component in ("controlnet", "vae"):
        files = _DIFFUSERS_MODEL_FILES
    elif component == "image_encoder":
        files = _TRANSFORMERS_MODEL_FILES
    else:  # ip_adapter, ip_adapter_face, lora: the reference names the file itself
        return [ref.subpath]
    return [prefix + f for f in files]


def _config(preset: str | None = None, dest: Path | None = None) -> DiffusionConfig:
    try:
        overrides: dict[str, object] = {}
        if preset:
            overrides["preset"] = preset
        if dest is not None:
            overrides["models_dir"] = str(dest)
        return DiffusionConfig.from_env(**overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def models() -> None:
    """Check or download the diffusion models (docs/MODELS.md)."""


@models.command()
def check() -> None:
    """Verify every configured model component is present and fits the others; exit 1 if not."""
    from gpu_worker.generate.model_loader import inspect_models

    config = _config()
    report = inspect_models(config)
    family = report.family.value if report.family else "unknown"
    click.echo(f"preset {config.preset}, base family {family}, models dir {config.models_path}")
    for component, where in report.found:
        click.echo(f"  ok       {component}: {where}")
    if report.ok:
        click.echo("all diffusion model components are present and consistent")
        return
    for problem in report.problems:
        click.echo(f"  MISSING  {problem.component}: {problem.message}", err=True)
        click.echo(f"           → {problem.fix}", err=True)
    raise SystemExit(1)


@models.command()
@click.option(
    "--preset", type=click.Choice(sorted(PRESETS)), default=None, help="Model set (default: configured)."
)
@click.option(
    "--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
    help=f"Where to put them (default: ${MODELS_DIR_ENV}).",
)  # fmt: skip
@click.option("--few-step", is_flag=True, help="Also fetch the preset's few-step LoRA (TCD / LCM).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the Hub.")
def fetch(preset: str | None, dest: Path | None, few_step: bool, timeout: float) -> None:
    """Download the configured Hub models into the models dir (only the files the loader reads)."""
    config = _config(preset, dest)
    wanted: dict[str, list[str]] = defaultdict(list)
    for component in ("base", "controlnet", "vae", "ip_adapter", "image_encoder", "ip_adapter_face", "lora"):
        ref = config.ref(component)
        if ref is not None and ref.repo_id is not None:
            wanted[ref.repo_id] += _patterns(component, ref, edit=config.is_edit)
    if few_step and config.preset_values.few_step_lora:
        lora = config.with_overrides(lora=config.preset_values.few_step_lora).ref("lora")
        assert lora is not None and lora.repo_id is not None
        wanted[lora.repo_id] += _patterns("lora", lora)
    if not wanted:
        click.echo("every configured model is a local path: nothing to fetch")
        return
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise click.ClickException(
            "HF_HUB_OFFLINE is set: cannot download models; unset it, or run `pose-studio models fetch` "
            f"on a machine with network and copy {config.models_path} here"
        )
    from huggingface_hub import snapshot_download

    for repo_id, patterns in wanted.items():
        target = config.models_path / repo_id.replace("/", "--")
        click.echo(f"fetching {repo_id} → {target}")
        try:
            snapshot_download(
                repo_id, local_dir=target, allow_patterns=sorted(set(patterns)), etag_timeout=timeout,
                endpoint=endpoint,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 — network, auth and Hub errors all end the same way
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise click.ClickException(
                f"cannot download {repo_id} from {endpoint} ({type(exc).__name__}: {reason[:200]}); this host "
                f"needs network access to the Hub, or run the fetch elsewhere and copy {config.models_path} here"
            ) from exc
    from gpu_worker.generate.model_loader import inspect_models

    report = inspect_models(config)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"  MISSING  {problem}", err=True)
        raise SystemExit(1)
    click.echo(f"done: run with {MODELS_DIR_ENV}={config.models_path}")


@models.command()
@click.option("--preset", type=click.Choice(sorted(PRESETS)), required=True, help="Model set to fake.")
@click.option(
    "--dest", type=click.Path(file_okay=False, path_type=Path), required=True,
    help="Models dir to write (use it as $" + MODELS_DIR_ENV + ").",
)  # fmt: skip
def fake(preset: str, dest: Path) -> None:
    """Write tiny random-weight models of PRESET where `models fetch` puts the real ones (tests, CPU demos).

    The images they give are noise; the quality gate fails them with reasons."""
    from gpu_worker.generate.fake_models import write_fake_preset

    try:
        written = write_fake_preset(preset, dest)
    except ImportError as exc:  # the gpu extra (torch, diffusers, peft) is missing
        raise click.ClickException(f"models fake needs the gpu extra (pip install 'pose-studio[gpu]'): {exc}") from exc
    for path in written:
        click.echo(f"  wrote    {path}")
    click.echo(
        f"done: tiny random models of preset {preset}; run with {MODELS_DIR_ENV}={dest} "
        f"POSE_STUDIO_DIFFUSION_PRESET={preset}"
    )
