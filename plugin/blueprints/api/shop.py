"""/api/overview and /api/settings: the shop's home figures and its settings."""

from __future__ import annotations

from flask import Response, g, jsonify

from plugin.blueprints import api_requests as req
from plugin.blueprints.api.common import bp
from plugin.extensions import db
from plugin.services import overview, settings
from plugin.shopify.auth import require_session


# --- overview -----------------------------------------------------------------------------------------------------
@bp.get("/overview")
@require_session
def get_overview() -> Response:
    """Home: jobs by state, images published in the last 7 days, today's usage and limit, worker health and queue
    lengths (cached a few seconds for all shops: the page polls it)."""
    data = overview.overview(g.shop)
    db.session.commit()  # get_settings may have created the shop's settings row
    return jsonify(data)


# --- settings -----------------------------------------------------------------------------------------------------
@bp.get("/settings")
@require_session
def get_settings() -> Response:
    s = settings.get_settings(g.shop)
    db.session.commit()
    return jsonify(settings.settings_to_dict(s))


@bp.put("/settings")
@require_session
def put_settings() -> Response:
    changes = req.parse(req.UpdateSettings, req.read_json())
    return jsonify(settings.settings_to_dict(settings.update_settings(g.shop, changes.model_dump(exclude_unset=True))))
