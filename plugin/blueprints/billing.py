"""Usage billing's HTTP surface (plugin.services.billing): the plan's status for Settings, subscribing, and the return
from Shopify's approval page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, redirect, request
from sqlalchemy import select

from plugin.extensions import db
from plugin.models.shop import Shop
from plugin.security.shop_domain import is_valid_shop_domain
from plugin.services import billing
from plugin.services.errors import JobLayerError
from plugin.shopify.auth import require_session

bp = Blueprint("billing", __name__)


@bp.errorhandler(JobLayerError)
def _error(exc: JobLayerError) -> tuple[Response, int]:
    db.session.rollback()
    return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status


@bp.get("/api/billing")
@require_session
def billing_status() -> Any:
    """{enabled, state, price_per_image, currency, capped_amount, balance_used, remaining, paused, reason, ...}"""
    return jsonify(billing.status(g.shop).to_dict())


@bp.post("/api/billing/subscribe")
@require_session
def subscribe() -> Any:
    """Create the plan; the page sends the merchant (top level) to `confirmation_url` to approve it."""
    return jsonify({"confirmation_url": billing.subscribe(g.shop)}), 201


@bp.get("/billing/return")
def billing_return() -> Any:
    """Shopify's redirect after the merchant approved (or declined) the plan. It carries no session, so nothing in its
    query is trusted: the plan's state is read back from Shopify with the shop's own token. Then back to Settings."""
    domain = request.args.get("shop", "")
    if not is_valid_shop_domain(domain):
        return Response("Unknown shop", status=400)
    shop = db.session.scalar(select(Shop).where(Shop.domain == domain, Shop.uninstalled_at.is_(None)))
    if shop is None:
        return Response("Unknown shop", status=404)
    charge_id = request.args.get("charge_id", "")
    billing.refresh(shop, charge_id if charge_id.isdigit() else None)
    if current_app.config.get("SHOPIFY_ADMIN_ORIGIN"):  # the emulator: no admin to go back into
        return redirect(f"{current_app.config['SHOPIFY_APP_URL']}/settings?shop={domain}&billing=returned")
    store = domain.removesuffix(".myshopify.com")
    return redirect(f"https://admin.shopify.com/store/{store}/apps/{current_app.config['SHOPIFY_API_KEY']}/settings")
