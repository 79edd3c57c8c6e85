"""Tiny random-weight models in exactly the layout `pose-studio models fetch` writes (`pose-studio models fake`).

For each component of a preset that names a Hub reference, the fake goes where the fetch would put the real one
(`<models dir>/owner--name/<sub path>`, base weights as the fp16 variant, as fetch downloads them), so
`POSE_STUDIO_MODELS_DIR=<dest> POSE_STUDIO_DIFFUSION_PRESET=<preset> pose-studio models check` passes and the
whole production path (loader, pipelines, backend, engine, check) runs on a CPU in seconds. The images are noise.

Every weight is random after `torch.manual_seed(0)`: the same call writes the same files. The ControlNet's
zero-initialised output convolutions are filled with random values too, so that a ControlNet wiring bug changes
the images (a zero ControlNet adds nothing, whatever it is given). The CLIP tokenizer is a small byte-level BPE
built here (real CLIP ids need the real vocabulary, which the real model folder carries).

Imports torch and diffusers lazily: only the fake command and the tests call this.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from gpu_worker.generate.model_config import PRESETS, DiffusionConfig

QWEN_NEEDS_TORCHVISION = (
    "qwen-image-edit needs torchvision (transformers' Qwen2-VL processor builds a video processor with it); "
    "install the torchvision build that matches your torch"
)

PROMPT_WORDS = ("photo", "of", "a", "model", "the", "studio", "high", "quality", "blurry", "low", "same", "person")
# Tiny sizes: 2 UNet levels (×2) on a ×8 VAE → generation sides are multiples of 16.
_CLIP_DIM = 32


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable-unicode map (every byte gets one visible character)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
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


def _tokenizer(folder: Path, **kw: Any) -> Any:
    from transformers import CLIPTokenizer

    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77, **kw)


# Full-size architectures (random weights cost exactly what trained ones do): for `bench/diffusion.py --size full`
# on a GPU host without the real weights. Configs as in the public SD1.5 / SDXL / IP-Adapter model folders.
_FULL_UNET: dict[str, dict[str, Any]] = {
    "sd15": dict(
        block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768, attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, sample_size=64,
    ),
    "sdxl": dict(
        block_out_channels=(320, 640, 1280), layers_per_block=2, cross_attention_dim=2048,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
        sample_size=128,
    ),
}  # fmt: skip
_FULL_VAE = dict(
    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4, sample_size=512,
)  # fmt: skip
_FULL_TEXT = {  # CLIP ViT-L/14 text, OpenCLIP bigG text
    "l": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
    "g": dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20),
}
_FULL_VISION = dict(  # CLIP ViT-H/14 (h94/IP-Adapter image encoder)
    hidden_size=1280, projection_dim=1024, num_hidden_layers=32, num_attention_heads=16, intermediate_size=5120,
    image_size=224, patch_size=14,
)


def _text_config(vocab_size: int, full: str = "", **kw: Any) -> Any:
    from transformers import CLIPTextConfig

    size = _FULL_TEXT[full] if full else dict(
        hidden_size=_CLIP_DIM, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)  # fmt: skip
    return CLIPTextConfig(
        vocab_size=vocab_size, max_position_embeddings=77, bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1, **size, **kw,
    )  # fmt: skip


def _vae(full: bool = False) -> Any:
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    if full:
        return AutoencoderKL(**_FULL_VAE)
    # 4 blocks → ×8 down-sampling, like SD's VAE and the ControlNet conditioning embedding (they must match).
    return AutoencoderKL(
        block_out_channels=(16, 16, 16, 16), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, latent_channels=4, norm_num_groups=8, sample_size=64,
    )  # fmt: skip


def _unet(family: str, full: bool = False) -> Any:
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    if full:
        return UNet2DConditionModel(**_FULL_UNET[family])
    common: dict[str, Any] = dict(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=32,
    )  # fmt: skip
    if family == "sd15":
        return UNet2DConditionModel(**common, cross_attention_dim=_CLIP_DIM, attention_head_dim=8)
    return UNet2DConditionModel(
        **common, attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=_CLIP_DIM + 6 * 8,  # pooled text + 6 time ids × 8
        cross_attention_dim=2 * _CLIP_DIM,  # the two text encoders side by side
    )  # fmt: skip


def tiny_controlnet(unet: Any) -> Any:
    """A ControlNet for `unet` whose zero convolutions are random: its residuals change the UNet's output."""
    import torch
    from diffusers import ControlNetModel

    torch.manual_seed(0)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 96, 256))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        # Default conv init shrinks the signal layer by layer until the biases dominate: the embedding would be
        # the same whatever the skeleton. He-initialised weights without biases keep it skeleton-dependent.
        for name, param in controlnet.controlnet_cond_embedding.named_parameters():
            if name.endswith("bias"):
                param.zero_()
            else:
                fan_in = param[0].numel()
                param.copy_(torch.randn(param.shape, generator=g) * (2.0 / fan_in) ** 0.5)
        for name, param in controlnet.named_parameters():
            if not param.any() and "controlnet_" in name and name.endswith("weight"):
                param.copy_(torch.randn(param.shape, generator=g) * 0.1)
    return controlnet


