"""/api/bulk: bulk runs over a selection, a collection or the catalog."""

from __future__ import annotations

from flask import Response, g, jsonify

from plugin.blueprints import api_requests as req
from plugin.blueprints.api.common import ID, bp
from plugin.models.bulk import BulkRun
from plugin.security.tenancy import get_for_shop_or_404
from plugin.services import bulk
from plugin.shopify.auth import require_session


# --- bulk ---------------------------------------------------------------------------------------------------------
@bp.post("/bulk")
@require_session
def create_bulk() -> tuple[Response, int]:
    wanted = req.parse(req.CreateBulk, req.read_json())
    run = bulk.create_bulk(g.shop, wanted.model_dump(exclude_unset=True))
    return jsonify(bulk.bulk_to_dict(run)), 202


@bp.get(f"/bulk/<{ID}:bulk_id>")
@require_session
def get_bulk(bulk_id: int) -> Response:
    return jsonify(bulk.bulk_to_dict(get_for_shop_or_404(BulkRun, bulk_id, g.shop)))


@bp.post(f"/bulk/<{ID}:bulk_id>/cancel")
@require_session
def cancel_bulk(bulk_id: int) -> Response:
    run = get_for_shop_or_404(BulkRun, bulk_id, g.shop)
    result = bulk.cancel_bulk(run)
    return jsonify({**bulk.bulk_to_dict(run), **result})
