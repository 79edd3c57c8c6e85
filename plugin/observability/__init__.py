"""Logs, metrics and probes for the web app and the workers.

Web: `init_observability(app)` in create_app — JSON logs with a request id, redaction, request-latency
metrics, and the health blueprint (/healthz, /readyz, /metrics).
Logging and metrics themselves are neutral (pose_studio.logging, pose_studio.metrics), and so are the workers'
hooks (pose_studio.worker_observability): a GPU worker uses them without loading Flask.
"""

from __future__ import annotations

import logging as stdlib_logging
import re
import time
import uuid

from flask import Flask, g, request
from flask.wrappers import Response

from pose_studio import metrics
from pose_studio.logging import (
    bind_log_context,
    clear_log_context,
    configure_logging,
    log_context,
    log_job_transition,
    register_secrets_from_config,
)

__all__ = [
    "bind_log_context",
    "init_observability",
    "log_context",
    "log_job_transition",
    "metrics",
]

_access_log = stdlib_logging.getLogger("pose_studio.access")
_EXTENSION = "pose_studio_observability"
# A request id from the proxy is kept only when it looks like one (it goes into every log line).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def init_observability(app: Flask) -> None:
    """Bind logging, request metrics and the health blueprint to `app` (idempotent)."""
    if app.extensions.get(_EXTENSION):
        return
    app.extensions[_EXTENSION] = True
    if not app.testing:
        configure_logging()
    register_secrets_from_config(app.config)

    from plugin.blueprints.health import bp as health_bp

    app.register_blueprint(health_bp)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_request(_clear_request)


def _start_request() -> None:
    g.pose_studio_started = time.perf_counter()
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    clear_log_context()
    bind_log_context(request_id=g.request_id)


def _finish_request(response: Response) -> Response:
    started = g.get("pose_studio_started")
    route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
    if started is None:
        return response
    seconds = time.perf_counter() - started
    metrics.observe_request(route, request.method, response.status_code, seconds)
    if route not in _QUIET_ROUTES:
        shop = _shop_of_request()
        _access_log.info(
            "%s %s %s",
            request.method,
            route,
            response.status_code,
            extra={
                "fields": {
                    "event": "http.request",
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 2),
                    **({"shop": shop} if shop else {}),
                }
            },
        )
    return response


def _shop_of_request() -> str | None:
    """The shop the request was authenticated for, when the auth layer put it on `g` (never the raw query)."""
    for attr in ("shop_domain", "shop"):
        value = g.get(attr)
        if isinstance(value, str):
            return value
        domain = getattr(value, "domain", None) or getattr(value, "shopify_domain", None)
        if domain:
            return str(domain)
    return None


def _clear_request(exc: BaseException | None) -> None:
    clear_log_context()
