"""Put the exact garment pixels back over a diffusion result, with a feathered edge that lies *outside* them.

The warp backend copies garment regions (prints, logos, text) rigidly from the source photo and marks them in
`Rendered.exact_mask`. Diffusion re-synthesises every pixel and would redraw a logo slightly wrong, so
`refine` composites those pixels back. The blend ramp is placed outside the mask so that every masked pixel
stays bit-identical to the warp output (the promise made to the merchant: the product itself is not altered).
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image


def feathered_alpha(mask: np.ndarray, feather: float) -> np.ndarray:
    """(H, W) float32: 1 on `mask`, falling linearly to 0 at `feather` px outside it."""
    m = np.asarray(mask, dtype=bool)
    if feather <= 0 or not m.any():
        return m.astype(np.float32)
    # Distance of each outside pixel to the nearest mask pixel (0 on the mask).
    dist = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 5)
    alpha = np.clip(1.0 - dist / float(feather + 1), 0.0, 1.0).astype(np.float32)
    alpha[m] = 1.0
    return alpha


def composite_exact(
    generated: Image.Image, exact: Image.Image, mask: np.ndarray | None, *, feather: float = 6.0
) -> Image.Image:
    """`generated` with the pixels of `exact` under `mask` copied back unchanged and a soft band around them.

    `generated` is resized to `exact`'s size first. Inside `mask` the result equals `exact` bit for bit.
    """
    exact_rgb = np.asarray(exact.convert("RGB"))
    h, w = exact_rgb.shape[:2]
    gen = generated.convert("RGB")
    if gen.size != (w, h):
        gen = gen.resize((w, h), Image.Resampling.LANCZOS)
    if mask is None:
        return gen
    m = np.asarray(mask, dtype=bool)
    if m.shape != (h, w):
        raise ValueError(f"exact mask is {m.shape[1]}x{m.shape[0]} but the image is {w}x{h}")
    gen_rgb = np.asarray(gen)
    alpha = feathered_alpha(m, feather)[..., None]
    blended = alpha * exact_rgb.astype(np.float32) + (1.0 - alpha) * gen_rgb.astype(np.float32)
    out = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    out[m] = exact_rgb[m]  # exact, not "almost": no float round trip inside the mask
    return Image.fromarray(out, "RGB")
