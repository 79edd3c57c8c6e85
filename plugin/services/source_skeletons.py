"""A product's source skeleton: a merchant-placed skeleton used instead of detection when the detector misses the
figure (mascots), and what the pose editor needs to place one (the product's photo, its variants)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from plugin.extensions import db
from plugin.models.product_source import ProductSource
from plugin.models.shop import Shop
from plugin.services import shopify_reads
from plugin.services.errors import InvalidRequest, NotFound
from plugin.services.products import pick_source
from plugin.shopify.gid import Gid, InvalidGid


def product_gid(product_id: str) -> str:
    """The product GID of a path parameter (a number or a GID); InvalidRequest otherwise."""
    try:
        return str(Gid.parse(product_id, "Product"))
    except InvalidGid:
        raise InvalidRequest("product id must be a number or a product GID", code="invalid_product") from None


def _row(shop: Shop, gid: str) -> ProductSource | None:
    return db.session.scalars(
        select(ProductSource).where(ProductSource.shop_id == shop.id, ProductSource.product_id == gid)
    ).first()


def describe(shop: Shop, product_id: str) -> dict[str, Any]:
    """{"product_id", "title", "photo": {url, alt} | null, "skeleton": saved skeleton | null, "variants"}: what the
    pose editor needs to place a skeleton on the product's photo, and what Review shows as variants."""
    gid = product_gid(product_id)
    found = shopify_reads.products_by_ids(shop, [gid])
    if not found:
        raise NotFound(f"no product {Gid.parse(gid, 'Product').number} in this shop; it may have been deleted",
                       code="unknown_product")  # fmt: skip
    product = found[0]
    photo = pick_source(product)
    row = _row(shop, gid)
    return {
        "product_id": gid, "title": product.title,
        "photo": {"url": photo.url, "alt": photo.alt} if photo else None,
        "skeleton": row.source_skeleton if row else None,
        "variants": [{"id": v.id, "title": v.title, "has_own_image": v.media_id is not None} for v in product.variants],
    }  # fmt: skip


def save(shop: Shop, product_id: str, skeleton: dict[str, Any] | None) -> dict[str, Any]:
    """Validate and store a merchant-placed skeleton (`None` removes it). Commits; returns {product_id, skeleton}."""
    from gpu_worker.errors import PoseStudioError
    from gpu_worker.pose.skeleton import Skeleton

    gid = product_gid(product_id)
    if skeleton is not None:
        try:
            skeleton = Skeleton.from_dict(skeleton).to_dict()
        except (PoseStudioError, ValueError, TypeError, KeyError) as exc:
            raise InvalidRequest(f"skeleton is not valid: {exc}", code="invalid_skeleton") from None
    row = _row(shop, gid)
    if row is None:
        row = ProductSource(shop_id=shop.id, product_id=gid)
        db.session.add(row)
    row.source_skeleton = skeleton
    db.session.commit()
    return {"product_id": gid, "skeleton": skeleton}
