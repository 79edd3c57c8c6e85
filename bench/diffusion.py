"""Diffusion backends per preset: seconds per product (6 poses) and per image, peak memory, batch 6 vs 6 x batch 1,
eager vs torch.compile, through the production path (loader, diffusers' stock pipelines, backend).

    .venv/bin/python bench/diffusion.py --device cuda      # GPU: full-size random SD1.5/SDXL (+ edit presets
                                                           #   with --models-dir after `pose-studio models fetch`)
    .venv/bin/python bench/diffusion.py                    # CPU: tiny random models of every preset (~1-2 min)
    .venv/bin/python bench/diffusion.py --cost-model       # + FLOPs per forward and the SD1.5-sized CPU step

Random weights cost exactly what trained ones do (the images are noise). Nothing is downloaded: models are written
by `pose-studio models fake` (tiny, or `--size full`) into a temporary models dir, or read from --models-dir.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SD15_UNET = dict(
    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768, attention_head_dim=8,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, sample_size=64,
)  # fmt: skip
SDXL_UNET = dict(
    block_out_channels=(320, 640, 1280), layers_per_block=2, cross_attention_dim=2048,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), use_linear_projection=True,
    addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
    sample_size=128,
)  # fmt: skip
VAE = dict(
    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4, sample_size=512,
)  # fmt: skip


def _unet_inputs(family: str, batch: int, h: int, w: int, device: str, dtype: torch.dtype) -> dict[str, object]:
    cross = 768 if family == "sd15" else 2048
    kw: dict[str, object] = {
        "sample": torch.randn(batch, 4, h // 8, w // 8, device=device, dtype=dtype),
        "timestep": torch.tensor([500] * batch, device=device),
        "encoder_hidden_states": torch.randn(batch, 77, cross, device=device, dtype=dtype),
    }
    if family == "sdxl":
        kw["added_cond_kwargs"] = {
            "text_embeds": torch.randn(batch, 1280, device=device, dtype=dtype),
            "time_ids": torch.tensor([[h, w, 0, 0, h, w]] * batch, device=device, dtype=dtype),
        }
    return kw


def flops_table() -> None:
    """Exact FLOPs (2 × multiply-adds) of one forward at 768×1024, batch 1, counted on the meta device."""
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode

    print("\n## FLOPs per forward at 768x1024, batch 1 (meta device, exact op count)")
    print(f"{'model':<22}{'params':>14}{'TFLOPs':>10}")
    h, w = 1024, 768
    for family, cfg in (("sd15", SD15_UNET), ("sdxl", SDXL_UNET)):
        with torch.device("meta"):
            unet = UNet2DConditionModel(**cfg)
            cn = ControlNetModel.from_unet(unet)
        kw = _unet_inputs(family, 1, h, w, "meta", torch.float32)
        for name, model, extra in (
            ("unet", unet, {}),
            ("controlnet", cn, {"controlnet_cond": torch.randn(1, 3, h, w, device="meta")}),
        ):
            counter = FlopCounterMode(display=False)
            with counter, torch.no_grad():
                model(**kw, **extra)
            params = sum(p.numel() for p in model.parameters())
            print(f"{family + ' ' + name:<22}{params:>14,}{counter.get_total_flops() / 1e12:>10.2f}")
    with torch.device("meta"):
        vae = AutoencoderKL(**VAE)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        vae.decode(torch.randn(1, 4, h // 8, w // 8, device="meta"))
    print(f"{'vae decode':<22}{sum(p.numel() for p in vae.decoder.parameters()):>14,}"
          f"{counter.get_total_flops() / 1e12:>10.2f}")  # fmt: skip


def preset_bench(preset: str, args: argparse.Namespace, root: Path) -> None:
    """One preset through the production backend (loader, stock pipelines, letterbox, IP-Adapter crops): seconds per
    product of 6 poses and per image, batch 6 vs 6 x batch 1, eager vs compiled, peak memory."""
    from PIL import Image

    from gpu_worker.generate.diffusion import DiffusionBackend
    from gpu_worker.generate.edit import EditBackend
    from gpu_worker.generate.fake_models import write_fake_preset
    from gpu_worker.generate.model_config import DiffusionConfig
    from gpu_worker.generate.model_loader import clear_cache, inspect_models
    from gpu_worker.pose.detect import detect
    from gpu_worker.pose.library import load_pose_set
    from gpu_worker.pose.retarget import retarget

    models_dir = Path(args.models_dir) if args.models_dir else root / preset
    env = {"POSE_STUDIO_DIFFUSION_PRESET": preset, "POSE_STUDIO_MODELS_DIR": str(models_dir),
           "POSE_STUDIO_DIFFUSION_DEVICE": args.device}  # fmt: skip
    if args.size == "tiny":
        env.update({"POSE_STUDIO_DIFFUSION_STEPS": "2", "POSE_STUDIO_DIFFUSION_RESOLUTION": "64",
                    "POSE_STUDIO_DIFFUSION_MAX_SEQUENCE_LENGTH": "96"})  # fmt: skip
    if args.steps:
        env["POSE_STUDIO_DIFFUSION_STEPS"] = str(args.steps)
    config = DiffusionConfig.from_env(env)
    if not args.models_dir:
        t0 = time.perf_counter()
        try:
            write_fake_preset(preset, models_dir, full=args.size == "full")
        except (ImportError, ValueError) as exc:
            print(f"{preset:<16} skipped: {exc}", flush=True)
            return
        print(f"{preset:<16} wrote {args.size} random models in {time.perf_counter() - t0:.1f} s", flush=True)
    report = inspect_models(config)
    if not report.ok:
        print(f"{preset:<16} skipped: " + "; ".join(str(p) for p in report.problems), flush=True)
        return

    photo = Image.open(ROOT / "gpu_worker" / "assets" / "samples" / "bussiness_woman_donna_i_01.png").convert("RGB")
    long_side = max(config.long_side, 320)  # the product photo; tiny runs generate at 64 px but detect needs more
    photo = photo.resize((round(photo.width * long_side / photo.height), long_side), Image.Resampling.LANCZOS)
    source = detect(photo)
    # 6 poses: 4 refine + 2 generate on the ControlNet path (--poses N: the first N, e.g. for a quick check)
    poses = list(load_pose_set("editorial").poses)[: args.poses]
    targets = [retarget(source, p) for p in poses]
    cuda = args.device.startswith("cuda")

    def backend(**overrides: object):  # noqa: ANN202
        cfg = config.with_overrides(**overrides)
        return EditBackend(cfg) if cfg.is_edit else DiffusionBackend(cfg)

    def timed(be) -> float:  # noqa: ANN001
        be.render(photo, source, targets[:2], seed=0, poses=poses[:2])  # warm-up (loads; compiles)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        best = float("inf")
        for _ in range(args.repeat):  # best of N: the least disturbed run
            t = time.perf_counter()
            be.render(photo, source, targets, seed=1, poses=poses)
            if cuda:
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return best

    rows = [("eager, batch 6", {}), ("eager, 6 x batch 1", {"max_batch": 1})]
    if args.compile:
        rows.append(("compiled, batch 6", {"compile": True}))
    for label, overrides in rows:
        s = timed(backend(**overrides))
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f}" if cuda else f"{_rss_gib():.1f} (RSS)"
        print(f"{preset:<16}{label:<20}{config.num_steps:>6}{s:>12.2f}{s / len(targets):>10.2f}{peak:>14}",
              flush=True)  # fmt: skip
        clear_cache()
        if cuda:
            torch.cuda.empty_cache()


def _rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def sd15_cpu(batch_ratio: bool) -> None:
    """SD1.5-sized UNet + ControlNet with random weights at 512x512 on this CPU (fp32)."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    print("\n## SD1.5-sized UNet + ControlNet, random weights, 512x512, fp32, CPU", flush=True)
    t0 = time.perf_counter()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD15_UNET).eval()
    cn = ControlNetModel.from_unet(unet).eval()
    print(f"built in {time.perf_counter() - t0:.1f} s ({torch.get_num_threads()} threads)")

    def step(batch: int) -> tuple[float, float]:
        kw = _unet_inputs("sd15", batch, 512, 512, "cpu", torch.float32)
        with torch.no_grad():
            t = time.perf_counter()
            down, mid = cn(**kw, controlnet_cond=torch.randn(batch, 3, 512, 512), return_dict=False)
            t_cn = time.perf_counter() - t
            t = time.perf_counter()
            unet(**kw, down_block_additional_residuals=down, mid_block_additional_residual=mid)
            return t_cn, time.perf_counter() - t

    cn_s, unet_s = step(2)
    print(f"one denoising step with CFG (batch 2): controlnet {cn_s:.2f} s + unet {unet_s:.2f} s "
          f"= {cn_s + unet_s:.2f} s")  # fmt: skip
    if batch_ratio:
        single = sum(sum(step(1)) for _ in range(6))
        six = sum(step(6))
        print(f"batch 6: {six:.1f} s vs 6 x batch 1: {single:.1f} s -> ratio {six / single:.2f}")


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else float("nan")


