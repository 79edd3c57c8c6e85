"""What the job layer reads from the Admin API, through the Shopify client's catalog module (plugin.shopify.catalog).

Kept in one place so the services above never build GraphQL themselves, and so that tests and the benchmark see
every Admin API call of the job layer here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from plugin.extensions import db
from plugin.models.job import Job
from plugin.models.shop import Shop
from plugin.services.errors import InvalidRequest
from plugin.services.products import (
    ProductImage,
    ProductInfo,
    VariantInfo,
    is_our_media,
    parse_time,
    pick_source,
    variant_image,
)
from plugin.shopify.gid import Gid


def admin_client(shop: Shop) -> Any:
    """An AdminClient for the shop: its (refreshed) offline token, the configured API version, the shared pacer."""
    from flask import current_app

    from plugin.extensions import get_redis
    from plugin.shopify.admin_api import AdminClient
    from plugin.shopify.auth import ShopTokens

    tokens = ShopTokens(shop.domain)
    # a 401 forgets the pair (Shopify no longer accepts it); the client then asks for a token once more, which
    # raises ShopNotInstalled: an API request answers 401 so App Bridge retries with an ID token (new exchange), a
    # task records that the merchant must open the app
    return AdminClient(
        shop.domain, tokens, api_version=current_app.config["SHOPIFY_API_VERSION"],
        admin_origin=current_app.config.get("SHOPIFY_ADMIN_ORIGIN") or None, redis=get_redis(),
        on_unauthorized=tokens.rejected,
    )


def from_catalog(p: Any) -> ProductInfo:
    """plugin.shopify.catalog.CatalogProduct → ProductInfo (gallery order kept; media without a URL dropped)."""
    images = [ProductImage(media_id=m.id, url=m.url, alt=m.alt, position=i + 1)
              for i, m in enumerate(p.media) if m.url]  # fmt: skip
    variants = [VariantInfo(id=v.id, title=v.title, media_id=v.media_id, image_url=v.media_url) for v in p.variants]
    return ProductInfo(id=p.id, title=p.title, updated_at=parse_time(p.updated_at), images=images, variants=variants)


def _catalog(shop: Shop) -> Any:
    from plugin.shopify.catalog import Catalog

    return Catalog(admin_client(shop))


def _is_complete(p: Any, variant_ids: set[str] | None, missing_variants: bool) -> bool:
    """Whether a batched read (first 10 media and variants) holds what job creation needs from this product: a
    source image that is not ours, the media of each wanted variant, and the wanted variants themselves
    (`variant_ids` None: any variant may be wanted; `missing_variants`: some wanted variant was in no product)."""
    if p.more_media:
        media = {m.id for m in p.media if m.url}
        if not any(m.url and not is_our_media(ProductImage(m.id, m.url)) for m in p.media):
            return False
        wanted = [v for v in p.variants if variant_ids is None or v.id in variant_ids]
        if any(v.media_id and v.media_id not in media for v in wanted):
            return False
    return not (p.more_variants and (variant_ids is None or missing_variants))


def products_by_ids(shop: Shop, ids: list[str], variant_ids: list[str] | None = None) -> list[ProductInfo]:
    """The products among `ids` that exist in the shop, in the order asked: one ProductsByIds read per 15 ids; a
    product whose first page of media/variants lacks what is needed (see `_is_complete`) is read again alone.

    `variant_ids`: the variants the caller will use ([] for none, as a bulk run); None reads every variant of a
    product with more than 10."""
    catalog = _catalog(shop)
    wanted = None if variant_ids is None else set(variant_ids)
    found = catalog.get_products(ids)
    seen_variants = {v.id for p in found.values() for v in p.variants}
    missing_variants = bool(wanted and wanted - seen_variants)
    out = []
    for pid in dict.fromkeys(ids):
        product = found.get(pid)
        if product is not None and not _is_complete(product, wanted, missing_variants):
            product = catalog.get_product(pid)
        if product is not None:
            out.append(from_catalog(product))
    return out


def catalog_products(shop: Shop, collection_id: str | None = None) -> list[ProductInfo]:
    """Every product of the shop (Bulk Operations export), or of one collection (paged search)."""
    catalog = _catalog(shop)
    if collection_id:
        number = Gid.parse(collection_id, "Collection").number
        return [from_catalog(p) for p in catalog.iter_products(query=f"collection_id:{number}")]
    return [from_catalog(p) for p in catalog.export_products()]


def product_in_shop(shop: Shop, product_id: str) -> bool:
    """Whether the shop's Admin API knows the product: a product webhook's body does not name its shop, so this is
    how a body replayed under another shop's header is told apart (plugin.shopify.webhook_checks)."""
    return _catalog(shop).get_product(product_id) is not None


def collections_of(shop: Shop, product_id: str) -> list[str]:
    """The GIDs of the collections the product is in (ProductCollections; [] when the product is gone)."""
    return [c.id for c in _catalog(shop).product_collections(product_id) or []]


def _status_by_product(shop: Shop, product_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The newest job of each product: the generation status shown next to its thumbnail."""
    if not product_ids:
        return {}
    newest = (
        select(Job.product_id, func.max(Job.id).label("job_id"))
        .where(Job.shop_id == shop.id, Job.product_id.in_(product_ids))
        .group_by(Job.product_id)
        .subquery()
    )
    rows = db.session.execute(select(Job).join(newest, Job.id == newest.c.job_id)).scalars()
    return {j.product_id: {"job_id": j.id, "state": j.state.value, "progress": j.progress} for j in rows}


def _variant_to_dict(product: ProductInfo, v: VariantInfo) -> dict[str, Any]:
    """A variant as the Products page needs it: whether it has a photo of its own (not one we generated), which."""
    own = variant_image(product, v)
    return {"id": v.id, "title": v.title, "has_own_image": own is not None,
            "image_url": (own.url or None) if own else None}  # fmt: skip


def products_page(shop: Shop, *, after: str | None = None, query: str | None = None) -> dict[str, Any]:
    from plugin.shopify.errors import ShopifyGraphQLError

    try:
        found, page_info = _catalog(shop).products_page(after=after, query=query)
    except ShopifyGraphQLError as exc:
        # a cursor or search the merchant's page sent that Shopify does not accept (stale, edited, or junk): the
        # request is wrong, not our server
        if after and "cursor" in str(exc).lower():
            raise InvalidRequest("the page cursor is not valid (any more); load the first page again",
                                 code="invalid_cursor") from None  # fmt: skip
        if query:
            raise InvalidRequest("Shopify did not accept this search; change it", code="invalid_query") from None
        raise
    products = [from_catalog(p) for p in found]
    sources = {p.id: pick_source(p) for p in products}
    status = _status_by_product(shop, [p.id for p in products])
    return {
        "products": [
            {
                "id": p.id, "title": p.title,
                "thumbnail": source.url if (source := sources[p.id]) else None,
                "images": len(p.images), "variants": [_variant_to_dict(p, v) for v in p.variants],
                "generation": status.get(p.id),
            }
            for p in products
        ],
        "page_info": page_info,
    }  # fmt: skip
