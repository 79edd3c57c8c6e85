"""The reference-editing backend (`--backend edit`): an instruction/reference image-editing model re-draws the
product photo in the target pose.

Presets (docs/MODELS.md): `flux2-klein` (FLUX.2 [klein] 4B, `Flux2KleinPipeline`) and `qwen-image-edit`
(Qwen-Image-Edit-2511, `QwenImageEditPlusPipeline`), both Apache-2.0, both diffusers' stock pipelines. Each pose
gets two reference images, the product photo and the target skeleton rendered OpenPose-style in the photo's
frame, and the instruction `POSE_STUDIO_DIFFUSION_EDIT_INSTRUCTION` (same person, garment and background, in the
skeleton's pose). Unlike the ControlNet path there is no warp and no exact-pixel compositing: the model keeps
identity and garment itself, and the gate judges the pixels.

The output is generated at the aspect bucket of the product's frame (`diffusion.generation_size`, long side =
the preset's resolution), centre-cropped to the product's aspect and resized to its size. One pipeline call per
pose (each pose has its own reference set); each with its own seed (`item_seed`), so a re-render after a failed
check (engine) gets a new image.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from PIL import Image

from gpu_worker.generate.base import ProgressCallback, Rendered
from gpu_worker.generate.diffusion import Letterbox, generation_size, item_seed
from gpu_worker.generate.model_config import ConfigError, DiffusionConfig, Family

if TYPE_CHECKING:
    from gpu_worker.pose.library import Pose
    from gpu_worker.pose.skeleton import Skeleton

MIN_REFERENCE_SIDE = 64  # FLUX.2's image processor refuses smaller references


class EditBackend:
    """`Backend` that re-poses with a reference-editing model. Construct freely (nothing loads until `render`)."""

    name = "edit"
    stochastic = True  # another seed gives another image: the engine re-renders failed outputs

    def __init__(self, config: DiffusionConfig | None = None) -> None:
        self.config = config if config is not None else DiffusionConfig.from_env()
        if not self.config.is_edit:
            raise ConfigError(
                f"preset {self.config.preset!r} is a pose-ControlNet set (use --backend diffusion); "
                "--backend edit needs POSE_STUDIO_DIFFUSION_PRESET=flux2-klein or qwen-image-edit"
            )
        self._lock = threading.Lock()

    def supports(self, pose: Pose) -> bool:
        # An editing model draws any pose, back views and crossed arms included.
        return True

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
        """One image per target skeleton (in the targets' frame)."""
        if poses is not None and len(poses) != len(targets):
            raise ValueError(f"got {len(poses)} poses for {len(targets)} targets")
        if not targets:
            return []
        with self._lock:
            return self._render(photo.convert("RGB"), list(targets), seed, progress or (lambda f, s: None), poses)

    def _render(
        self, photo: Image.Image, targets: list[Skeleton], seed: int, report: ProgressCallback,
        poses: Sequence[Pose] | None,
    ) -> list[Rendered]:  # fmt: skip
        import torch

        from gpu_worker.generate.model_loader import load_models
        from gpu_worker.pose.render import line_width_for, render_openpose

        cfg = self.config
        report(0.0, "loading edit model")
        models = load_models(cfg)
        pipe = models.pipeline
        out_w, out_h = targets[0].width, targets[0].height
        gw, gh = generation_size(out_w, out_h, cfg.long_side, models.pixel_multiple)
        box = Letterbox((out_w, out_h), (gw, gh))
        reference = _at_least(photo, MIN_REFERENCE_SIDE)
        line = cfg.line_width or line_width_for(*reference.size)
        flux = models.family is Family.FLUX2_KLEIN
        call: dict[str, Any] = {
            "height": gh, "width": gw, "num_inference_steps": cfg.num_steps, "output_type": "pil",
        }  # fmt: skip
        if flux:
            # The instruction's embedding does not depend on the images: encode it once for every pose.
            embeds, _ = pipe.encode_prompt(
                prompt=cfg.edit_instruction, device=models.device, max_sequence_length=cfg.max_sequence_length
            )
            call.update(prompt_embeds=embeds, guidance_scale=cfg.guidance, max_sequence_length=cfg.max_sequence_length)
        else:
            # Qwen's vision-language encoder reads the references with the instruction: encoded per pose.
            call.update(
                prompt=cfg.edit_instruction, true_cfg_scale=cfg.guidance, max_sequence_length=cfg.max_sequence_length
            )
            if cfg.guidance > 1.0:
                call["negative_prompt"] = cfg.negative_prompt
        report(0.1, "instruction encoded")

        rendered: list[Rendered] = []
        for k, target in enumerate(targets):
            pose = poses[k] if poses is not None else None
            pose_id = str(getattr(pose, "id", k)) if pose is not None else str(k)
            item = item_seed(seed, pose_id)
            skeleton = render_openpose(
                target.scaled_to(*reference.size), width=reference.width, height=reference.height,
                stick_width=line, joint_radius=line,
            )  # fmt: skip
            generator = torch.Generator("cpu").manual_seed(item)
            image = pipe(image=[reference, skeleton], generator=generator, **call).images[0]
            extras: dict[str, object] = {
                "backend": self.name, "mode": "edit", "pose_id": pose_id, "seed": item, "steps": cfg.num_steps,
                "batch_size": 1, "generation_size": (gw, gh), "family": models.family.value,
                "control_image": skeleton, "references": [reference, skeleton], "generated": image,
                "uncovered_fraction": "not applicable (drawn by the editing model)",
            }  # fmt: skip
            rendered.append(Rendered(box.crop(image), None, 0.0, 0.0, extras))
            report(0.1 + 0.9 * (k + 1) / len(targets), f"edited {k + 1}/{len(targets)}")
        return rendered


def _at_least(image: Image.Image, side: int) -> Image.Image:
    """`image`, upscaled (aspect kept) when its short side is under `side` px."""
    short = min(image.size)
    if short >= side:
        return image
    scale = side / short
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def get_backend(config: DiffusionConfig | Mapping[str, str] | None = None) -> EditBackend:
    """The engine's entry point (cheap: the model loads on the first `render` in the calling process)."""
    if isinstance(config, DiffusionConfig):
        return EditBackend(config)
    return EditBackend(DiffusionConfig.from_env(config))