PRESETS = ("sd15", "sdxl", "flux2-klein", "qwen-image-edit")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu | cuda[:N]")
    parser.add_argument("--size", choices=("tiny", "full"), default=None,
                        help="random models: tiny (64 px, 2 steps; default on CPU) or full-size (default on CUDA; "
                             "SD1.5/SDXL only, edit presets need --models-dir)")  # fmt: skip
    parser.add_argument("--models-dir", default="", help="bench the models `pose-studio models fetch` put here")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets")
    parser.add_argument("--steps", type=int, default=0, help="denoising steps (default: the preset's; tiny: 2)")
    parser.add_argument("--poses", type=int, default=6, help="poses per product (the editorial set has 6)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per row (the best is printed)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="add a torch.compile row (default on CUDA)")  # fmt: skip
    parser.add_argument("--cost-model", action="store_true", help="also FLOPs and the SD1.5-sized CPU step")
    parser.add_argument("--sd15-batch", action="store_true", help="with --cost-model: batch 6 vs 6 x 1 at SD1.5 size")
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    args.size = args.size or ("full" if cuda else "tiny")
    args.compile = cuda if args.compile is None else args.compile
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}; {name}; {args.size} models; one product = {args.poses} poses (editorial set)")
    if args.cost_model:
        flops_table()
        sd15_cpu(args.sd15_batch)
    print(f"\n{'preset':<16}{'run':<20}{'steps':>6}{'s/product':>12}{'s/image':>10}{'peak GiB':>14}")
    with tempfile.TemporaryDirectory(prefix="bench-diffusion-") as tmp:
        for preset in [p for p in args.presets.split(",") if p]:
            preset_bench(preset, args, Path(tmp))


if __name__ == "__main__":
    main(sys.argv[1:])
