"""POST /api/jobs: one job per requested product (or variant) source image, idempotent, within the daily limit."""

from __future__ import annotations

from typing import Any

from plugin.extensions import db
from plugin.models.job import Job, JobMode, JobOrigin
from plugin.models.shop import Shop
from plugin.services import pose_sets, shopify_reads
from plugin.services.admission import JobRequest, admit
from plugin.services.errors import InvalidRequest
from plugin.services.products import pick_source
from plugin.services.settings import get_settings
from plugin.shopify.gid import Gid, InvalidGid

MAX_PRODUCTS = 50  # more than that is a bulk (POST /api/bulk)


def _gids(value: Any, kind: str, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise InvalidRequest(f"{name} must be a list of {kind} GIDs", code="invalid_request")
    try:
        return list(dict.fromkeys(str(Gid.parse(v, kind)) for v in value))
    except InvalidGid:
        raise InvalidRequest(f"{name} must be {kind} GIDs like gid://shopify/{kind}/123",
                             code="invalid_request") from None  # fmt: skip


def create_jobs(shop: Shop, data: dict[str, Any]) -> tuple[list[Job], int]:
    """Returns (jobs in request order, how many were new). Commits; new jobs go to the fair dispatcher.

    Asking again for the same product, image and pose set returns the existing job (idempotency key) and does not
    count against the daily limit.
    """
    if not isinstance(data, dict):
        raise InvalidRequest("send a JSON object: {product_ids: [...], pose_set: '...'}")
    product_ids = _gids(data.get("product_ids"), "Product", "product_ids")
    variant_ids = _gids(data.get("variant_ids"), "ProductVariant", "variant_ids")
    if not product_ids:
        raise InvalidRequest("product_ids is required: a list of product GIDs", code="invalid_request")
    if len(product_ids) > MAX_PRODUCTS:
        raise InvalidRequest(f"at most {MAX_PRODUCTS} products per request; use POST /api/bulk for more",
                             code="too_many_products")  # fmt: skip
    settings = get_settings(shop)
    poses = data.get("poses")
    if poses is not None and (not isinstance(poses, list) or not all(isinstance(p, str) for p in poses)):
        raise InvalidRequest("poses must be a list of pose ids", code="invalid_request")
    pose_set = pose_sets.resolve(shop, data.get("pose_set") or settings.default_pose_set, poses)
    mode = data.get("mode") or settings.mode
    if mode not in ("review", "auto"):
        raise InvalidRequest("mode must be 'review' or 'auto'", code="invalid_mode")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise InvalidRequest("seed must be an integer 0..2^31-1", code="invalid_request")

    products = {p.id: p for p in shopify_reads.products_by_ids(shop, product_ids, variant_ids)}
    missing = [pid for pid in product_ids if pid not in products]
    if missing:
        raise InvalidRequest(f"no product {', '.join(missing)} in this shop", code="unknown_product", status=404)
    requests_: list[JobRequest] = []
    for pid in product_ids:
        product = products[pid]
        own_variants: list[str | None] = [v.id for v in product.variants if v.id in variant_ids]
        for variant_id in own_variants or [None]:
            source = pick_source(product, variant_id)
            if source is None:
                raise InvalidRequest(f"product '{product.title}' has no image to start from; add a product image "
                                     "in Shopify first", code="no_source_image")  # fmt: skip
            requests_.append(JobRequest(
                product_id=pid, variant_id=variant_id, pose_set=pose_set, product_title=product.title,
                source_url=source.url, source_media_id=source.media_id, poses=poses, mode=JobMode(mode),
                origin=JobOrigin.ON_DEMAND, backend=settings.backend, max_size=settings.max_size, seed=seed,
            ))  # fmt: skip
    unknown_variants = set(variant_ids) - {r.variant_id for r in requests_}
    if unknown_variants:
        raise InvalidRequest(f"variant(s) {', '.join(sorted(unknown_variants))} belong to none of product_ids",
                             code="unknown_variant")  # fmt: skip
    admitted = admit(shop, requests_)  # all or nothing: DailyLimitReached → 429, nothing created
    db.session.commit()
    return admitted.admitted, admitted.created
