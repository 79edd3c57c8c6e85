"""Probes and metrics: /healthz (process alive), /readyz (dependencies reachable), /metrics (Prometheus).

No authentication on the probes (load balancers and systemd/Kubernetes call them) and no secrets in them: a
failed check names the dependency and the reason, with URLs redacted. /metrics needs
`Authorization: Bearer $POSE_STUDIO_METRICS_TOKEN` when that is set; otherwise block it at the proxy.
"""

from __future__ import annotations

import hmac
import os

from flask import Blueprint, Response, current_app, jsonify, request

from plugin.observability import health
from pose_studio import metrics

bp = Blueprint("health", __name__)

METRICS_TOKEN_ENV = "POSE_STUDIO_METRICS_TOKEN"  # noqa: S105 (a variable name)


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers. Deliberately checks nothing else, so a database outage does not make the
    orchestrator restart every web process (that is what /readyz is for)."""
    return jsonify(status="ok", pid=os.getpid())


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    timeout = float(app.config.get("READINESS_TIMEOUT_S", health.DEFAULT_TIMEOUT_S))
    results = health.run_checks(app, timeout=timeout)
    failed = [r.name for r in results if not r.ok]
    body = {
        "status": "ok" if not failed else "unavailable",
        "failed": failed,
        "checks": {r.name: {"ok": r.ok, "detail": r.detail, "seconds": r.seconds} for r in results},
    }
    return jsonify(body), 200 if not failed else 503


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    token = current_app.config.get(METRICS_TOKEN_ENV) or os.environ.get(METRICS_TOKEN_ENV, "")
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response("metrics need the bearer token\n", status=401, mimetype="text/plain")
    families = None
    if not current_app.config.get("METRICS_SKIP_SCRAPE_SOURCES"):
        from plugin.extensions import db

        families = metrics.scrape_time_families(
            job_counts=lambda: health.jobs_by_state(db.session), on_job_count_error=db.session.rollback,
            broker_url=health.broker_url_for(current_app._get_current_object()),  # type: ignore[attr-defined]
        )
    body, content_type = metrics.render_metrics(families)
    return Response(body, status=200, content_type=content_type)
