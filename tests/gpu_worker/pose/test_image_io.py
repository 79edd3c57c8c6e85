"""load_image: real files written to tmp_path, one per kind of bad (or odd but fine) input."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpu_worker.errors import BadImage, ImageTooLarge, InputRejected
from gpu_worker.pose.image_io import load_image

from .conftest import sample_path


def _png_with_header_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR claims `width` × `height` (a bomb as far as the header goes)."""
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data[12:29]  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def _jpeg(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def _png(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def _photo() -> Image.Image:
    return Image.open(sample_path("groom1_jarno_vasamaa_01")).convert("RGB").resize((300, 424))


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (100, 100), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


BAD: dict[str, tuple[Callable[[], bytes], type[InputRejected], str]] = {
    "empty file": (lambda: b"", BadImage, "empty"),
    "text file": (lambda: b"name,price\nshirt,20\n" * 20, BadImage, "not an image"),
    "corrupt": (lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, BadImage, ""),
    "truncated jpeg": (lambda: _jpeg(_photo())[:3000], BadImage, "truncated"),
    "bomb over PIL's own limit": (lambda: _png_with_header_size(30_000, 30_000), ImageTooLarge, "pixel"),
    "bomb over our cap": (lambda: _png_with_header_size(10_000, 7_000), ImageTooLarge, "megapixel"),
    "animated gif": (_animated_gif, BadImage, "animated"),
    "40x40": (lambda: _png(Image.new("RGB", (40, 40), "white")), BadImage, "64 px"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_inputs_are_refused_with_one_line_reason(case: str, tmp_path: Path) -> None:
    make, error, words = BAD[case]
    path = tmp_path / "upload.bin"
    path.write_bytes(make())
    with pytest.raises(error) as info:
        load_image(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    assert words in message
    # Bytes in memory are refused the same way.
    with pytest.raises(error):
        load_image(path.read_bytes())


def _cmyk_jpeg() -> bytes:
    return _jpeg(_photo().convert("CMYK"))


def _png16() -> bytes:
    arr = (np.linspace(0, 65535, 200 * 100).reshape(100, 200)).astype(np.uint16)
    return _png(Image.fromarray(arr))


def _palette_with_transparency() -> bytes:
    im = Image.new("P", (120, 120), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(1, (0, 0, 60, 120))
    return _png(im, transparency=0)


GOOD: dict[str, Callable[[], bytes]] = {
    "cmyk jpeg": _cmyk_jpeg,
    "16-bit png": _png16,
    "grey png": lambda: _png(_photo().convert("L")),
    "1-bit png": lambda: _png(_photo().convert("1")),
    "palette png with transparency": _palette_with_transparency,
    "rgba png": lambda: _png(_photo().convert("RGBA")),
    "LA png": lambda: _png(_photo().convert("LA")),
}


@pytest.mark.parametrize("case", list(GOOD))
def test_odd_formats_become_rgb(case: str, tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_bytes(GOOD[case]())
    im = load_image(path)
    assert im.mode == "RGB"
    assert min(im.size) >= 64


def test_sixteen_bit_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    path.write_bytes(_png16())
    arr = np.asarray(load_image(path))
    assert arr.max() == 255 and arr.min() == 0
    assert 100 < arr[50, 100, 0] < 155  # mid-grey stays mid-grey


def test_transparency_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "pal.png"
    path.write_bytes(_palette_with_transparency())
    arr = np.asarray(load_image(path))
    assert tuple(arr[60, 10]) == (255, 0, 0)  # opaque red stays red
    assert tuple(arr[60, 100]) == (255, 255, 255)  # transparent becomes white


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    upright = _photo()
    # Stored rotated by 90°, with orientation 6 ("rotate 90° clockwise to display"), as phones do.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    path.write_bytes(_jpeg(stored, exif=exif.tobytes()))
    im = load_image(path)
    assert im.size == upright.size
    diff = np.abs(np.asarray(im).astype(int) - np.asarray(upright).astype(int)).mean()
    assert diff < 6


def test_huge_image_is_capped_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.jpg"
    path.write_bytes(_jpeg(Image.new("RGB", (12_000, 900), (200, 180, 160))))
    im = load_image(path)
    assert im.size == (2048, 154)
    assert load_image(path, max_size=1024).size == (1024, 77)


def test_pil_image_input_is_not_modified() -> None:
    src = _photo().convert("RGBA")
    im = load_image(src)
    assert im.mode == "RGB" and src.mode == "RGBA"


def test_missing_file_is_bad_image(tmp_path: Path) -> None:
    with pytest.raises(BadImage, match="not found"):
        load_image(tmp_path / "nope.png")