def ip_adapter_state_dict(unet: Any, clip_dim: int, tokens: int = 4) -> dict[str, Any]:
    """A basic (4-token) IP-Adapter for `unet`: image_proj + to_k_ip/to_v_ip per cross-attention (keys 1, 3, …)."""
    import torch

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


def tiny_image_encoder(folder: Path, projection_dim: int = _CLIP_DIM, full: bool = False) -> None:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    if full:
        CLIPVisionModelWithProjection(CLIPVisionConfig(**_FULL_VISION)).half().save_pretrained(folder)
        return
    cfg = CLIPVisionConfig(
        hidden_size=_CLIP_DIM, projection_dim=projection_dim, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, image_size=32, patch_size=4,
    )  # fmt: skip
    CLIPVisionModelWithProjection(cfg).save_pretrained(folder)


def _base_pipeline(family: str, unet: Any, tok_dir: Path, full: bool = False) -> Any:
    import torch
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UniPCMultistepScheduler,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    vocab = write_tiny_clip_tokenizer(tok_dir)
    torch.manual_seed(0)
    te1 = CLIPTextModel(_text_config(vocab, "l" if full else ""))
    if family == "sd15":
        scheduler = UniPCMultistepScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
        )
        return StableDiffusionPipeline(
            vae=_vae(full), text_encoder=te1, tokenizer=_tokenizer(tok_dir), unet=unet, scheduler=scheduler,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )  # fmt: skip
    torch.manual_seed(0)
    te2 = CLIPTextModelWithProjection(
        _text_config(vocab, "g", projection_dim=1280) if full else _text_config(vocab, projection_dim=_CLIP_DIM)
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="leading",
        steps_offset=1,
    )  # fmt: skip
    return StableDiffusionXLPipeline(
        vae=_vae(full), text_encoder=te1, text_encoder_2=te2, tokenizer=_tokenizer(tok_dir),
        tokenizer_2=_tokenizer(tok_dir, pad_token="!"),  # noqa: S106 — a token, not a password
        unet=unet, scheduler=scheduler,
    )  # fmt: skip


def write_controlnet_family(
    family: str, *, base: Path, controlnet: Path, ip_adapter: Path | None, image_encoder: Path | None,
    variant: str | None = None, full: bool = False,
) -> None:
    """Write a tiny SD1.5 or SDXL base checkpoint, pose ControlNet, IP-Adapter file and image encoder to the
    given places (diffusers / transformers folder layouts; `variant="fp16"` names the base weights as fetch does).
    """
    import tempfile

    import torch
    from safetensors.torch import save_file

    unet = _unet(family, full)
    controlnet_model = tiny_controlnet(unet)
    with tempfile.TemporaryDirectory() as tmp:
        pipe = _base_pipeline(family, unet, Path(tmp), full)
        if full:
            pipe.to(dtype=torch.float16)  # what fetch downloads: the fp16 variant
        pipe.save_pretrained(base, variant=variant)
    (controlnet_model.half() if full else controlnet_model).save_pretrained(controlnet)
    if image_encoder is not None:
        tiny_image_encoder(image_encoder, full=full)
    if ip_adapter is not None:
        ip_adapter.parent.mkdir(parents=True, exist_ok=True)
        clip_dim = _FULL_VISION["projection_dim"] if full else _CLIP_DIM
        save_file(ip_adapter_state_dict(unet, clip_dim=clip_dim), ip_adapter)


def write_tiny_lora(family: str, path: Path, rank: int = 4) -> None:
    """A LoRA (diffusers/peft format) for the tiny `family` UNet, with random non-zero B matrices so that
    loading and fusing it changes the images (peft initialises B to zero: a no-op LoRA would prove nothing)."""
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig, get_peft_model_state_dict

    unet = _unet(family)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=g) * 0.2)
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        path.parent, unet_lora_layers=get_peft_model_state_dict(unet), weight_name=path.name
    )


FAKE_PRESETS = tuple(PRESETS)


