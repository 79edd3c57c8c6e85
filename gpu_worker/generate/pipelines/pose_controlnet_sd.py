"""SD1.5-class OpenPose ControlNet pipeline: generate from noise or refine an init image, batch = poses.

Built on `StableDiffusionControlNetImg2ImgPipeline` (diffusers, Apache-2.0); only `__call__` is ours (see the
package docstring for why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import PIL.Image
import torch
from diffusers import StableDiffusionControlNetImg2ImgPipeline

from ._denoise import PoseDenoiseMixin, StepCallback


@dataclass
class SDConditioning:
    """Per-photo conditioning, batch 1; `expand(b)` repeats it for a batch of b poses."""

    prompt_embeds: torch.Tensor  # (1, 77, D)
    negative_prompt_embeds: torch.Tensor | None  # None without classifier-free guidance
    image_embeds: list[torch.Tensor] | None  # per IP-Adapter: (1, tokens, D') positive
    negative_image_embeds: list[torch.Tensor] | None

    @property
    def do_cfg(self) -> bool:
        return self.negative_prompt_embeds is not None


class PoseControlNetPipeline(PoseDenoiseMixin, StableDiffusionControlNetImg2ImgPipeline):
    """SD1.5-class pose pipeline. Components exactly as `StableDiffusionControlNetImg2ImgPipeline`."""

    @torch.no_grad()
    def encode_conditioning(
        self,
        prompt: str,
        negative_prompt: str,
        *,
        ip_adapter_image: PIL.Image.Image | None,
        guidance_scale: float,
    ) -> SDConditioning:
        """Text and image-prompt embeddings of one product photo, computed once for all its poses."""
        device = self._execution_device
        do_cfg = guidance_scale > 1.0
        prompt_embeds, negative_embeds = self.encode_prompt(
            prompt, device, 1, do_cfg, negative_prompt if do_cfg else None
        )
        image_embeds = negative_image_embeds = None
        if ip_adapter_image is not None:
            per_adapter = self.prepare_ip_adapter_image_embeds(ip_adapter_image, None, device, 1, do_cfg)
            # prepare_ip_adapter_image_embeds returns cat([negative, positive]) under CFG.
            image_embeds = [e.chunk(2)[1] if do_cfg else e for e in per_adapter]
            negative_image_embeds = [e.chunk(2)[0] for e in per_adapter] if do_cfg else None
        return SDConditioning(
            prompt_embeds, negative_embeds if do_cfg else None, image_embeds, negative_image_embeds
        )

    @torch.no_grad()
    def __call__(  # type: ignore[override]
        self,
        *,
        control_images: Sequence[PIL.Image.Image],
        conditioning: SDConditioning,
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
        """Denoise one batch (one item per pose) and return the decoded images (`width` × `height`)."""
        # 1. Check inputs. Raise error if not correct
        batch = self._check_inputs(control_images, generators, init_images, height, width, guidance_scale,
                                   conditioning.do_cfg)  # fmt: skip
        device = self._execution_device
        do_cfg = conditioning.do_cfg

        # 2. Expand the per-photo conditioning to the batch: [negative × b, positive × b] under CFG
        prompt_embeds = conditioning.prompt_embeds.repeat(batch, 1, 1)
        if do_cfg:
            negative = conditioning.negative_prompt_embeds.repeat(batch, 1, 1)  # type: ignore[union-attr]
            prompt_embeds = torch.cat([negative, prompt_embeds])
        added_cond_kwargs = None
        if conditioning.image_embeds is not None:
            image_embeds = []
            for k, pos in enumerate(conditioning.image_embeds):
                emb = pos.repeat(batch, *([1] * (pos.dim() - 1)))
                if do_cfg:
                    neg = conditioning.negative_image_embeds[k]  # type: ignore[index]
                    emb = torch.cat([neg.repeat(batch, *([1] * (neg.dim() - 1))), emb])
                image_embeds.append(emb.to(device))
            added_cond_kwargs = {"image_embeds": image_embeds}

        # 3.-6. Prepare the control images, timesteps and latents, then the denoising loop (shared: `_denoise`)
        latents = self._denoise(
            control_images=control_images,
            generators=generators,
            init_images=init_images,
            prompt_embeds=prompt_embeds,
            controlnet_added_cond_kwargs=None,
            unet_added_cond_kwargs=added_cond_kwargs,
            height=height,
            width=width,
            num_inference_steps=num_inference_steps,
            strength=strength,
            guidance_scale=guidance_scale,
            controlnet_conditioning_scale=controlnet_conditioning_scale,
            eta=eta,
            do_cfg=do_cfg,
            device=device,
            step_callback=step_callback,
        )

        # 7. Decode
        self._offload_denoisers()
        decoded = self.vae.decode(
            latents.to(self.vae.dtype) / self.vae.config.scaling_factor, return_dict=False
        )[0]
        images = self.image_processor.postprocess(decoded, output_type="pil", do_denormalize=[True] * batch)

        # 8. Offload all models
        self.maybe_free_model_hooks()
        return list(images)
