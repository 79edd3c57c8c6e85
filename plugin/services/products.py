"""Products as the job layer needs them: id, title, type, tags, gallery images, variants; and which image is the source.

Built from a products/* webhook body (REST shape, `from_webhook`) or from the Admin API: plugin.shopify.catalog is
the one parser of GraphQL product nodes, shopify_reads.from_catalog turns its records into these. The *source* of a
product is its first gallery image that the app did not make itself; our own images are recognised by the
deterministic filename prefix of the write-back (`pose-studio-…`), so our media writes never look like a new source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

# The write-back names every file it uploads with this prefix (plugin.shopify.media.deterministic_filename).
from plugin.shopify.gid import Gid
from plugin.shopify.media import OUR_PREFIX as OUR_FILENAME_PREFIX  # noqa: E402
from plugin.shopify.rest_payloads import image_media_gid, media_gid_by_image_id


@dataclass(frozen=True)
class ProductImage:
    media_id: str | None
    url: str
    alt: str = ""
    position: int = 0

    @property
    def filename(self) -> str:
        return unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])


@dataclass(frozen=True)
class VariantInfo:
    id: str
    title: str = ""
    media_id: str | None = None
    image_url: str | None = None  # the URL of `media_id`, when known


@dataclass
class ProductInfo:
    id: str
    title: str = ""
    product_type: str = ""
    tags: list[str] = field(default_factory=list)
    updated_at: datetime | None = None
    images: list[ProductImage] = field(default_factory=list)
    variants: list[VariantInfo] = field(default_factory=list)


def is_our_media(image: ProductImage) -> bool:
    return image.filename.startswith(OUR_FILENAME_PREFIX)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def from_webhook(payload: dict[str, Any]) -> ProductInfo:
    """A products/create|update body (REST representation) → ProductInfo."""
    tags = payload.get("tags") or ""
    tag_list = [t.strip() for t in tags.split(",")] if isinstance(tags, str) else [str(t) for t in tags]
    media_ids = media_gid_by_image_id(payload)  # REST ProductImage ids -> MediaImage ids (plugin.shopify)
    images = [
        ProductImage(
            media_id=image_media_gid(media_ids, img.get("id")),
            url=str(img.get("src") or ""), alt=str(img.get("alt") or ""), position=int(img.get("position") or 0),
        )
        for img in payload.get("images") or []
        if img.get("src")
    ]  # fmt: skip
    variants = [
        VariantInfo(
            id=v.get("admin_graphql_api_id") or Gid.of(v.get("id"), "ProductVariant") or "",
            title=str(v.get("title") or ""),
            media_id=image_media_gid(media_ids, v.get("image_id")),
        )
        for v in payload.get("variants") or []
    ]
    return ProductInfo(
        id=payload.get("admin_graphql_api_id") or Gid.of(payload.get("id"), "Product") or "",
        title=str(payload.get("title") or ""), product_type=str(payload.get("product_type") or ""),
        tags=[t for t in tag_list if t], updated_at=parse_time(payload.get("updated_at")),
        images=sorted(images, key=lambda i: i.position), variants=variants,
    )  # fmt: skip


def variant_image(product: ProductInfo, variant: VariantInfo) -> ProductImage | None:
    """The variant's own photo: its media, unless that is one of our generated images (a published variant job sets
    our image on the variant; generating from it again would pose a posed photo)."""
    if not variant.media_id:
        return None
    image = next((img for img in product.images if img.media_id == variant.media_id), None)
    if image is None:
        image = ProductImage(media_id=variant.media_id, url=variant.image_url or "")
    if image.url and is_our_media(image):
        return None
    return image


def pick_source(product: ProductInfo, variant_id: str | None = None) -> ProductImage | None:
    """The image to generate from: the variant's own image when it has one (and it is not ours), else the first
    gallery image that is not ours."""
    theirs = [img for img in product.images if not is_our_media(img)]
    if variant_id:
        variant = next((v for v in product.variants if v.id == variant_id), None)
        if variant and variant.media_id:
            own = next((img for img in theirs if img.media_id == variant.media_id), None)
            if own is not None:
                return own
    return theirs[0] if theirs else None
