"""/api/products: the catalog page and a product's source skeleton."""

from __future__ import annotations

from flask import Response, g, jsonify

from plugin.blueprints import api_requests as req
from plugin.blueprints.api.common import bp
from plugin.services import shopify_reads, source_skeletons
from plugin.shopify.auth import require_session


# --- products -----------------------------------------------------------------------------------------------------
@bp.get("/products")
@require_session
def list_products() -> Response:
    q = req.parse_query(req.ProductsQuery)
    return jsonify(shopify_reads.products_page(g.shop, after=q.after, query=q.query))


@bp.get("/products/<path:product_id>/source-skeleton")
@require_session
def get_source_skeleton(product_id: str) -> Response:
    """What the pose editor needs to place a skeleton on the product's photo (source_skeletons.describe)."""
    return jsonify(source_skeletons.describe(g.shop, product_id))


@bp.put("/products/<path:product_id>/source-skeleton")
@require_session
def put_source_skeleton(product_id: str) -> Response:
    """A merchant-placed skeleton for a product whose model the detector misses (mascots); `null` removes it."""
    skeleton = req.parse(req.SourceSkeleton, req.read_json()).skeleton
    return jsonify(source_skeletons.save(g.shop, product_id, skeleton))
