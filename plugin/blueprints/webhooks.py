"""POST /webhooks: one endpoint for every topic (topic and shop come from the headers)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from plugin.services import deliveries
from plugin.shopify import webhooks
from pose_studio import metrics

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks")
def receive() -> Response:
    # The body limit (POSE_STUDIO_MAX_WEBHOOK_BYTES) is enforced before this runs (plugin.security.body_limits).
    raw_body = request.get_data(cache=False)
    try:
        webhooks.verify(raw_body, request.method, request.headers, request.url)
        meta = webhooks.read_meta(request.headers)
    except webhooks.WebhookRejected as exc:
        log.warning("webhook rejected (%s): %s", exc.status, exc.reason)
        metrics.record_webhook("rejected", request.headers.get("X-Shopify-Topic", "unknown"))
        return _answer(exc.status, exc.reason)
    try:
        outcome = deliveries.record_and_dispatch(meta, raw_body)
    except Exception:
        # Anything non-2xx makes Shopify retry (8 times over 4 h); the retry is deduplicated or re-enqueued.
        log.exception("webhook %s for %s could not be handled", meta.topic, meta.shop_domain)
        return _answer(503, "try again")
    log.info("webhook %s for %s: %s", meta.topic, meta.shop_domain, outcome)
    metrics.record_webhook("duplicate" if outcome is deliveries.Outcome.DUPLICATE else "accepted", meta.topic)
    return _answer(200, outcome.value)


def _answer(status: int, message: str) -> Response:
    response = jsonify({"status": message})
    response.status_code = status
    return response
