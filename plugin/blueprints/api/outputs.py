"""/api/outputs: the merchant's review of one generated image, and the image itself."""

from __future__ import annotations

from flask import Response, g, jsonify

from plugin.blueprints import api_requests as req
from plugin.blueprints.api.common import ID, bp, image_response, output_json
from plugin.models.output import Decision, Output
from plugin.security.tenancy import get_for_shop_or_404
from plugin.services import review
from plugin.shopify.auth import require_session


# --- outputs ------------------------------------------------------------------------------------------------------
@bp.post(f"/outputs/<{ID}:output_id>/approve")
@require_session
def approve_output(output_id: int) -> Response:
    """Optional JSON body {position, variant_id}: where the image goes among the job's images in the carousel
    (1 = first) and the variant that shows it (null: none). Both are stored on the output; publish uses them."""
    out = get_for_shop_or_404(Output, output_id, g.shop)
    raw = req.read_json(optional=True)
    if raw is not None:
        review.place(g.shop, out, req.parse(req.ApproveOptions, raw).model_dump(exclude_unset=True))
    return jsonify(output_json(review.decide(out, Decision.APPROVED)))


@bp.post(f"/outputs/<{ID}:output_id>/reject")
@require_session
def reject_output(output_id: int) -> Response:
    return jsonify(output_json(review.decide(get_for_shop_or_404(Output, output_id, g.shop), Decision.REJECTED)))


@bp.post(f"/outputs/<{ID}:output_id>/regenerate")
@require_session
def regenerate_output(output_id: int) -> tuple[Response, int]:
    out = review.regenerate(g.shop, get_for_shop_or_404(Output, output_id, g.shop))
    return jsonify(output_json(out)), 202


@bp.get(f"/outputs/<{ID}:output_id>/image")
@require_session
def output_image(output_id: int) -> Response:
    out = get_for_shop_or_404(Output, output_id, g.shop)
    return image_response(out.storage_key, "the stored image is gone; regenerate this pose")
