"""Tiny, seeded diffusion models saved to disk once per session, the diffusers way (no Hub, no downloaded
weights).

Each component is built from a config with random weights after `torch.manual_seed(0)` and written with
`save_pretrained` into the layout the production loader reads: a base checkpoint folder (model_index.json,
unet, vae, text encoder(s), tokenizer(s), scheduler), a ControlNet folder, an IP-Adapter safetensors file and
an image encoder folder. The CLIP tokenizer is a tiny byte-level BPE built here (vocab.json + merges.txt): the
real one comes from the model folder in production; docs/MODELS.md gives the offline recipe for a full CLIP
vocabulary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs the gpu extra (torch, diffusers)")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gpu_worker.generate.model_config import DiffusionConfig  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[3] / "gpu_worker" / "assets" / "samples"
PROMPT_WORDS = ("photo", "of", "a", "model", "the", "studio", "high", "quality", "blurry", "low")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable-unicode map (every byte gets one visible character)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def write_tiny_clip_tokenizer(folder: Path) -> int:
    """A byte-level CLIP BPE with a handful of merges (whole prompt words); returns the vocabulary size."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars]
    merges: list[str] = []
    for word in PROMPT_WORDS:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merged = pieces[0] + pieces[1]
            merges.append(f"{pieces[0]} {pieces[1]}")
            if merged not in vocab_list:
                vocab_list.append(merged)
            pieces = [merged] + pieces[2:]
    merges = list(dict.fromkeys(merges))
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab_list)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return len(vocab_list)


def tiny_tokenizer(folder: Path, **kw: object):
    from transformers import CLIPTokenizer

    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77, **kw)


def ip_adapter_state_dict(unet, clip_dim: int, tokens: int = 4) -> dict[str, torch.Tensor]:
    """A basic (4-token) IP-Adapter for `unet`: image_proj + to_k_ip/to_v_ip per cross-attention (keys 1, 3, 5
    …)."""
    cross = unet.config.cross_attention_dim
    g = torch.Generator().manual_seed(0)
    sd = {
        "image_proj.proj.weight": torch.randn(tokens * cross, clip_dim, generator=g) * 0.02,
        "image_proj.proj.bias": torch.zeros(tokens * cross),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    key = 1
    for name in unet.attn_processors:
        if not name.endswith("attn2.processor"):
            continue
        attn = unet.get_submodule(name[: -len(".processor")])
        hidden = attn.to_k.out_features
        sd[f"ip_adapter.{key}.to_k_ip.weight"] = torch.randn(hidden, cross, generator=g) * 0.02
        sd[f"ip_adapter.{key}.to_v_ip.weight"] = torch.randn(hidden, cross, generator=g) * 0.02
        key += 2
    return sd


def tiny_vae():
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    # 4 blocks → ×8 down-sampling, like SD's VAE and the ControlNet conditioning embedding (notes A4 gotcha).
    return AutoencoderKL(
        block_out_channels=(16, 16, 16, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )


def tiny_image_encoder(folder: Path, projection_dim: int = 32) -> None:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    cfg = CLIPVisionConfig(
        hidden_size=32, projection_dim=projection_dim, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, image_size=32, patch_size=4,
    )  # fmt: skip
    CLIPVisionModelWithProjection(cfg).save_pretrained(folder)


def text_config(vocab_size: int, **kw: object):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77, bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1, **kw,
    )  # fmt: skip


def build_sd15(root: Path) -> dict[str, Path]:
    from diffusers import (
        ControlNetModel,
        StableDiffusionPipeline,
        UNet2DConditionModel,
        UniPCMultistepScheduler,
    )
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    tok_dir = root / "_tok"
    vocab = write_tiny_clip_tokenizer(tok_dir)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32,
    )  # fmt: skip
    torch.manual_seed(0)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 96, 256))
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(text_config(vocab))
    scheduler = UniPCMultistepScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        vae=tiny_vae(), text_encoder=text_encoder, tokenizer=tiny_tokenizer(tok_dir), unet=unet,
        scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(root / "base")
    controlnet.save_pretrained(root / "controlnet")
    tiny_image_encoder(root / "image_encoder")
    save_file(ip_adapter_state_dict(unet, clip_dim=32), root / "ip-adapter_tiny.safetensors")
    return {
        "base": root / "base", "controlnet": root / "controlnet", "image_encoder": root / "image_encoder",
        "ip_adapter": root / "ip-adapter_tiny.safetensors",
    }  # fmt: skip


