"""What every /api route shares: the blueprint, the error shape and its handlers, stored images, the JSON of jobs
and outputs (with the page's extra fields)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from gpu_worker.contract import image_format_of_key
from plugin.blueprints import api_requests as req
from plugin.errors import RefreshLockTimeout, ShopifyAuthError
from plugin.extensions import db
from plugin.models.job import Job
from plugin.models.output import Output
from plugin.security.body_limits import limit_for, too_large
from plugin.services import serialization
from plugin.services.errors import JobLayerError
from plugin.shopify.auth import RETRY_HEADER
from plugin.shopify.errors import ShopifyError
from plugin.storage import KeyMissing, get_storage

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")


ID = f"int(min=1, max={req.MAX_ID})"  # path ids: a larger number is no row of ours (404), not a database error


def error(code: str, message: str, status: int, fields: list[dict[str, str]] | None = None) -> tuple[Response, int]:
    payload: dict[str, Any] = {"code": code, "message": message}
    if fields:
        payload["fields"] = fields
    return jsonify({"error": payload}), status


@bp.errorhandler(JobLayerError)
def _job_layer_error(exc: JobLayerError) -> tuple[Response, int]:
    db.session.rollback()
    return error(exc.code, exc.message, exc.status, exc.fields)


@bp.errorhandler(ShopifyAuthError)
def _token_unusable(exc: ShopifyAuthError) -> tuple[Response, int] | Response:
    """The shop's stored token pair is gone or refused (cleared after an Admin API 401 or a refused refresh): 401
    with App Bridge's retry header, whose retry carries a fresh ID token that exchanges a new pair."""
    db.session.rollback()
    if isinstance(exc, RefreshLockTimeout):
        response, status = error("busy", "the shop's access token is being refreshed; retry in a few seconds", 503)
        response.headers["Retry-After"] = "5"
        return response, status
    response, status = error("shopify_token_rejected", "Shopify no longer accepts this shop's access token; "
                             "reload Pose Studio from the Shopify admin", 401)  # fmt: skip
    response.headers[RETRY_HEADER] = "1"
    return response, status


@bp.errorhandler(ShopifyError)
def _shopify_error(exc: ShopifyError) -> tuple[Response, int]:
    # what reaches here is Shopify failing (down, throttling past our retries, a schema change): 502 in the API's
    # error shape, so the page says so instead of showing an HTML 500
    db.session.rollback()
    log.warning("Admin API call of %s failed: %s", g.get("shop_domain"), exc)
    return error("shopify_error", "Shopify did not answer as expected; try again in a minute", 502)


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _unrouted(exc: HTTPException) -> Any:
    """A URL under /api/ that matches no route (or not with this method; an id out of range matches none) gets the
    API's JSON error too; other paths keep Flask's page."""
    if request.path.startswith("/api/"):
        return _http_error(exc)
    return exc


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    if status == 413:  # a chunked body that ran past its limit while being read
        return too_large(limit_for(request)), 413
    messages = {404: "not found in this shop; check the id", 405: "method not allowed on this route",
                400: "the request could not be read; send JSON", 413: "the upload is too large"}  # fmt: skip
    return error(exc.name.lower().replace(" ", "_"), messages.get(status, exc.description or exc.name), status)


def image_response(key: str, missing: str) -> Response:
    """A stored image for an authenticated page (fetched with the session token, shown as a blob URL)."""
    try:
        data = get_storage().get(key)
    except KeyMissing:
        return error("image_missing", missing, 404)  # type: ignore[return-value]
    # outputs follow the shop's output_format; sources are re-encoded PNG
    fmt = image_format_of_key(key)
    response = Response(data, mimetype=fmt.mime if fmt else "application/octet-stream")
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def output_json(out: Output) -> dict[str, Any]:
    # `position` is the 0-based order among the job's images; `carousel_position` is what approve takes (1 = first)
    data = serialization.output_to_dict(out)
    data["carousel_position"] = out.position + 1
    return data


def job_json(job: Job, *, with_outputs: bool = True) -> dict[str, Any]:
    data = serialization.job_to_dict(job, with_outputs=with_outputs)
    # the photo the job generates from, as stored (a shop-scoped URL: it needs the session token like the outputs)
    data["source_url"] = f"/api/jobs/{job.id}/source-image" if job.source_key else None
    if with_outputs:
        for item in data.get("outputs", []):
            item["carousel_position"] = item["position"] + 1
    return data
