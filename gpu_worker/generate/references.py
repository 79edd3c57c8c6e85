"""The reference images the IP-Adapters see: the whole person, square, and the face.

The IP-Adapter's CLIP image processor resizes the short side and centre-crops a square. Fed a portrait product
photo (a standing model is 2-3× taller than wide) it keeps only the middle third to two thirds of the height: the
head and the feet are cut off, and with them the identity the adapter is there to carry. So the adapter gets the
person's bounding box (from the detected skeleton, grown above the eyes to include the hair, plus a margin),
padded to a square with the photo's own border colour, so the centre crop keeps every pixel of the figure. A face
adapter, where one is configured, gets a square crop around the head landmarks.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gpu_worker.pose.skeleton import HEAD, L_EYE, L_SHOULDER, R_EYE, R_SHOULDER, Skeleton

MARGIN = 0.08  # of the figure's larger side, on every side of the crop


def border_colour(image: Image.Image) -> tuple[int, ...]:
    a = np.asarray(image.convert("RGB"))
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return tuple(int(v) for v in np.median(border, axis=0))


def pad_to_square(image: Image.Image, fill: tuple[int, ...] | None = None) -> Image.Image:
    """`image` centred on a square canvas of its larger side, the rest in `fill` (default: its border colour)."""
    w, h = image.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), fill if fill is not None else border_colour(image))
    canvas.paste(image.convert("RGB"), ((side - w) // 2, (side - h) // 2))
    return canvas


def _head_top(sk: Skeleton, vis: np.ndarray) -> float | None:
    """y of the top of the head: MediaPipe has no crown landmark, so go up from the eyes by 0.8 × the
    eye-to-shoulder distance (hair and skull), or None without eyes and shoulders."""
    eyes = [i for i in (L_EYE, R_EYE) if vis[i]]
    shoulders = [i for i in (L_SHOULDER, R_SHOULDER) if vis[i]]
    if not eyes or not shoulders:
        return None
    eye_y = float(np.mean(sk.points[eyes, 1]))
    shoulder_y = float(np.mean(sk.points[shoulders, 1]))
    return eye_y - 0.8 * abs(shoulder_y - eye_y)


def person_crop(photo: Image.Image, sk: Skeleton) -> Image.Image:
    """The whole figure (head to feet) of `photo`, square-padded. `sk` is in `photo`'s frame; without visible
    joints, the whole photo square-padded."""
    vis = sk.visible()
    if sk.width != photo.width or sk.height != photo.height:
        sk = sk.scaled_to(photo.width, photo.height)
    if not vis.any():
        return pad_to_square(photo)
    pts = sk.points[vis]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    top = _head_top(sk, vis)
    if top is not None:
        y0 = min(y0, top)
    margin = MARGIN * max(x1 - x0, y1 - y0, 1.0)
    box = (
        max(0, int(np.floor(x0 - margin))), max(0, int(np.floor(y0 - margin))),
        min(photo.width, int(np.ceil(x1 + margin))), min(photo.height, int(np.ceil(y1 + margin))),
    )  # fmt: skip
    return pad_to_square(photo.convert("RGB").crop(box), border_colour(photo))


def face_crop(photo: Image.Image, sk: Skeleton) -> Image.Image | None:
    """A square around the head (face landmarks, grown to take in hair and chin), or None when no face landmark
    is visible (a back view)."""
    if sk.width != photo.width or sk.height != photo.height:
        sk = sk.scaled_to(photo.width, photo.height)
    vis = sk.visible()
    head = [i for i in HEAD if vis[i]]
    if len(head) < 2:
        return None
    pts = sk.points[head]
    cx, cy = pts.mean(axis=0)
    spread = float(np.ptp(pts, axis=0).max())
    side = max(2.2 * spread, 16.0)
    cy -= 0.1 * side  # the crown is further above the eyes than the chin is below the mouth
    half = side / 2
    # Clipped to the frame (PIL would pad with black); the square padding uses the photo's border colour.
    box = (
        max(0, int(cx - half)), max(0, int(cy - half)),
        min(photo.width, int(cx + half)), min(photo.height, int(cy + half)),
    )  # fmt: skip
    if box[2] - box[0] < 2 or box[3] - box[1] < 2:
        return None
    return pad_to_square(photo.convert("RGB").crop(box), border_colour(photo))


def ip_adapter_images(photo: Image.Image, source: Skeleton, *, face: bool) -> list[Image.Image]:
    """One reference image per loaded IP-Adapter: the person crop, then (with a face adapter) the face crop,
    falling back to the person crop when no face is visible."""
    person = person_crop(photo, source)
    if not face:
        return [person]
    return [person, face_crop(photo, source) or person]
