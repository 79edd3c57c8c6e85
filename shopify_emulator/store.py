"""In-memory state of the emulated shops: products, variants, media (files), staged uploads, jobs, bulk operations,
tokens and the per-shop leaky bucket. Everything is guarded by the emulator's one lock."""

from __future__ import annotations

import io
import itertools
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Restore rate (points/s) and bucket size per plan: shopify.dev graphql-admin/rate-limits (2026).
PLAN_LIMITS: dict[str, tuple[float, float]] = {
    "standard": (100.0, 2000.0),
    "advanced": (200.0, 4000.0),
    "plus": (1000.0, 20000.0),
    "enterprise": (2000.0, 40000.0),
}
PLAN_DISPLAY = {
    "standard": "Basic",
    "advanced": "Advanced",
    "plus": "Shopify Plus",
    "enterprise": "Enterprise",
}

_ids = itertools.count(10_000_001)
# REST ProductImage ids live in their own range, so an app that mixes them up with MediaImage ids is caught
PRODUCT_IMAGE_ID_OFFSET = 30_000_000_000


def next_id() -> int:
    return next(_ids)


class MediaStatus(StrEnum):
    UPLOADED = "UPLOADED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


@dataclass
class EmuMedia:
    num: int
    filename: str
    alt: str
    data: bytes
    mime: str
    created_at: float
    ready_at: float
    width: int | None = None
    height: int | None = None
    fail_code: str | None = None  # MediaErrorCode when processing fails
    fail_message: str = ""
    product_ids: list[str] = field(default_factory=list)
    updated_at: float = 0.0
    # the REST Admin API's ProductImage id of this image: its own id space, not the MediaImage number
    image_num: int = field(default_factory=lambda: next_id() + PRODUCT_IMAGE_ID_OFFSET)

    @property
    def gid(self) -> str:
        return f"gid://shopify/MediaImage/{self.num}"

    @property
    def image_gid(self) -> str:
        return f"gid://shopify/ProductImage/{self.image_num}"

    def status(self, now: float | None = None) -> MediaStatus:
        now = time.time() if now is None else now
        if now >= self.ready_at:
            return MediaStatus.FAILED if self.fail_code else MediaStatus.READY
        # a third of the delay in UPLOADED, then PROCESSING, like the real lifecycle's two stages
        if now >= self.created_at + (self.ready_at - self.created_at) / 3:
            return MediaStatus.PROCESSING
        return MediaStatus.UPLOADED


@dataclass
class EmuVariant:
    num: int
    title: str
    sku: str
    price: str
    options: list[tuple[str, str]]
    media_ids: list[str] = field(default_factory=list)  # at most one, Shopify's rule

    @property
    def gid(self) -> str:
        return f"gid://shopify/ProductVariant/{self.num}"


@dataclass
class EmuProduct:
    num: int
    title: str
    handle: str
    vendor: str
    product_type: str
    tags: list[str]
    variants: list[EmuVariant]
    media_ids: list[str] = field(default_factory=list)  # gallery order
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @property
    def gid(self) -> str:
        return f"gid://shopify/Product/{self.num}"


@dataclass
class EmuCollection:
    """A manual collection: the products in it, in order (Product.collections is read from here)."""

    num: int
    title: str
    handle: str
    product_ids: list[str] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return f"gid://shopify/Collection/{self.num}"


@dataclass
class StagedUpload:
    uuid: str
    shop: str
    filename: str
    mime: str
    key: str
    parameters: list[tuple[str, str]]
    data: bytes | None = None


@dataclass
class EmuJob:
    num: int
    done_at: float

    @property
    def gid(self) -> str:
        return f"gid://shopify/Job/{self.num}"


@dataclass
class EmuBulkOperation:
    num: int
    query: str
    created_at: float
    completes_at: float
    lines: list[str] = field(default_factory=list)
    root_count: int = 0
    uuid: str = ""

    @property
    def gid(self) -> str:
        return f"gid://shopify/BulkOperation/{self.num}"


@dataclass
class Bucket:
    """Shopify's leaky bucket: `available` refills at restore_rate up to maximum."""

    restore_rate: float
    maximum: float
    available: float
    stamp: float = field(default_factory=time.monotonic)

    def refill(self) -> None:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.stamp) * self.restore_rate)
        self.stamp = now

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": round(self.available, 2),
            "restoreRate": self.restore_rate,
        }


