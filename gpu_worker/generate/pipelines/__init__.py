"""Pose-conditioned diffusion pipelines, one file per model family (diffusers style: numbered `__call__`).

Each pipeline subclasses diffusers' ControlNet *img2img* pipeline of its family so it inherits the component
plumbing (`from_pretrained`, IP-Adapter / LoRA loaders, CPU offload, VAE tiling, prompt and image encoders)
and replaces only `__call__`, because ours differs in three ways the stock `__call__` cannot express:
- one call serves both modes: `init_images=None` starts from noise (generate), otherwise img2img (refine);
- text and image-prompt embeddings are computed once per product photo (`encode_conditioning`) and reused by
  every batch, including the smaller batches after a CUDA out-of-memory retry;
- a plain `(step, total)` progress callback, and one torch.Generator per batch item.

Importing this package imports torch and diffusers: only `model_loader` does, lazily.
"""
