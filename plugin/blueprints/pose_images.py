"""What the admin pages need to draw skeletons: the poses of a pose set, and a product's photo with its skeleton.

GET /api/pose-sets lists poses by id and name only (it is the picker's list); the gallery, the previews on
product photos, the review insets and the pose editor draw each pose from its 33 normalized landmarks, which
`/api/pose-sets/<set>/poses` returns. The editor places a skeleton on a product photo; it reads the photo and
the skeleton saved by `PUT /api/products/<id>/source-skeleton` from `GET` on the same URL. Drawing happens in
the browser (SVG, static/skeleton_svg.js): crisp at any size, no image work on the web process.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from plugin.extensions import db
from plugin.models.product_source import ProductSource
from plugin.services import shopify_reads
from plugin.services.errors import JobLayerError, NotFound
from plugin.services.pose_sets import resolve
from plugin.services.products import pick_source
from plugin.shopify.auth import require_session

bp = Blueprint("pose_images", __name__)


def _error(exc: JobLayerError) -> tuple[Response, int]:
    return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status


@bp.get("/api/pose-sets/<set_id>/poses")
@require_session
def pose_skeletons(set_id: str) -> Any:
    """{"pose_set": {id, version, name}, "poses": [{id, name, description, skeleton}]}; skeleton as
    gpu_worker's Skeleton.to_dict(): {width, height, landmarks: 33 × [x, y, visibility] or null}."""
    try:
        ref = resolve(g.shop, set_id)
    except JobLayerError as exc:
        return _error(exc)
    doc = ref.document
    response = jsonify({
        "pose_set": {"id": doc["id"], "version": doc["version"], "name": doc.get("name", doc["id"])},
        "poses": [
            {"id": p["id"], "name": p.get("name", p["id"]), "description": p.get("description", ""),
             "skeleton": p["skeleton"]}
            for p in doc["poses"]
        ],
    })  # fmt: skip
    # A set's poses change only with its version; the page asks again on every load, this spares the bytes.
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


@bp.get("/api/products/<int:product_id>/source-skeleton")
@require_session
def source_skeleton(product_id: int) -> Any:
    """{"product_id", "title", "photo": {url, alt} | null, "skeleton": saved skeleton | null, "variants"}."""
    gid = f"gid://shopify/Product/{product_id}"
    try:
        found = shopify_reads.products_by_ids(g.shop, [gid])
        if not found:
            raise NotFound(f"no product {product_id} in this shop; it may have been deleted", code="unknown_product")
    except JobLayerError as exc:
        return _error(exc)
    product = found[0]
    photo = pick_source(product)
    row = db.session.query(ProductSource).filter_by(shop_id=g.shop.id, product_id=gid).first()
    return jsonify({
        "product_id": gid, "title": product.title,
        "photo": {"url": photo.url, "alt": photo.alt} if photo else None,
        "skeleton": row.source_skeleton if row else None,
        "variants": [{"id": v.id, "title": v.title, "has_own_image": v.media_id is not None} for v in product.variants],
    })  # fmt: skip
