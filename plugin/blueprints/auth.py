"""Auth routes: the OAuth code flow (non-embedded installs) and App Bridge's patch-id-token bounce page."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from plugin.errors import TokenExchangeFailed
from plugin.security.redirect_target import same_origin_path
from plugin.security.shop_domain import is_valid_shop_domain
from plugin.shopify import oauth
from plugin.shopify.auth import PATCH_ID_TOKEN_PATH, get_shopify_app
from plugin.shopify.token_store import store_token_pair
from plugin.shopify.urls import browser_url

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)


@bp.get("/auth")
def begin() -> BaseResponse:
    shop = request.args.get("shop", "")
    if not is_valid_shop_domain(shop):
        return _text(400, "The shop parameter must be your store's name.myshopify.com address.")
    authorize_url, cookie = oauth.begin(shop)
    response = redirect(authorize_url)
    secure = current_app.config["SHOPIFY_APP_URL"].startswith("https://")
    # Lax: the callback is a top-level GET navigation from Shopify, which Lax cookies accompany.
    response.set_cookie(oauth.STATE_COOKIE, cookie, max_age=oauth.STATE_MAX_AGE_SECONDS, httponly=True,
                        secure=secure, samesite="Lax", path="/auth")
    return response


@bp.get("/auth/callback")
def callback() -> BaseResponse:
    try:
        shop = oauth.verify_callback(
            request.args, list(request.args.items(multi=True)), request.cookies.get(oauth.STATE_COOKIE)
        )
    except oauth.OAuthCallbackRejected as exc:
        log.warning("OAuth callback rejected: %s", exc.code)
        forged = exc.code in ("invalid_hmac", "state_mismatch", "invalid_state")
        return _text(403 if forged else 400, str(exc))
    code = request.args.get("code", "")
    if not code:
        return _text(400, "The callback carries no authorization code.")
    try:
        pair = oauth.exchange_code(shop, code)
    except TokenExchangeFailed as exc:
        log.warning("OAuth code exchange for %s refused: %s", shop, exc.code)
        return _text(502, "Shopify refused the authorization code; start the install again.")
    store_token_pair(shop, pair, confirms_install=True)
    log.info("OAuth install of %s: stored an expiring offline token", shop)
    response = redirect(browser_url(shop, f"/admin/apps/{current_app.config['SHOPIFY_API_KEY']}"))
    response.delete_cookie(oauth.STATE_COOKIE, path="/auth")
    return response


@bp.get(PATCH_ID_TOKEN_PATH)
def patch_id_token() -> Response:
    """App Bridge bounce: loads App Bridge, which fetches a fresh ID token and reloads `shopify-reload`."""
    if not is_valid_shop_domain(request.args.get("shop")):
        return _text(400, "The shop parameter must be a name.myshopify.com address.")
    # Exactly one target (the library might read another copy than request.args does), and only a same-origin path:
    # anything else would make this page an open redirect.
    targets = request.args.getlist("shopify-reload")
    if len(targets) != 1 or same_origin_path(targets[0], current_app.config["SHOPIFY_APP_URL"]) is None:
        return _text(400, "shopify-reload must be a path on this app.")
    result = get_shopify_app().app_home_patch_id_token(
        {"method": "GET", "headers": dict(request.headers),
         "url": current_app.config["SHOPIFY_APP_URL"] + request.full_path, "body": ""}
    )
    headers = {k: v for k, v in result.response.headers.items() if k.lower() != "content-security-policy"}
    # frame-ancestors is set for every HTML response by plugin.security.headers (known shops only).
    return Response(result.response.body, status=result.response.status, headers=headers)


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")