@dataclass
class TokenRecord:
    shop: str
    expires_at: float | None  # None: non-expiring
    kind: str = "offline"


@dataclass
class EmuShop:
    domain: str
    plan: str
    num: int = field(default_factory=next_id)
    products: dict[str, EmuProduct] = field(default_factory=dict)
    media: dict[str, EmuMedia] = field(default_factory=dict)
    jobs: dict[str, EmuJob] = field(default_factory=dict)
    bulk_operations: dict[str, EmuBulkOperation] = field(default_factory=dict)
    collections: dict[str, EmuCollection] = field(default_factory=dict)
    bucket: Bucket = field(init=False)
    scopes: str = "read_products,write_products,write_files,read_files"
    subscriptions: dict[str, Any] = field(default_factory=dict)  # gid -> billing.EmuSubscription

    def __post_init__(self) -> None:
        rate, size = PLAN_LIMITS[self.plan]
        self.bucket = Bucket(rate, size, size)

    @property
    def gid(self) -> str:
        return f"gid://shopify/Shop/{self.num}"

    def product(self, gid_or_num: str | int) -> EmuProduct:
        key = gid_or_num if isinstance(gid_or_num, str) else f"gid://shopify/Product/{gid_or_num}"
        return self.products[key]

    def gallery(self, product: EmuProduct | str) -> list[EmuMedia]:
        """The product's media in order (what a test inspects)."""
        p = self.products[product] if isinstance(product, str) else product
        return [self.media[m] for m in p.media_ids]

    def filename_taken(self, filename: str) -> bool:
        return any(m.filename == filename for m in self.media.values())


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) when the bytes decode as an image, else None (media then FAILS like Shopify's)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            return img.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def product_rest_payload(shop: EmuShop, product: EmuProduct, origin: str) -> dict[str, Any]:
    """The products/update webhook body (REST representation, trimmed to what apps read). As on Shopify, `images`
    are ProductImages with their own ids (`gid://shopify/ProductImage/…`) and a variant's `image_id` is such an id;
    only `media` carries the MediaImage ids the GraphQL Admin API uses, each READY one with its `preview_image`."""
    media = shop.gallery(product)
    ready = [m for m in media if m.status() == MediaStatus.READY]
    by_gid = {m.gid: m for m in media}
    return {
        "id": product.num,
        "admin_graphql_api_id": product.gid,
        "title": product.title,
        "handle": product.handle,
        "vendor": product.vendor,
        "product_type": product.product_type,
        "tags": ", ".join(product.tags),
        "updated_at": _iso(product.updated_at),
        "variants": [
            {
                "id": v.num,
                "admin_graphql_api_id": v.gid,
                "title": v.title,
                "sku": v.sku,
                "price": v.price,
                "image_id": by_gid[v.media_ids[0]].image_num if v.media_ids and v.media_ids[0] in by_gid else None,
            }
            for v in product.variants
        ],
        "media": [
            {
                "id": m.num,
                "admin_graphql_api_id": m.gid,
                "product_id": product.num,
                "position": i + 1,
                "alt": m.alt,
                "media_content_type": "IMAGE",
                "status": m.status().value,
                "preview_image": (
                    {"src": cdn_url(origin, shop, m), "width": m.width, "height": m.height, "status": "READY"}
                    if m.status() == MediaStatus.READY
                    else None
                ),
                "variant_ids": [v.num for v in product.variants if m.gid in v.media_ids],
            }
            for i, m in enumerate(media)
        ],
        "images": [
            {
                "id": m.image_num,
                "admin_graphql_api_id": m.image_gid,
                "product_id": product.num,
                "position": i + 1,
                "alt": m.alt,
                "width": m.width,
                "height": m.height,
                "src": cdn_url(origin, shop, m),
                "variant_ids": [v.num for v in product.variants if m.gid in v.media_ids],
            }
            for i, m in enumerate(ready)
        ],
    }


def cdn_url(origin: str, shop: EmuShop, media: EmuMedia) -> str:
    return f"{origin}/cdn/shop/{shop.num}/files/{media.filename}?v={int(media.created_at)}"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


iso = _iso
