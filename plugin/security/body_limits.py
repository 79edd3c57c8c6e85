"""Request body limits, enforced before a byte of the body is read.

Each request gets the limit of its kind (`limit_for`): a webhook (POSTed by Shopify, JSON of a product or a shop),
a reference photo upload (multipart POST /api/pose-sets), or anything else (JSON bodies of /api/*; pages take
none). A declared Content-Length over the limit is answered 413 at once; a body without one (chunked) is capped by
`request.max_content_length`, so reading past the limit raises 413 instead of growing the worker. Flask's
MAX_CONTENT_LENGTH is the largest of them, a backstop for any path this module does not classify.

Why before reading: a 400 MB POST read into memory grew a web worker to 1.34 GiB, and a 108 MB photo was read in
full before the photo-size check answered (review of issue 12).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Request, Response, current_app, jsonify, request

# multipart framing around the photo: boundaries, part headers and the short `name` field
UPLOAD_OVERHEAD_BYTES = 64 * 1024


def upload_limit(config: Mapping[str, Any]) -> int:
    return int(config["POSE_STUDIO_MAX_PHOTO_BYTES"]) + UPLOAD_OVERHEAD_BYTES


def limit_for(req: Request) -> int:
    """The body limit of this request, in bytes."""
    config = current_app.config
    if req.path == "/webhooks":
        return int(config["WEBHOOK_MAX_BODY_BYTES"])
    if req.path == "/api/pose-sets" and req.method == "POST" and req.mimetype == "multipart/form-data":
        return upload_limit(config)
    return int(config["POSE_STUDIO_MAX_JSON_BYTES"])


def too_large(limit: int) -> Response:
    """The JSON error of every oversized body (webhook answers keep their own `{"status"}` shape)."""
    if request.path == "/webhooks":
        response = jsonify({"status": "body too large"})
    else:
        message = f"the request body is over {limit / (1024 * 1024):.1f} MB; send a smaller one"
        response = jsonify({"error": {"code": "request_too_large", "message": message}})
    response.status_code = 413
    # the unread body is still on the socket: close it rather than reading it to keep the connection alive
    response.headers["Connection"] = "close"
    return response


def _enforce() -> Response | None:
    limit = limit_for(request)
    if request.content_length is not None and request.content_length > limit:
        return too_large(limit)
    request.max_content_length = limit
    return None


def _entity_too_large(exc: Exception) -> Response:
    return too_large(limit_for(request))


def init_body_limits(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = max(int(app.config["WEBHOOK_MAX_BODY_BYTES"]), upload_limit(app.config),
                                           int(app.config["POSE_STUDIO_MAX_JSON_BYTES"]))  # fmt: skip
    # before any view (and its auth decorator) runs; the app's earlier hooks (CORS preflight, request timing) never
    # read a body
    app.before_request(_enforce)
    app.register_error_handler(413, _entity_too_large)
