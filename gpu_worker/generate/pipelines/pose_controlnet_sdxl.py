"""SDXL-class OpenPose ControlNet pipeline: generate from noise or refine an init image, batch = poses.

Built on `StableDiffusionXLControlNetImg2ImgPipeline` (diffusers, Apache-2.0); only `__call__` is ours (see
the package docstring for why). Size conditioning uses original = target = the generation size, crop (0, 0),
as SDXL base expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import PIL.Image
import torch
from diffusers import StableDiffusionXLControlNetImg2ImgPipeline

from ._denoise import PoseDenoiseMixin, StepCallback


@dataclass
class SDXLConditioning:
    """Per-photo conditioning, batch 1 (SDXL adds the pooled text embedding of the second encoder)."""

    prompt_embeds: torch.Tensor  # (1, 77, D1 + D2)
    pooled_prompt_embeds: torch.Tensor  # (1, P)
    negative_prompt_embeds: torch.Tensor | None
    negative_pooled_prompt_embeds: torch.Tensor | None
    image_embeds: list[torch.Tensor] | None
    negative_image_embeds: list[torch.Tensor] | None

    @property
    def do_cfg(self) -> bool:
        return self.negative_prompt_embeds is not None


def _repeat(t: torch.Tensor, batch: int) -> torch.Tensor:
    return t.repeat(batch, *([1] * (t.dim() - 1)))


class PoseControlNetXLPipeline(PoseDenoiseMixin, StableDiffusionXLControlNetImg2ImgPipeline):
    """SDXL-class pose pipeline. Components exactly as `StableDiffusionXLControlNetImg2ImgPipeline`."""

    @torch.no_grad()
    def encode_conditioning(
        self,
        prompt: str,
        negative_prompt: str,
        *,
        ip_adapter_image: PIL.Image.Image | None,
        guidance_scale: float,
    ) -> SDXLConditioning:
        """Text and image-prompt embeddings of one product photo, computed once for all its poses."""
        device = self._execution_device
        do_cfg = guidance_scale > 1.0
        pos, neg, pooled, neg_pooled = self.encode_prompt(
            prompt,
            device=device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=do_cfg,
            negative_prompt=negative_prompt if do_cfg else None,
        )
        image_embeds = negative_image_embeds = None
        if ip_adapter_image is not None:
            per_adapter = self.prepare_ip_adapter_image_embeds(ip_adapter_image, None, device, 1, do_cfg)
            image_embeds = [e.chunk(2)[1] if do_cfg else e for e in per_adapter]
            negative_image_embeds = [e.chunk(2)[0] for e in per_adapter] if do_cfg else None
        return SDXLConditioning(
            pos,
            pooled,
            neg if do_cfg else None,
            neg_pooled if do_cfg else None,
            image_embeds,
            negative_image_embeds,
        )

    @torch.no_grad()
    def __call__(  # type: ignore[override]
        self,
        *,
        control_images: Sequence[PIL.Image.Image],
        conditioning: SDXLConditioning,
        generators: Sequence[torch.Generator],
        height: int,
        width: int,
        init_images: Sequence[PIL.Image.Image] | None = None,
        num_inference_steps: int = 30,
        strength: float = 0.55,
        guidance_scale: float = 5.0,
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
        prompt_embeds = _repeat(conditioning.prompt_embeds, batch)
        text_embeds = _repeat(conditioning.pooled_prompt_embeds, batch)
        if do_cfg:
            prompt_embeds = torch.cat([_repeat(conditioning.negative_prompt_embeds, batch), prompt_embeds])  # type: ignore[arg-type]
            text_embeds = torch.cat([_repeat(conditioning.negative_pooled_prompt_embeds, batch), text_embeds])  # type: ignore[arg-type]
        time_ids = torch.tensor(
            [[height, width, 0, 0, height, width]], dtype=prompt_embeds.dtype, device=device
        )
        expected = self.unet.add_embedding.linear_1.in_features
        passed = self.unet.config.addition_time_embed_dim * 6 + text_embeds.shape[-1]
        if expected != passed:
            raise ValueError(
                f"the UNet expects an added embedding of {expected} values but text encoder 2 and the time "
                f"ids give {passed}: the base checkpoint is not an SDXL base model (a refiner needs aesthetic scores)"
            )
        time_ids = time_ids.repeat(prompt_embeds.shape[0], 1)
        added_cond_kwargs: dict[str, object] = {"text_embeds": text_embeds.to(device), "time_ids": time_ids}
        unet_added_cond_kwargs = dict(added_cond_kwargs)
        if conditioning.image_embeds is not None:
            image_embeds = []
            for k, pos in enumerate(conditioning.image_embeds):
                emb = _repeat(pos, batch)
                if do_cfg:
                    emb = torch.cat([_repeat(conditioning.negative_image_embeds[k], batch), emb])  # type: ignore[index]
                image_embeds.append(emb.to(device))
            unet_added_cond_kwargs["image_embeds"] = image_embeds

        # 3.-6. Prepare the control images, timesteps and latents, then the denoising loop (shared: `_denoise`)
        latents = self._denoise(
            control_images=control_images,
            generators=generators,
            init_images=init_images,
            prompt_embeds=prompt_embeds,
            controlnet_added_cond_kwargs=added_cond_kwargs,
            unet_added_cond_kwargs=unet_added_cond_kwargs,
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

        # 7. Decode (the SDXL VAE overflows in fp16: decode in fp32 when its config asks for it)
        self._offload_denoisers()
        upcast = self.vae.dtype == torch.float16 and self.vae.config.force_upcast
        if upcast:
            self.vae.to(dtype=torch.float32)
        vae_dtype = next(iter(self.vae.post_quant_conv.parameters())).dtype
        mean, std = self.vae.config.get("latents_mean"), self.vae.config.get("latents_std")
        if mean is not None and std is not None:
            mean_t = torch.tensor(mean).view(1, 4, 1, 1).to(device, vae_dtype)
            std_t = torch.tensor(std).view(1, 4, 1, 1).to(device, vae_dtype)
            latents = latents.to(vae_dtype) * std_t / self.vae.config.scaling_factor + mean_t
        else:
            latents = latents.to(vae_dtype) / self.vae.config.scaling_factor
        decoded = self.vae.decode(latents, return_dict=False)[0]
        if upcast:
            self.vae.to(dtype=torch.float16)
        images = self.image_processor.postprocess(decoded, output_type="pil")

        # 8. Offload all models
        self.maybe_free_model_hooks()
        return list(images)
