"""Response headers: frame-ancestors for every HTML page, CORS for admin UI extensions on /api/*.

frame-ancestors names exactly the requesting shop and admin.shopify.com; wildcards (`*`, `https:`,
`https://*.myshopify.com`) fail Shopify's STATIC_FRAME_ANCESTORS check (shopify.dev "Set up iframe
protection").
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request
from sqlalchemy import select

from plugin.extensions import db
from plugin.models.shop import Shop
from plugin.security.shop_domain import is_valid_shop_domain

SHOPIFY_ADMIN = "https://admin.shopify.com"
CORS_ALLOW_HEADERS = "Authorization, Content-Type"
CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def frame_ancestors(shop_domain: str | None) -> str:
    if shop_domain and is_valid_shop_domain(shop_domain):
        return f"frame-ancestors https://{shop_domain} {SHOPIFY_ADMIN};"
    return f"frame-ancestors {SHOPIFY_ADMIN};"


def _requesting_shop() -> str | None:
    """The verified session's shop; else a `?shop=` that is a valid domain of a shop we know is installed
    (an unauthenticated page such as the patch-id-token bounce); else None (admin.shopify.com only)."""
    verified = g.get("shop_domain")
    if verified:
        return str(verified)
    candidate = request.args.get("shop")
    if not is_valid_shop_domain(candidate):
        return None
    known = db.session.execute(
        select(Shop.id).where(Shop.domain == candidate, Shop.uninstalled_at.is_(None))
    ).first()
    return candidate if known else None


def _allowed_origin() -> str | None:
    """The request's Origin when it is on the POSE_STUDIO_CORS_ORIGINS allow-list (admin UI extensions run in a
    worker on Shopify's extension CDN and call our API with fetch()); else None."""
    origin = request.headers.get("Origin", "").lower()
    allowed = current_app.config.get("POSE_STUDIO_CORS_ORIGINS") or frozenset()
    return origin if origin and origin in allowed else None


def _cors_preflight() -> Response | None:
    if request.method != "OPTIONS" or not request.path.startswith("/api/"):
        return None
    response = Response(status=204)
    origin = _allowed_origin()
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
        response.headers["Access-Control-Expose-Headers"] = "X-Shopify-Retry-Invalid-Session-Request"
        response.headers["Access-Control-Max-Age"] = "7200"
    response.headers["Vary"] = "Origin"
    return response


def _apply(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = frame_ancestors(_requesting_shop())
    if request.path.startswith("/api/"):
        origin = _allowed_origin()
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "X-Shopify-Retry-Invalid-Session-Request"
        response.vary.add("Origin")
    return response


def init_security_headers(app: Flask) -> None:
    # before_request runs even when no route matches, so a preflight to any /api/ path is answered.
    app.before_request(_cors_preflight)
    app.after_request(_apply)
