"""OAuth authorization-code install for non-embedded installs (shopify_app leaves this flow to the app).

Rules follow Shopify's own libraries (shopify-api-js oauth.ts / hmac-validator.ts): the state nonce is bound
to
the browser with a signed cookie, the callback's hex HMAC-SHA256 is computed over the other query parameters
sorted by name, the timestamp must be fresh, and the shop must be a `name.myshopify.com` domain.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from urllib.parse import quote, urlencode

import httpx
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from plugin.errors import ShopifyAuthError, TokenExchangeFailed
from plugin.extensions import utcnow
from plugin.security.shop_domain import is_valid_shop_domain
from plugin.shopify.token_store import TokenPair
from plugin.shopify.urls import DEFAULT_TIMEOUT, admin_url, browser_url
from pose_studio.log_redaction import register_secrets

STATE_COOKIE = "pose_studio_oauth_state"
STATE_MAX_AGE_SECONDS = 600
# shopify-api-js accepts ±90 s; the callback follows Shopify's redirect immediately.
TIMESTAMP_TOLERANCE_SECONDS = 90


class OAuthCallbackRejected(ShopifyAuthError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt="pose-studio-oauth-state",
    )


def begin(shop: str) -> tuple[str, str]:
    """(authorize URL to redirect the browser to, signed state cookie value)."""
    nonce = secrets.token_hex(16)
    config = current_app.config
    query = urlencode({
        "client_id": config["SHOPIFY_API_KEY"],
        "scope": config["SHOPIFY_SCOPES"],
        "redirect_uri": f"{config['SHOPIFY_APP_URL']}/auth/callback",
        "state": nonce,
    })
    cookie = _serializer().dumps({"nonce": nonce, "shop": shop})
    return browser_url(shop, f"/admin/oauth/authorize?{query}"), cookie


def query_hmac_candidates(params: Iterable[tuple[str, str]], secret: str) -> set[str]:
    """Hex HMAC-SHA256 of the sorted `k=v&…` message, in the encodings Shopify's libraries use:
    URL-encoded (shopify-api-js, URLSearchParams) and minimally escaped (`%`, `&`, `=`;
    shopify_python_api)."""
    pairs = sorted((k, v) for k, v in params if k not in ("hmac", "signature"))

    def minimal(value: str) -> str:
        return value.replace("%", "%25").replace("&", "%26").replace("=", "%3D")

    messages = {
        urlencode(pairs),
        urlencode(pairs, quote_via=quote),
        "&".join(f"{minimal(k)}={minimal(v)}" for k, v in pairs),
    }
    return {hmac.new(secret.encode(), m.encode(), hashlib.sha256).hexdigest() for m in messages}


def verify_callback(args: Mapping[str, str], pairs: list[tuple[str, str]], cookie: str | None) -> str:
    """Check a callback request; returns the shop domain or raises OAuthCallbackRejected."""
    shop = args.get("shop", "")
    if not is_valid_shop_domain(shop):
        raise OAuthCallbackRejected("invalid_shop", "The shop parameter is not a name.myshopify.com domain.")
    received = args.get("hmac", "")
    config = current_app.config
    secrets_to_try = [s for s in (config["SHOPIFY_API_SECRET"], config["SHOPIFY_API_SECRET_PREVIOUS"]) if s]
    if not received or not any(
        hmac.compare_digest(received.lower().encode(), candidate.encode())
        for secret in secrets_to_try
        for candidate in query_hmac_candidates(pairs, secret)
    ):
        raise OAuthCallbackRejected(
            "invalid_hmac", "The callback's HMAC does not match; it did not come from Shopify."
        )
    try:
        timestamp = int(args.get("timestamp", ""))
    except ValueError:
        raise OAuthCallbackRejected("invalid_timestamp", "The callback has no valid timestamp.") from None
    if abs(time.time() - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
        raise OAuthCallbackRejected("stale_timestamp", "The callback is too old; start the install again.")
    if not cookie:
        raise OAuthCallbackRejected(
            "missing_state", "No OAuth state cookie: start the install from /auth again."
        )
    try:
        state = _serializer().loads(cookie, max_age=STATE_MAX_AGE_SECONDS)
    except BadSignature:
        raise OAuthCallbackRejected(
            "invalid_state", "The OAuth state cookie is invalid or expired; start again."
        ) from None
    nonce = str(state.get("nonce", "")) if isinstance(state, dict) else ""
    if not (nonce and hmac.compare_digest(nonce, args.get("state", "")) and state.get("shop") == shop):
        raise OAuthCallbackRejected(
            "state_mismatch", "The OAuth state does not match this browser's install; start again."
        )
    return shop


def exchange_code(shop: str, code: str) -> TokenPair:
    """POST the authorization code for an expiring offline token pair (`expiring=1`)."""
    config = current_app.config
    url, headers = admin_url(shop, "/admin/oauth/access_token")
    body = {
        "client_id": config["SHOPIFY_API_KEY"],
        "client_secret": config["SHOPIFY_API_SECRET"],
        "code": code,
        "expiring": 1,
    }
    with httpx.Client(timeout=DEFAULT_TIMEOUT) as client:
        response = client.post(url, json=body, headers={**headers, "Accept": "application/json"})
    if response.status_code != 200:
        try:
            error = str(response.json().get("error", "exchange_error"))
        except ValueError:
            error = "exchange_error"
        raise TokenExchangeFailed(f"Shopify refused the authorization code for {shop} ({error}).", code=error)
    data = response.json()
    register_secrets(data.get("access_token"), data.get("refresh_token"))
    now = utcnow()
    expires_in = data.get("expires_in")
    refresh_expires_in = data.get("refresh_token_expires_in")
    return TokenPair(
        access_token=data["access_token"],
        access_expires_at=now + timedelta(seconds=int(expires_in)) if expires_in is not None else None,
        refresh_token=data.get("refresh_token") or None,
        refresh_expires_at=now + timedelta(seconds=int(refresh_expires_in)) if refresh_expires_in else None,
        scopes=str(data.get("scope", "")),
    )
