"""The `__call__` steps both pose pipelines share (3. control images … 6. denoising loop, and the start of 7.).

A mixin rather than a base pipeline, so each pipeline still subclasses its own diffusers ControlNet img2img
pipeline directly; it only uses components and helpers both of those have (`unet`, `controlnet`, `scheduler`,
`vae_scale_factor`, `prepare_control_image`, `get_timesteps`, `prepare_latents`, ...). What differs per family
(step 2's conditioning, step 7's VAE decode) stays in the pipeline's own file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import PIL.Image
import torch
from diffusers.utils.torch_utils import randn_tensor

StepCallback = Callable[[int, int], None]


class PoseDenoiseMixin:
    """Steps 1 and 3-6 of the pose pipelines' `__call__`, for a diffusers ControlNet img2img pipeline subclass."""

    # Provided by the diffusers pipeline this is mixed into.
    unet: Any
    controlnet: Any
    scheduler: Any
    vae_scale_factor: int
    image_processor: Any
    prepare_control_image: Callable[..., torch.Tensor]
    get_timesteps: Callable[..., tuple[torch.Tensor, int]]
    prepare_latents: Callable[..., torch.Tensor]
    prepare_extra_step_kwargs: Callable[..., dict[str, Any]]


    def _check_inputs(
        self,
        control_images: Sequence[Any],
        generators: Sequence[Any],
        init_images: Sequence[Any] | None,
        height: int,
        width: int,
        guidance_scale: float,
        do_cfg: bool,
    ) -> int:
        """Step 1 of both pipelines: concise errors instead of silent correction. Returns the batch size."""
        batch = len(control_images)
        if batch == 0 or len(generators) != batch:
            raise ValueError(f"need one generator per control image, got {len(generators)} for {batch}")
        if init_images is not None and len(init_images) != batch:
            raise ValueError(f"need one init image per control image, got {len(init_images)} for {batch}")
        multiple = self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)
        if height % multiple or width % multiple:
            raise ValueError(f"height and width must be multiples of {multiple}, got {width}x{height}")
        if guidance_scale > 1.0 and not do_cfg:
            raise ValueError("conditioning was encoded without classifier-free guidance; encode it again")
        return batch
    def _denoise(
        self,
        *,
        control_images: Sequence[PIL.Image.Image],
        generators: Sequence[torch.Generator],
        init_images: Sequence[PIL.Image.Image] | None,
        prompt_embeds: torch.Tensor,
        controlnet_added_cond_kwargs: dict[str, Any] | None,
        unet_added_cond_kwargs: dict[str, Any] | None,
        height: int,
        width: int,
        num_inference_steps: int,
        strength: float,
        guidance_scale: float,
        controlnet_conditioning_scale: float,
        eta: float,
        do_cfg: bool,
        device: torch.device,
        step_callback: StepCallback | None,
    ) -> torch.Tensor:
        """Run steps 3-6 on a checked, expanded batch and return the final latents.

        `controlnet_added_cond_kwargs=None` leaves `added_cond_kwargs` out of the ControlNet call (SD1.5);
        `unet_added_cond_kwargs` is passed to the UNet as is.
        """
        batch = len(control_images)
        refine = init_images is not None

        # 3. Prepare the control images (one per pose)
        control = self.prepare_control_image(
            image=list(control_images),
            width=width,
            height=height,
            batch_size=batch,
            num_images_per_prompt=1,
            device=device,
            dtype=self.controlnet.dtype,
            do_classifier_free_guidance=do_cfg,
            guess_mode=False,
        )

        # 4. Prepare timesteps (refine starts part-way, at `strength`)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        if refine:
            timesteps, _ = self.get_timesteps(num_inference_steps, strength, device)
        else:
            timesteps = self.scheduler.timesteps
        if len(timesteps) == 0:
            raise ValueError(f"strength {strength} with {num_inference_steps} steps leaves no step to run")

        # 5. Prepare latents: noise from each item's own generator, so an item does not depend on its batch
        dtype = prompt_embeds.dtype
        if refine:
            image = self.image_processor.preprocess(list(init_images), height=height, width=width)  # type: ignore[arg-type]
            latents = self.prepare_latents(
                image.to(dtype=torch.float32),
                timesteps[:1].repeat(batch),
                batch,
                1,
                dtype,
                device,
                list(generators),
            )
        else:
            shape = (
                batch,
                self.unet.config.in_channels,
                height // self.vae_scale_factor,
                width // self.vae_scale_factor,
            )
            latents = randn_tensor(shape, generator=list(generators), device=device, dtype=dtype)
            latents = latents * self.scheduler.init_noise_sigma
        extra_step_kwargs = self.prepare_extra_step_kwargs(list(generators), eta)

        # 6. Denoising loop
        controlnet_kwargs = (
            {} if controlnet_added_cond_kwargs is None else {"added_cond_kwargs": controlnet_added_cond_kwargs}
        )
        for i, t in enumerate(timesteps):
            latent_in = torch.cat([latents] * 2) if do_cfg else latents
            latent_in = self.scheduler.scale_model_input(latent_in, t)
            down_res, mid_res = self.controlnet(
                latent_in,
                t,
                encoder_hidden_states=prompt_embeds,
                controlnet_cond=control,
                conditioning_scale=controlnet_conditioning_scale,
                guess_mode=False,
                **controlnet_kwargs,
                return_dict=False,
            )
            noise_pred = self.unet(
                latent_in,
                t,
                encoder_hidden_states=prompt_embeds,
                down_block_additional_residuals=down_res,
                mid_block_additional_residual=mid_res,
                added_cond_kwargs=unet_added_cond_kwargs,
                return_dict=False,
            )[0]
            if do_cfg:
                uncond, cond = noise_pred.chunk(2)
                noise_pred = uncond + guidance_scale * (cond - uncond)
            latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs, return_dict=False)[0]
            if step_callback is not None:
                step_callback(i + 1, len(timesteps))
        return latents

    def _offload_denoisers(self) -> None:
        """Start of step 7: with model CPU offload, move UNet and ControlNet off before the VAE decodes."""
        if getattr(self, "final_offload_hook", None) is not None:
            self.unet.to("cpu")
            self.controlnet.to("cpu")
