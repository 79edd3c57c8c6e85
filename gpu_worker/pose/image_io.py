"""Turn whatever a merchant uploaded into a sane RGB picture, or refuse it with a one-line reason.

Every decode problem becomes a `BadImage` / `ImageTooLarge` (never a PIL traceback): the file is fully decoded
here (`.load()`), so a truncated file fails now and not in the middle of generation.

`to_rgb` is the one colour normaliser of every path that turns an upload into pixels: this loader (CLI, GPU
worker) and the web side's re-encode of downloaded and uploaded photos (plugin/security/safe_fetch.py). This module
imports only PIL, numpy and gpu_worker.errors, so the web app can use it without torch or mediapipe.
"""

from __future__ import annotations

import io
import os
import stat
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gpu_worker.errors import BadImage, ImageTooLarge

MIN_SIDE = 64
# A photo file larger than this is refused before it is read (the pixel cap needs the header only, but the whole
# file is read first; a real photo at 60 megapixels is well under it).
MAX_FILE_BYTES = 256 * 1024 * 1024
ImageSource = str | os.PathLike[str] | bytes | Image.Image

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def load_image(src: ImageSource, *, max_size: int = 2048, max_pixels: int = 60_000_000) -> Image.Image:
    """Decode `src` to an RGB image: EXIF rotation applied, transparency on white, long side ≤ `max_size`.

    Raises BadImage (empty, not an image, corrupt or truncated, animated, smaller than 64 px on the short
    side) or ImageTooLarge (over `max_pixels` pixels before downscaling).
    """
    # 1. open (header only) and check the size before any pixel is decoded: the decompression-bomb guard
    im = _open(src)
    w, h = im.size
    if w * h > max_pixels:
        raise ImageTooLarge(
            f"the image is {w}x{h} ({w * h / 1e6:.0f} megapixels), "
            f"over the {max_pixels / 1e6:.0f} megapixel limit; "
            "upload a smaller image"
        )
    if getattr(im, "n_frames", 1) > 1 or getattr(im, "is_animated", False):
        raise BadImage("the image is animated (several frames); use a still image (JPEG, PNG or WebP)")
    if min(w, h) < MIN_SIDE:
        raise BadImage(f"the image is only {w}x{h} pixels; use one at least {MIN_SIDE} px on the short side")
    # 2. full decode (JPEG: let libjpeg pre-shrink by a power of two when the picture is far larger than
    # needed)
    try:
        if im.format == "JPEG" and max(w, h) > 2 * max_size:
            scale = max_size / max(w, h)
            im.draft("RGB", (int(w * scale) + 1, int(h * scale) + 1))
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", Image.DecompressionBombWarning
            )  # our own pixel cap is checked above
            im.load()
            # 3. orientation: phones store portrait photos as landscape plus an EXIF tag
            im = ImageOps.exif_transpose(im)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"the image has too many pixels ({exc}); upload a smaller image") from None
    except (OSError, SyntaxError, ValueError, TypeError, EOFError, IndexError, KeyError) as exc:
        raise BadImage(
            f"the image file is damaged or truncated ({_one_line(exc)}); export it again and re-upload"
        ) from None
    # 4. colour: everything to 8-bit RGB, transparency composited on white
    try:
        im = to_rgb(im)
    except (OSError, ValueError, TypeError) as exc:
        raise BadImage(
            f"the image's colour format ({im.mode}) cannot be read ({_one_line(exc)}); save it as RGB"
        ) from None
    # 5. size: cap the long side
    if max(im.size) > max_size:
        scale = max_size / max(im.size)
        new = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)
        if min(im.size) < MIN_SIDE:
            raise BadImage(
                f"the image is too narrow ({w}x{h}); "
                "use one whose short side is at least 1/32 of its long side"
            )
    return im


def _open(src: ImageSource) -> Image.Image:
    if isinstance(src, Image.Image):
        if min(src.size) == 0:
            raise BadImage("the image is empty (0 pixels); upload a photo")
        return src.copy() if getattr(src, "n_frames", 1) == 1 else src
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if isinstance(src, bytes | bytearray | memoryview):
                data = bytes(src)
                if not data:
                    raise BadImage("the image file is empty (0 bytes); upload the photo again")
                return Image.open(io.BytesIO(data))
            path = os.fspath(src)
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode):
                # a device (/dev/zero never ends) or a FIFO (blocks until someone writes) is not a photo
                raise BadImage(f"{path} is not a regular file; give an image file")
            if info.st_size == 0:
                raise BadImage("the image file is empty (0 bytes); upload the photo again")
            if info.st_size > MAX_FILE_BYTES:
                raise ImageTooLarge(f"the image file is {info.st_size / 2**20:.0f} MB, over the "
                                    f"{MAX_FILE_BYTES // 2**20} MB limit; upload a smaller one")  # fmt: skip
            with open(path, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"the image has too many pixels ({exc}); upload a smaller image") from None
    except UnidentifiedImageError:
        raise BadImage("the file is not an image we can read; upload a JPEG, PNG or WebP photo") from None
    except FileNotFoundError:
        raise BadImage(f"image file not found: {os.fspath(src)!s}") from None  # type: ignore[arg-type]
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage(
            f"the image file cannot be read ({_one_line(exc)}); upload a JPEG, PNG or WebP photo"
        ) from None


def to_rgb(im: Image.Image) -> Image.Image:
    """Any decoded image as 8-bit RGB: 16/32-bit grey scaled (not clipped) to 8 bits, transparency composited on
    white, palettes and CMYK converted. Raises what PIL raises for a mode it cannot convert."""
    mode = im.mode
    if mode.startswith("I") or mode == "F":
        # 16/32-bit grey: PIL's convert("L") clips instead of scaling, so scale by hand.
        arr = np.asarray(im).astype(np.float64)
        if mode.startswith("I;16") or arr.max(initial=0) > 255:
            arr = arr / 257.0
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode in _ALPHA_MODES or (mode in {"P", "L", "RGB", "1"} and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "RGB":
        return im
    return im.convert("RGB")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