def write_fake_preset(preset: str, dest: Path, *, full: bool = False) -> list[Path]:
    """Write the tiny models of `preset` where `pose-studio models fetch --preset preset --dest dest` would put
    the real ones. Returns the folders / files written. `full`: full-size random architectures instead (SD1.5 and
    SDXL sets only; GBs of fp16 weights, for benchmarks on a GPU host without the real weights)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = DiffusionConfig(preset=preset, models_dir=str(dest)).validated()
    if config.is_edit:
        if full:
            raise ValueError(f"no full-size random {preset}: benchmark the real weights (`models fetch`)")
        base_ref = config.ref("base")
        assert base_ref is not None
        if preset == "qwen-image-edit" and importlib.util.find_spec("torchvision") is None:
            raise ImportError(QWEN_NEEDS_TORCHVISION)
        EDIT_BUILDERS[preset](base_ref.path)
        return [base_ref.path]
    refs = {c: config.ref(c) for c in ("base", "controlnet", "ip_adapter", "image_encoder")}
    base, controlnet, ip, enc = (refs[c] for c in ("base", "controlnet", "ip_adapter", "image_encoder"))
    assert base is not None and controlnet is not None
    write_controlnet_family(
        "sdxl" if preset == "sdxl" else "sd15", base=base.path, controlnet=controlnet.path,
        ip_adapter=ip.path if ip else None, image_encoder=enc.path if enc else None, variant="fp16", full=full,
    )  # fmt: skip
    written = [r.path for r in refs.values() if r is not None]
    # What `models fetch --few-step` adds: the preset's few-step LoRA (needs peft, in the gpu extra).
    lora = config.with_overrides(lora=config.preset_values.few_step_lora).ref("lora")
    if lora is not None and not full:
        write_tiny_lora("sdxl" if preset == "sdxl" else "sd15", lora.path)
        written.append(lora.path)
    return written


# -- reference-editing presets (`--backend edit`)
# ---------------------------------------------------------------------------------------------------------------
_QWEN_SPECIALS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                  "<|video_pad|>")  # fmt: skip


def _qwen_tokenizer() -> Any:
    """A byte-level Qwen2 BPE (every byte a token, a few word merges) with Qwen's chat and vision specials."""
    from transformers import Qwen2Tokenizer

    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    merges: list[tuple[str, str]] = []
    for word in PROMPT_WORDS:
        pieces = list(word)
        while len(pieces) > 1:
            merges.append((pieces[0], pieces[1]))
            vocab.setdefault(pieces[0] + pieces[1], len(vocab))
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
    vocab["<|endoftext|>"] = len(vocab)
    tok = Qwen2Tokenizer(vocab=vocab, merges=list(dict.fromkeys(merges)))
    tok.add_special_tokens({"additional_special_tokens": list(_QWEN_SPECIALS)})
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    return tok


def _flux2_klein(base: Path) -> None:
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = _qwen_tokenizer()
    torch.manual_seed(0)
    # 28 layers: the pipeline reads hidden states 9, 18 and 27 of the text encoder, like the real 4B one.
    text_encoder = Qwen3ForCausalLM(Qwen3Config(
        intermediate_size=16, hidden_size=16, num_hidden_layers=28, num_attention_heads=2, num_key_value_heads=2,
        vocab_size=len(tok), max_position_embeddings=1024, head_dim=8,
    ))  # fmt: skip
    torch.manual_seed(0)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=4 * 4, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=3 * 16, timestep_guidance_channels=256,
        axes_dims_rope=[4, 4, 4, 4], guidance_embeds=False,
    )  # fmt: skip
    torch.manual_seed(0)
    # 4 blocks: ×8 like the real VAE, so reference images stay a few hundred tokens.
    vae = AutoencoderKLFlux2(
        sample_size=32, in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        latent_channels=4, norm_num_groups=4, use_quant_conv=False, use_post_quant_conv=False,
    )  # fmt: skip
    pipe = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder, tokenizer=tok,
        transformer=transformer, vae=vae, is_distilled=True,
    )  # fmt: skip
    pipe.save_pretrained(base)


EDIT_BUILDERS = {"flux2-klein": _flux2_klein}


def _qwen_image_edit(base: Path) -> None:
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
    )

    tok = _qwen_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in _QWEN_SPECIALS}
    torch.manual_seed(0)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16, num_attention_heads=3,
        joint_attention_dim=16, guidance_embeds=False, axes_dims_rope=(8, 4, 4),
    )  # fmt: skip
    torch.manual_seed(0)
    # ×8 like the real VAE (3 down-sampling levels), narrow: the pipeline encodes references at ~1024² pixels.
    vae = AutoencoderKLQwenImage(
        base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )  # fmt: skip
    torch.manual_seed(0)
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 2, "vocab_size": len(tok), "rope_theta": 1000000.0,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
        },
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
        hidden_size=16, vocab_size=len(tok), vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
    )  # fmt: skip
    text_encoder = Qwen2_5_VLForConditionalGeneration(config)
    processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=tok)
    pipe = QwenImageEditPlusPipeline(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
        tokenizer=tok, processor=processor,
    )  # fmt: skip
    pipe.save_pretrained(base)


EDIT_BUILDERS["qwen-image-edit"] = _qwen_image_edit
