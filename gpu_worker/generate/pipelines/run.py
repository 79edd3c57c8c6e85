"""diffusers' stock ControlNet pipelines behind the backend's one call: generate (txt2img) or refine (img2img).

SD1.5: `StableDiffusionControlNetPipeline` / `StableDiffusionControlNetImg2ImgPipeline`; SDXL:
`StableDiffusionXLControlNetPipeline` / `StableDiffusionXLControlNetImg2ImgPipeline`. The two pipelines of a family
share every component (one set of weights in memory). What is ours is only what the stock `__call__` takes as
arguments anyway:
- text and image-prompt embeddings are computed once per product photo (`encode_conditioning`) and passed as
  `prompt_embeds` / `ip_adapter_image_embeds` to every batch, including the smaller batches after a CUDA
  out-of-memory retry;
- one torch.Generator per image (a list), so an image does not depend on how it was batched;
- a plain `(step, total)` progress callback on top of `callback_on_step_end`.
tests/gpu_worker/generate/test_pipeline_parity.py checks this against the stock pipelines called with plain
prompt strings and PIL images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import PIL.Image
import torch

StepCallback = Callable[[int, int], None]


@dataclass
class Conditioning:
    """Per-photo conditioning, batch 1 (the pipelines repeat it per image)."""

    prompt_embeds: torch.Tensor
    negative_prompt_embeds: torch.Tensor | None  # None without classifier-free guidance
    pooled_prompt_embeds: torch.Tensor | None  # SDXL only
    negative_pooled_prompt_embeds: torch.Tensor | None
    # Per IP-Adapter, as the stock pipelines take them: cat([negative, positive]) under CFG, else positive.
    ip_adapter_embeds: list[torch.Tensor] | None

    @property
    def do_cfg(self) -> bool:
        return self.negative_prompt_embeds is not None


def _batch(t: torch.Tensor | None, n: int) -> torch.Tensor | None:
    return None if t is None else t.repeat(n, *([1] * (t.dim() - 1)))


class PosePipelines:
    """The generate and refine pipelines of one family (`sdxl` True for SDXL), sharing their components."""

    def __init__(self, generate: Any, refine: Any, *, sdxl: bool) -> None:
        self.generate = generate
        self.refine = refine
        self.sdxl = sdxl

    # The shared components, for placement (model_loader) and VAE tiling (backend).
    @property
    def vae(self) -> Any:
        return self.generate.vae

    @property
    def unet(self) -> Any:
        return self.generate.unet

    @property
    def controlnet(self) -> Any:
        return self.generate.controlnet

    @property
    def scheduler(self) -> Any:
        return self.generate.scheduler

    @torch.no_grad()
    def encode_conditioning(
        self, prompt: str, negative_prompt: str, *, ip_adapter_image: PIL.Image.Image | None, guidance_scale: float
    ) -> Conditioning:
        """Text and image-prompt embeddings of one product photo, computed once for all its poses."""
        pipe = self.generate
        device = pipe._execution_device
        do_cfg = guidance_scale > 1.0
        negative = negative_prompt if do_cfg else None
        pooled = negative_pooled = None
        if self.sdxl:
            pos, neg, pooled, negative_pooled = pipe.encode_prompt(
                prompt, device=device, num_images_per_prompt=1, do_classifier_free_guidance=do_cfg,
                negative_prompt=negative,
            )  # fmt: skip
        else:
            pos, neg = pipe.encode_prompt(prompt, device, 1, do_cfg, negative)
        ip_embeds = None
        if ip_adapter_image is not None:
            ip_embeds = pipe.prepare_ip_adapter_image_embeds(ip_adapter_image, None, device, 1, do_cfg)
        return Conditioning(
            pos, neg if do_cfg else None, pooled, negative_pooled if do_cfg else None, ip_embeds
        )

    @torch.no_grad()
    def __call__(
        self,
        *,
        control_images: Sequence[PIL.Image.Image],
        conditioning: Conditioning,
        generators: Sequence[torch.Generator],
        height: int,
        width: int,
        init_images: Sequence[PIL.Image.Image] | None = None,
        num_inference_steps: int = 20,
        strength: float = 0.55,
        guidance_scale: float = 7.0,
        controlnet_conditioning_scale: float = 1.0,
        eta: float = 0.0,
        step_callback: StepCallback | None = None,
    ) -> list[PIL.Image.Image]:
        """Denoise one batch (one item per pose) and return the decoded images (`width` × `height`):
        from noise when `init_images` is None (generate), else from the init images at `strength` (refine)."""
        control_images = list(control_images)
        n = len(control_images)
        if n == 0 or len(generators) != n:
            raise ValueError(f"need one generator per control image, got {len(generators)} for {n}")
        if init_images is not None and len(init_images) != n:
            raise ValueError(f"need one init image per control image, got {len(init_images)} for {n}")
        cond = conditioning
        if guidance_scale > 1.0 and not cond.do_cfg:
            # The stock pipeline would quietly encode an empty negative prompt instead.
            raise ValueError("conditioning was encoded without classifier-free guidance; encode it again")

        def on_step_end(pipe: Any, i: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if step_callback is not None:
                step_callback(i + 1, pipe.num_timesteps)
            return kwargs

        kwargs: dict[str, Any] = dict(
            prompt_embeds=_batch(cond.prompt_embeds, n),
            negative_prompt_embeds=_batch(cond.negative_prompt_embeds, n) if cond.do_cfg else None,
            ip_adapter_image_embeds=cond.ip_adapter_embeds,
            generator=list(generators),
            height=height,
            width=width,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            controlnet_conditioning_scale=controlnet_conditioning_scale,
            eta=eta,
            output_type="pil",
            callback_on_step_end=on_step_end,
        )
        if self.sdxl:
            # SDXL base size conditioning: original = target = the generation size, crop (0, 0).
            kwargs.update(
                pooled_prompt_embeds=_batch(cond.pooled_prompt_embeds, n),
                negative_pooled_prompt_embeds=_batch(cond.negative_pooled_prompt_embeds, n),
                original_size=(height, width), target_size=(height, width),
            )  # fmt: skip
        if init_images is None:
            return list(self.generate(image=control_images, **kwargs).images)
        refine = self.refine(image=list(init_images), control_image=control_images, strength=strength, **kwargs)
        return list(refine.images)
