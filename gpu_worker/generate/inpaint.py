"""Fill what moving the figure uncovers: the backdrop behind it, and small holes inside the moved figure."""

from __future__ import annotations

import cv2
import numpy as np

# The backdrop plate is estimated on a copy this small: it only has to be smooth and plausible, and cv2.inpaint's
# cost grows with the hole area.
PLATE_SIZE = 256


def background_plate(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32: the photo with the figure painted out.

    The figure (grown by a few pixels, so no outline is left behind) is inpainted on a small copy and scaled back up:
    on a studio backdrop this gives the backdrop's colour and its gentle gradients; on a busy background a smooth
    guess, which is what cv2.inpaint can do without a generative model.
    """
    h, w = rgb.shape[:2]
    f = min(1.0, PLATE_SIZE / max(h, w))
    sw, sh = max(8, round(w * f)), max(8, round(h * f))
    hole = cv2.dilate((mask > 0.05).astype(np.uint8), np.ones((5, 5), np.uint8), iterations=2)
    small = cv2.resize(np.clip(rgb, 0, 255).astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA)
    shrunk = cv2.resize(hole.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    small_hole: np.ndarray = (shrunk > 0.01).astype(np.uint8)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA)
    big = cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    # keep the real backdrop wherever it was visible; the estimate inside the hole, feathered *outwards* only: a
    # feather reaching into the hole mixed the figure's own outline back into the plate, a faint ghost of the old
    # head or hat on the backdrop once the figure had moved
    soft = np.maximum(hole.astype(np.float32), cv2.GaussianBlur(hole.astype(np.float32), (0, 0), 2.0))[..., None]
    return rgb.astype(np.float32) * (1.0 - soft) + big * soft


def fill_holes(rgb: np.ndarray, holes: np.ndarray, figure: np.ndarray, radius: int = 4) -> np.ndarray:
    """Inpaint the `holes` inside the figure (float32 0..255 image) from the *figure's* own colours.

    cv2.inpaint propagates whatever borders a hole; a hole that touches the silhouette would fill with the backdrop
    (a white blob on a torso). So everything outside the figure around the hole is first replaced by the colour of
    the nearest figure pixel, and only then is the hole inpainted.
    """
    if not holes.any():
        return rgb
    ys, xs = np.nonzero(holes)
    pad = 3 * radius + 2
    h, w = holes.shape
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + 1 + pad)
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + 1 + pad)
    roi = np.clip(rgb[y0:y1, x0:x1], 0, 255).astype(np.uint8)
    hole = holes[y0:y1, x0:x1]
    known = figure[y0:y1, x0:x1] & ~hole
    if known.any():
        # nearest known figure pixel for every other pixel (labels index the zero pixels of the input)
        _, lab = cv2.distanceTransformWithLabels(
            (~known).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
        )
        ky, kx = np.nonzero(~(~known))  # the zero pixels, in the order the labels count them (row-major)
        src = roi[ky, kx]
        nearest = src[np.clip(lab - 1, 0, len(src) - 1)]
        staged = np.where(known[..., None], roi, nearest)
    else:
        staged = roi
    filled = cv2.inpaint(staged, hole.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    out = rgb.copy()
    out[y0:y1, x0:x1][hole] = filled[hole].astype(np.float32)
    return out
