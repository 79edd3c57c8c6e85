"""The diffusion backend: OpenPose-ControlNet (+ IP-Adapter) re-posing, batched over the poses of one photo.

Per pose, one of two modes (`Mode`):
- `refine`: the warp backend renders the pose first; its output is denoised from `refine_strength` under the
  pose ControlNet (target skeleton) and the IP-Adapter (source photo), and the garment pixels the warp copied
  exactly (`Rendered.exact_mask`) are composited back with a feathered edge, so prints, logos and text stay
  pixel-faithful.
- `generate`: from noise under the same conditioning, for poses the warp cannot render (`Pose.backends`
  without "warp").

Both run diffusers' own ControlNet pipelines (`pipelines/run.py`). The IP-Adapter sees the whole person,
square-padded (and a face crop with a face adapter: `references.py`). Generation sizes snap to a few aspect buckets
(`generation_size`), the output frame letterboxed into the bucket and cropped back (`Letterbox`), so a compiled model
meets a few shapes only. A `generate` output reports `uncovered_fraction = 0.0` (nothing was copied, so nothing is
uncovered; the gate judges its pixels).

Speed: the text and image-prompt embeddings are computed once per photo; all poses of a mode go through one
batched denoising call (batch = poses), each with its own torch.Generator seeded from (job seed, pose id), so
an image does not depend on how it was batched. A CUDA out-of-memory error halves the batch and retries; the
smaller batch is kept for the rest of the process. Models load lazily in the worker child on the first
`render` (`model_loader`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from gpu_worker.errors import PoseStudioError
from gpu_worker.generate.base import ProgressCallback, Rendered
from gpu_worker.generate.compositing import composite_exact
from gpu_worker.generate.model_config import ConfigError, DiffusionConfig, Mode
from gpu_worker.generate.references import border_colour, ip_adapter_images

if TYPE_CHECKING:
    from gpu_worker.generate.base import Backend
    from gpu_worker.generate.model_loader import LoadedModels
    from gpu_worker.pose.library import Pose
    from gpu_worker.pose.skeleton import Skeleton

log = logging.getLogger(__name__)

# Share of the progress bar each stage takes (denoising dominates on a GPU).
_P_LOAD, _P_WARP, _P_ENCODE, _P_DENOISE = 0.05, 0.10, 0.05, 0.75


class DiffusionOutOfMemory(PoseStudioError):
    """Even a batch of one pose does not fit in GPU memory."""


def item_seed(seed: int, pose_id: str) -> int:
    """The seed of one (job, pose) pair: stable across processes and batch layouts (unlike `hash()`)."""
    digest = hashlib.sha256(f"{int(seed)}:{pose_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


# Width / height ratios the generation size snaps to. A compiled UNet / ControlNet specialises on tensor shapes, so
# one size per photo aspect would recompile for nearly every product; with buckets a worker compiles at most
# len(ASPECT_BUCKETS) sizes (× batch sizes) and then reuses them. The figure keeps its exact aspect: it is
# letterboxed into the bucket (`Letterbox`) and cropped back out afterwards.
ASPECT_BUCKETS = (9 / 16, 2 / 3, 3 / 4, 4 / 5, 1.0, 5 / 4, 4 / 3, 3 / 2, 16 / 9)


def generation_size(width: int, height: int, long_side: int, multiple: int) -> tuple[int, int]:
    """The generation size for a `width` × `height` output: the aspect bucket nearest to it (log ratio), long
    side ≈ `long_side`, both sides multiples of `multiple` (VAE × UNet down-sampling)."""
    aspect = width / height
    bucket = min(ASPECT_BUCKETS, key=lambda a: abs(math.log(a / aspect)))

    def snap(v: float) -> int:
        return max(multiple, int(round(v / multiple)) * multiple)

    if bucket >= 1.0:
        return snap(long_side), snap(long_side / bucket)
    return snap(long_side * bucket), snap(long_side)


@dataclass(frozen=True)
class Letterbox:
    """Where an output frame sits, aspect kept, inside a generation bucket: scale, then offset (centred)."""

    out_size: tuple[int, int]
    gen_size: tuple[int, int]

    @property
    def box(self) -> tuple[int, int, int, int]:
        (ow, oh), (gw, gh) = self.out_size, self.gen_size
        s = min(gw / ow, gh / oh)
        cw, ch = max(1, round(ow * s)), max(1, round(oh * s))
        x0, y0 = (gw - cw) // 2, (gh - ch) // 2
        return x0, y0, x0 + cw, y0 + ch

    def pad(self, image: Image.Image, fill: tuple[int, ...]) -> Image.Image:
        """`image` (any size of the output's aspect) scaled into the box on a `fill` canvas of the bucket."""
        x0, y0, x1, y1 = self.box
        canvas = Image.new("RGB", self.gen_size, fill)
        canvas.paste(image.convert("RGB").resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS), (x0, y0))
        return canvas

    def crop(self, image: Image.Image) -> Image.Image:
        """The output frame back out of a generated bucket-size image, at the output size."""
        return image.crop(self.box).resize(self.out_size, Image.Resampling.LANCZOS)


