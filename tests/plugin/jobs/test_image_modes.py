"""One image normaliser for every path: a photo uploaded through the web (POST /api/pose-sets, stored re-encoded for
the GPU worker) comes out with the same pixels as the CLI's loader gives for the same file. The review found a 16-bit
greyscale PNG 98 % white on the web path (PIL's convert clips 16-bit values instead of scaling them)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from gpu_worker.pose.image_io import load_image
from plugin.storage import get_storage
from tests.plugin.jobs.conftest import person_png, queued_tasks


def _png_bytes(im: Image.Image, **params: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **params)
    return buf.getvalue()


def grey16() -> bytes:
    ramp = np.linspace(2_000, 60_000, 160 * 120).reshape(120, 160).astype(np.uint16)  # a 16-bit grey gradient
    return _png_bytes(Image.fromarray(ramp))


def grey_alpha() -> bytes:
    rgba = Image.open(io.BytesIO(person_png(160))).convert("LA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    return _png_bytes(rgba)


def palette_transparent() -> bytes:
    im = Image.open(io.BytesIO(person_png(160))).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    return _png_bytes(im, transparency=0)


def cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(person_png(160))).convert("CMYK").save(buf, format="JPEG", quality=95)
    return buf.getvalue()


@pytest.mark.parametrize("make", [grey16, grey_alpha, palette_transparent, cmyk_jpeg],
                         ids=["16-bit grey PNG", "grey + alpha PNG", "palette PNG + transparency", "CMYK JPEG"])
def test_web_upload_gives_the_pixels_the_cli_gives(client: Any, shop: Any, id_token: Any, redis_url: str,
                                                  app: Any, make: Any) -> None:  # fmt: skip
    photo = make()
    response = client.post("/api/pose-sets", headers={"Authorization": f"Bearer {id_token(shop.domain)}"},
                           data={"name": "Reference", "photo": (io.BytesIO(photo), "reference.png")})  # fmt: skip
    assert response.status_code == 202, response.get_json()
    [task] = [t for t in queued_tasks(redis_url, "gpu") if t["kwargs"].get("photo_key")]
    with app.app_context():
        stored = np.asarray(Image.open(io.BytesIO(get_storage().get(task["kwargs"]["photo_key"]))).convert("RGB"))
    cli = np.asarray(load_image(photo))
    assert stored.shape == cli.shape
    assert np.abs(stored.astype(int) - cli.astype(int)).max() <= 1
    if make is grey16:
        # mid-grey stays mid-grey (it was 98 % white)
        assert 100 < stored.mean() < 140, stored.mean()


def test_the_shared_normaliser_keeps_torch_and_mediapipe_out_of_the_web_app() -> None:
    import subprocess
    import sys

    code = ("import sys, plugin, plugin.tasks, plugin.blueprints.api, plugin.security.safe_fetch; "
            "bad = [m for m in ('torch', 'mediapipe', 'cv2', 'diffusers') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
