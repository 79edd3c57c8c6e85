"""Seed catalog of the emulated shops: products from fixtures/products.json with real small JPEGs.

The JPEGs are resized copies of gpu_worker/assets/samples (public domain, see SOURCES.md there);
`python -m shopify_emulator --make-fixtures` regenerates them.
"""

from __future__ import annotations

import functools
import io
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .store import EmuMedia, EmuProduct, EmuShop, EmuVariant, image_size, next_id

if TYPE_CHECKING:
    from .emulator import ShopifyEmulator

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Only `--make-fixtures` reads the samples (source checkout); the shipped fixtures need nothing outside the package.
SAMPLES = Path(__file__).resolve().parents[1] / "gpu_worker" / "assets" / "samples"
FIXTURE_HEIGHT = 384


def make_fixture_images() -> list[Path]:
    """Resize each sample PNG to a small JPEG (a few dozen KB) under fixtures/."""
    from PIL import Image

    out = []
    for src in sorted(SAMPLES.glob("*.png")):
        with Image.open(src) as opened:
            img = opened.convert("RGB")
            width = round(img.width * FIXTURE_HEIGHT / img.height)
            small = img.resize((width, FIXTURE_HEIGHT), Image.Resampling.LANCZOS)
            dest = FIXTURES / f"{src.stem}.jpg"
            small.save(dest, "JPEG", quality=80, optimize=True)
            out.append(dest)
    return out


@functools.cache
def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@functools.cache
def catalog_spec() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "products.json").read_text())["products"]


def _media(shop: EmuShop, name: str, alt: str) -> EmuMedia:
    data = fixture_bytes(name)
    size = image_size(data) or (None, None)
    filename = name
    if shop.filename_taken(filename):
        stem, _, ext = name.rpartition(".")
        filename = f"{stem}_{next_id()}.{ext}"
    now = time.time() - 3600  # merchant media was processed long ago: READY
    media = EmuMedia(next_id(), filename, alt, data, "image/jpeg", now, now, size[0], size[1])
    shop.media[media.gid] = media
    return media


def create_product(shop: EmuShop, spec: dict[str, Any]) -> EmuProduct:
    variants = [
        EmuVariant(next_id(), v["title"], v["sku"], v["price"], [tuple(o) for o in v.get("options", [])])
        for v in spec["variants"]
    ]
    product = EmuProduct(
        next_id(),
        spec["title"],
        spec["handle"],
        spec.get("vendor", "Pose Studio Demo"),
        spec.get("product_type", ""),
        list(spec.get("tags", [])),
        variants,
    )
    for i, name in enumerate(spec.get("images", [])):
        media = _media(shop, name, spec.get("alts", [""] * 99)[i] if spec.get("alts") else spec["title"])
        product.media_ids.append(media.gid)
        media.product_ids.append(product.gid)
    for v, vspec in zip(variants, spec["variants"], strict=True):
        if vspec.get("image") is not None:
            v.media_ids = [product.media_ids[vspec["image"]]]
    shop.products[product.gid] = product
    return product


def seed_shop(emu: ShopifyEmulator, shop: EmuShop) -> list[EmuProduct]:
    return [create_product(shop, spec) for spec in catalog_spec()]


def add_generated_products(
    emu: ShopifyEmulator, shop: EmuShop, n: int, *, images_per_product: int = 1, variants_per_product: int = 1
) -> list[EmuProduct]:
    names = sorted(p.name for p in FIXTURES.glob("*.jpg"))
    start = len(shop.products)
    created = []
    for i in range(n):
        k = start + i
        spec = {
            "title": f"Generated product {k:05d}",
            "handle": f"generated-product-{k:05d}",
            "images": [names[(k + j) % len(names)] for j in range(images_per_product)],
            "variants": [
                {
                    "title": f"Size {s}",
                    "sku": f"GEN-{k:05d}-{s}",
                    "price": "19.00",
                    "options": [["Size", str(s)]],
                }
                for s in range(1, variants_per_product + 1)
            ],
        }
        created.append(create_product(shop, spec))
    return created


def jpeg_bytes(width: int = 64, height: int = 96, color: tuple[int, int, int] = (200, 120, 80)) -> bytes:
    """A tiny real JPEG (for tests that need image bytes without a fixture)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "JPEG", quality=70)
    return buf.getvalue()
