"""Every pipeline path the diffusion backend runs gives the images diffusers' stock pipelines give for the same
inputs: both families, refine (ControlNet img2img) and generate (ControlNet txt2img), CFG on and off, on tiny
random models whose ControlNet is not zero.

The reference is built here, independently of our loader and backend, from the same model folders with the stock
`from_pretrained` and called with plain arguments (prompt strings, PIL images, one generator per image). Any wiring
bug between the backend and the denoiser (prompts swapped, guidance dropped or inverted, ControlNet residuals or
control images not passed, time ids swapped, seeds, strength, IP-Adapter embeddings) moves the pixels far more
than the tolerance; bench/inject_diffusion_bugs.py applies such bugs one by one and shows which test catches each.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.generate.diffusion import DiffusionBackend
from gpu_worker.generate.warp import WarpBackend

from .conftest import as_array

# Batches are the same on both sides; what remains is float summation order inside shared kernels.
PARITY_TOLERANCE = 2


def _stock_pipelines(family: str, paths: dict, ip_scale: float):
    """(txt2img, img2img) stock ControlNet pipelines of `family` on the tiny model folders."""
    import torch
    from diffusers import (
        ControlNetModel,
        StableDiffusionControlNetImg2ImgPipeline,
        StableDiffusionControlNetPipeline,
        StableDiffusionXLControlNetImg2ImgPipeline,
        StableDiffusionXLControlNetPipeline,
    )
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    controlnet = ControlNetModel.from_pretrained(paths["controlnet"], dtype=torch.float32)
    encoder = CLIPVisionModelWithProjection.from_pretrained(paths["image_encoder"])
    size = encoder.config.image_size
    extractor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    if family == "sdxl":
        t2i_cls, i2i_cls = StableDiffusionXLControlNetPipeline, StableDiffusionXLControlNetImg2ImgPipeline
        extra = {"add_watermarker": False}
    else:
        t2i_cls, i2i_cls = StableDiffusionControlNetPipeline, StableDiffusionControlNetImg2ImgPipeline
        extra = {"safety_checker": None, "requires_safety_checker": False}
    t2i = t2i_cls.from_pretrained(
        paths["base"], controlnet=controlnet, image_encoder=encoder, feature_extractor=extractor, variant="fp16",
        dtype=torch.float32, **extra,
    )  # fmt: skip
    ip = paths["ip_adapter"]
    t2i.load_ip_adapter(str(ip.parent), subfolder="", weight_name=ip.name, image_encoder_folder=None)
    t2i.set_ip_adapter_scale(ip_scale)
    t2i.set_progress_bar_config(disable=True)
    components = dict(t2i.components)
    if family == "sdxl":
        i2i = i2i_cls(**components, requires_aesthetics_score=False)
    else:
        i2i = i2i_cls(**components)
    i2i.set_progress_bar_config(disable=True)
    return t2i, i2i


@pytest.mark.parametrize("guidance", ["5.0", "1.0"], ids=["cfg", "no-cfg"])
@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_backend_matches_diffusers_stock_pipelines(family: str, guidance: str, tiny_models, subject) -> None:
    import torch

    photo, source, poses, targets = subject
    config = tiny_models.config(family, GUIDANCE_SCALE=guidance)
    out = DiffusionBackend(config, warp=WarpBackend()).render(photo, source, targets, seed=11, poses=poses)
    t2i, i2i = _stock_pipelines(family, getattr(tiny_models, family), config.ip_adapter_scale)

    for mode in ("refine", "generate"):
        group = [r for r in out if r.extras["mode"] == mode]
        assert group, f"the activewear set has {mode} poses"
        gw, gh = group[0].extras["generation_size"]
        n = len(group)
        common = dict(
            prompt=[config.prompt] * n,
            negative_prompt=[config.negative_prompt] * n if float(guidance) > 1 else None,
            ip_adapter_image=group[0].extras["ip_adapter_image"],
            generator=[torch.Generator("cpu").manual_seed(r.extras["seed"]) for r in group],
            height=gh, width=gw, num_inference_steps=config.num_steps, guidance_scale=float(guidance),
            controlnet_conditioning_scale=config.controlnet_scale, eta=config.eta, output_type="pil",
        )  # fmt: skip
        controls = [r.extras["control_image"] for r in group]
        if mode == "refine":
            inits = [r.extras["init_image"] for r in group]
            expected = i2i(image=inits, control_image=controls, strength=config.refine_strength, **common).images
        else:
            expected = t2i(image=controls, **common).images
        for r, want in zip(group, expected, strict=True):
            got = r.extras["generated"]
            assert got.size == want.size == (gw, gh)
            diff = np.abs(as_array(got) - as_array(want)).max()
            assert diff <= PARITY_TOLERANCE, f"{family} {mode} guidance {guidance} pose {r.extras['pose_id']}: {diff}"


def test_edit_backend_matches_the_stock_flux2_klein_pipeline(tiny_edit_models, subject) -> None:
    """The edit backend's call (instruction encoded once, two references, a seed per pose) gives what the stock
    pipeline gives for the instruction string, the two reference images and the pose's seed."""
    import torch
    from diffusers import Flux2KleinPipeline

    from gpu_worker.generate.edit import EditBackend

    photo, source, poses, targets = subject
    config = tiny_edit_models.config("flux2-klein")
    out = EditBackend(config).render(photo, source, targets[:2], seed=4, poses=poses[:2])
    stock = Flux2KleinPipeline.from_pretrained(config.ref("base").path, dtype=torch.float32)
    stock.set_progress_bar_config(disable=True)
    for r in out:
        reference, skeleton = r.extras["references"]
        assert reference.size == skeleton.size  # the skeleton is drawn in the photo's frame
        gw, gh = r.extras["generation_size"]
        (want,) = stock(
            image=[reference, skeleton], prompt=config.edit_instruction, height=gh, width=gw,
            num_inference_steps=config.num_steps, guidance_scale=config.guidance,
            generator=torch.Generator("cpu").manual_seed(r.extras["seed"]),
            max_sequence_length=config.max_sequence_length,
        ).images  # fmt: skip
        diff = np.abs(as_array(r.extras["generated"]) - as_array(want)).max()
        assert diff <= PARITY_TOLERANCE, f"edit pose {r.extras['pose_id']}: {diff}"