def build_sdxl(root: Path) -> dict[str, Path]:
    from diffusers import (
        ControlNetModel,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from safetensors.torch import save_file
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tok_dir = root / "_tok"
    vocab = write_tiny_clip_tokenizer(tok_dir)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 32 pooled + 6 time ids × 8
        cross_attention_dim=64,  # 32 + 32 from the two text encoders
        norm_num_groups=32,
    )  # fmt: skip
    torch.manual_seed(0)
    controlnet = ControlNetModel.from_unet(unet)
    torch.manual_seed(0)
    te1 = CLIPTextModel(text_config(vocab))
    torch.manual_seed(0)
    te2 = CLIPTextModelWithProjection(text_config(vocab, projection_dim=32))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    pipe = StableDiffusionXLPipeline(
        vae=tiny_vae(), text_encoder=te1, text_encoder_2=te2, tokenizer=tiny_tokenizer(tok_dir),
        tokenizer_2=tiny_tokenizer(tok_dir, pad_token="!"), unet=unet, scheduler=scheduler,
    )  # fmt: skip
    pipe.save_pretrained(root / "base")
    controlnet.save_pretrained(root / "controlnet")
    tiny_image_encoder(root / "image_encoder")
    save_file(ip_adapter_state_dict(unet, clip_dim=32), root / "ip-adapter_tiny.safetensors")
    return {
        "base": root / "base", "controlnet": root / "controlnet", "image_encoder": root / "image_encoder",
        "ip_adapter": root / "ip-adapter_tiny.safetensors",
    }  # fmt: skip


@dataclass(frozen=True)
class TinyModels:
    sd15: dict[str, Path]
    sdxl: dict[str, Path]
    root: Path

    def env(self, family: str = "sd15", **extra: str) -> dict[str, str]:
        """POSE_STUDIO_DIFFUSION_* for the tiny set of `family` (CPU, fp32, 2 steps, 64 px long side)."""
        paths = getattr(self, family)
        env = {
            "POSE_STUDIO_DIFFUSION_PRESET": "sdxl" if family == "sdxl" else "sd15",
            "POSE_STUDIO_DIFFUSION_BASE": str(paths["base"]),
            "POSE_STUDIO_DIFFUSION_CONTROLNET": str(paths["controlnet"]),
            "POSE_STUDIO_DIFFUSION_IP_ADAPTER": str(paths["ip_adapter"]),
            "POSE_STUDIO_DIFFUSION_IMAGE_ENCODER": str(paths["image_encoder"]),
            "POSE_STUDIO_DIFFUSION_DEVICE": "cpu",
            "POSE_STUDIO_DIFFUSION_STEPS": "2",
            "POSE_STUDIO_DIFFUSION_RESOLUTION": "64",
            "POSE_STUDIO_MODELS_DIR": str(self.root / "hub"),
        }
        env.update(
            {k if k.startswith("POSE_STUDIO") else f"POSE_STUDIO_DIFFUSION_{k}": v for k, v in extra.items()}
        )
        return env

    def config(self, family: str = "sd15", **extra: str) -> DiffusionConfig:
        return DiffusionConfig.from_env(self.env(family, **extra))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    root = tmp_path_factory.mktemp("tiny-diffusion")
    return TinyModels(sd15=build_sd15(root / "sd15"), sdxl=build_sdxl(root / "sdxl"), root=root)


@pytest.fixture(scope="session")
def subject():
    """A real sample photo (public-domain clip art), its detected skeleton, and the activewear pose set
    retargeted onto it: 3 poses the warp renders (refine) and 2 it cannot (generate)."""
    from gpu_worker.pose.detect import detect
    from gpu_worker.pose.library import load_pose_set
    from gpu_worker.pose.retarget import retarget

    figure = Image.open(SAMPLES / "bussiness_woman_donna_i_01.png").convert("RGB")
    figure = figure.resize(
        (figure.width // 4, figure.height // 4), Image.Resampling.LANCZOS
    )  # 139×320: fast warp
    # on a canvas with room for the activewear poses (arms out, a lunge, an arm over the head): on the bare narrow
    # picture the warp must shrink the figure to keep it in the frame, and a shrunk garment has no exact pixels
    photo = Image.new("RGB", (320, 400), (255, 255, 255))
    photo.paste(figure, ((320 - figure.width) // 2, 80))
    source = detect(photo)
    poses = list(load_pose_set("activewear").poses)
    targets = [retarget(source, pose) for pose in poses]
    return photo, source, poses, targets


def as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)