@dataclass
class _Item:
    index: int
    target: Skeleton
    pose_id: str
    mode: Mode
    seed: int
    control: Image.Image
    warped: Rendered | None = None
    init: Image.Image | None = None  # the warped image letterboxed into the generation size (refine)


class DiffusionBackend:
    """`Backend` that re-poses with a pose ControlNet. Construct freely (nothing loads until `render`)."""

    name = "diffusion"
    stochastic = True  # another seed gives another image: the engine re-renders failed outputs

    def __init__(self, config: DiffusionConfig | None = None, *, warp: Backend | None = None) -> None:
        self.config = config if config is not None else DiffusionConfig.from_env()
        if self.config.is_edit:
            raise ConfigError(
                f"preset {self.config.preset!r} is a reference-editing model: use --backend edit "
                "(--backend diffusion needs POSE_STUDIO_DIFFUSION_PRESET=sdxl or sd15)"
            )
        self._warp = warp
        self.max_batch = self.config.max_batch  # lowered for good after a CUDA OOM
        self._lock = threading.Lock()  # the pipeline's scheduler holds per-call state

    # -- Backend protocol
    # --------------------------------------------------------------------------------------
    def supports(self, pose: Pose) -> bool:
        backends = tuple(getattr(pose, "backends", ()) or ())
        return not backends or self.name in backends

    def mode_for(self, pose: Pose | None) -> Mode:
        """refine when the warp can render `pose` (or nothing says otherwise), else generate; a configured
        mode wins."""
        if self.config.mode is not Mode.AUTO:
            return self.config.mode
        if pose is None:
            return Mode.REFINE
        return Mode.REFINE if self.warp.supports(pose) else Mode.GENERATE

    @property
    def warp(self) -> Backend:
        if self._warp is None:
            from gpu_worker.generate.warp import WarpBackend

            self._warp = WarpBackend()
        return self._warp

    def render(
        self,
        photo: Image.Image,
        source: Skeleton,
        targets: Sequence[Skeleton],
        *,
        seed: int = 0,
        progress: ProgressCallback | None = None,
        poses: Sequence[Pose] | None = None,
    ) -> list[Rendered]:
        """One image per target skeleton (in the targets' frame). Pass `poses` (same order as `targets`) so
        each pose gets its mode and a seed tied to its id; without them, items are refined and seeded by
        position."""
        if poses is not None and len(poses) != len(targets):
            raise ValueError(f"got {len(poses)} poses for {len(targets)} targets")
        if not targets:
            return []
        report = _Progress(progress)
        with self._lock:
            return self._render(photo.convert("RGB"), source, list(targets), seed, report, poses)

    # -- the work
    # ----------------------------------------------------------------------------------------------
    def _render(
        self,
        photo: Image.Image,
        source: Skeleton,
        targets: list[Skeleton],
        seed: int,
        report: _Progress,
        poses: Sequence[Pose] | None,
    ) -> list[Rendered]:
        from gpu_worker.generate.model_loader import load_models
        from gpu_worker.pose.render import line_width_for, render_openpose

        cfg = self.config
        # 1. models (first call in this process loads them)
        report(0.0, "loading diffusion models")
        models = load_models(cfg)
        report(_P_LOAD, "diffusion models ready")

        # 2. plan: mode, seed and control image per pose
        out_w, out_h = targets[0].width, targets[0].height
        gw, gh = generation_size(out_w, out_h, cfg.long_side, models.pixel_multiple)
        box = Letterbox((out_w, out_h), (gw, gh))
        x0, y0, x1, y1 = box.box
        line = cfg.line_width or line_width_for(gw, gh)
        items: list[_Item] = []
        for k, target in enumerate(targets):
            pose = poses[k] if poses is not None else None
            pose_id = str(getattr(pose, "id", k)) if pose is not None else str(k)
            figure = render_openpose(
                target.scaled_to(x1 - x0, y1 - y0), width=x1 - x0, height=y1 - y0, stick_width=line,
                joint_radius=line,
            )  # fmt: skip
            control = box.pad(figure, (0, 0, 0))  # OpenPose's black background
            items.append(_Item(k, target, pose_id, self.mode_for(pose), item_seed(seed, pose_id), control))

        # 3. warp the poses to refine (their starting images and exact garment pixels)
        refine = [it for it in items if it.mode is Mode.REFINE]
        if refine:

            def warp_progress(f: float, stage: str) -> None:
                report(_P_LOAD + _P_WARP * f, f"warp: {stage}")

            warped = self.warp.render(
                photo, source, [it.target for it in refine], seed=seed, progress=warp_progress
            )
            for it, r in zip(refine, warped, strict=True):
                it.warped = r
                it.init = box.pad(r.image, border_colour(r.image))
        report(_P_LOAD + _P_WARP, "warp done")

        # 4. text + image-prompt embeddings, once for the photo
        pipe = models.pipeline
        ip_images = ip_adapter_images(photo, source, face=models.has_face_adapter) if models.has_ip_adapter else None
        cond = pipe.encode_conditioning(
            cfg.prompt,
            cfg.negative_prompt,
            ip_adapter_image=ip_images,
            guidance_scale=cfg.guidance,
        )
        start = _P_LOAD + _P_WARP + _P_ENCODE
        report(start, "photo encoded")
        if gw * gh > cfg.vae_tiling_above:
            pipe.vae.enable_tiling()
        else:
            pipe.vae.disable_tiling()

        # 5. one batched denoising call per mode (split only on out-of-memory)
        steps = cfg.num_steps
        units = {Mode.REFINE: _refine_steps(steps, cfg.refine_strength), Mode.GENERATE: steps}
        total = sum(units[it.mode] for it in items)
        done = 0
        results: dict[int, tuple[Image.Image, int]] = {}
        for mode in (Mode.REFINE, Mode.GENERATE):
            group = [it for it in items if it.mode is mode]
            if not group:
                continue

            def on_units(n: int, mode: Mode = mode) -> None:
                nonlocal done
                done += n
                report(start + _P_DENOISE * min(1.0, done / total), f"denoising ({mode.value})")

            results.update(self._denoise(models, cond, group, mode, gw, gh, on_units))

        # 6. back to the output frame; refine puts the exact garment pixels back
        rendered: list[Rendered] = []
        for it in items:
            image, batch_size = results[it.index]
            extras: dict[str, object] = {
                "backend": self.name, "mode": it.mode.value, "pose_id": it.pose_id, "seed": it.seed,
                "steps": units[it.mode], "batch_size": batch_size, "generation_size": (gw, gh),
                "family": models.family.value, "control_image": it.control,
                "generated": image,  # the denoiser's own output, at generation size, before any compositing
                "ip_adapter_image": ip_images,  # what the IP-Adapter(s) saw, one image per adapter
            }  # fmt: skip
            out = box.crop(image)
            if it.warped is not None:
                w = it.warped
                final = composite_exact(out, w.image, w.exact_mask, feather=cfg.feather)
                extras["warp_foldover_fraction"] = w.foldover_fraction
                extras["warp_image"] = w.image
                extras["init_image"] = it.init
                # The denoiser redraws folds, so the warp's fold-over measure no longer describes the output.
                # What the warp had to invent it still had to invent: its uncovered share stands.
                rendered.append(Rendered(final, w.exact_mask, w.uncovered_fraction, 0.0, extras))
            else:
                # Generated from noise: nothing was copied, so nothing is "uncovered" either. The gate judges
                # these from the pixels (pose, figure, colours); the backend reports no measure it does not have.
                extras["uncovered_fraction"] = "not applicable (generated from noise)"
                rendered.append(Rendered(out, None, 0.0, 0.0, extras))
        report(1.0, "diffusion done")
        return rendered

    def _denoise(
        self,
        models: LoadedModels,
        cond: Any,
        group: list[_Item],
        mode: Mode,
        gw: int,
        gh: int,
        on_units: Callable[[int], None],
    ) -> dict[int, tuple[Image.Image, int]]:
        import torch

        cfg = self.config
        pending = [group[i : i + self.max_batch] for i in range(0, len(group), self.max_batch)]
        out: dict[int, tuple[Image.Image, int]] = {}
        while pending:
            chunk = pending.pop(0)
            size = len(chunk)
            # Fresh generators per attempt: a retried item gets exactly the noise it would have had.
            generators = [torch.Generator("cpu").manual_seed(it.seed) for it in chunk]
            try:
                if 0 < cfg.simulate_oom_above < size:
                    raise torch.cuda.OutOfMemoryError(
                        f"simulated CUDA out of memory for a batch of {size} "
                        f"(POSE_STUDIO_DIFFUSION_SIMULATE_OOM_ABOVE={cfg.simulate_oom_above})"
                    )
                images = models.pipeline(
                    control_images=[it.control for it in chunk],
                    init_images=[it.init for it in chunk] if mode is Mode.REFINE else None,  # type: ignore[misc]
                    conditioning=cond,
                    generators=generators,
                    height=gh,
                    width=gw,
                    num_inference_steps=cfg.num_steps,
                    strength=cfg.refine_strength,
                    guidance_scale=cfg.guidance,
                    controlnet_conditioning_scale=cfg.controlnet_scale,
                    eta=cfg.eta,
                    step_callback=lambda _i, _n, size=size: on_units(size),
                )
            except torch.cuda.OutOfMemoryError as exc:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if size == 1:
                    raise DiffusionOutOfMemory(
                        f"one {gw}x{gh} image does not fit in GPU memory ({exc}); lower "
                        "POSE_STUDIO_DIFFUSION_RESOLUTION or set POSE_STUDIO_DIFFUSION_CPU_OFFLOAD=1"
                    ) from exc
                half = (size + 1) // 2
                self.max_batch = min(self.max_batch, half)
                log.warning(
                    "CUDA out of memory at batch %d (%dx%d): retrying as %d + %d",
                    size,
                    gw,
                    gh,
                    half,
                    size - half,
                )
                pending[:0] = [chunk[:half], chunk[half:]]
                continue
            for it, image in zip(chunk, images, strict=True):
                out[it.index] = (image, size)
        return out


def _refine_steps(steps: int, strength: float) -> int:
    # diffusers' img2img get_timesteps: int(steps * strength) steps run.
    return max(1, min(int(steps * strength), steps))


class _Progress:
    """Monotonic fraction reporting (a retried batch must not move the bar backwards)."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.last = 0.0

    def __call__(self, fraction: float, stage: str) -> None:
        self.last = max(self.last, min(1.0, fraction))
        if self.callback is not None:
            self.callback(self.last, stage)


def get_backend(config: DiffusionConfig | Mapping[str, str] | None = None) -> DiffusionBackend:
    """The engine's entry point: `config` is a DiffusionConfig, a mapping of POSE_STUDIO_DIFFUSION_*
    variables, or None (read the environment). Cheap: models load on the first `render` in the calling
    process."""
    if isinstance(config, DiffusionConfig):
        return DiffusionBackend(config)
    return DiffusionBackend(DiffusionConfig.from_env(config))
