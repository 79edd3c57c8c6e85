"""App Bridge ID tokens, token exchange, and expiring offline tokens with a per-shop refresh lock.

Verification and the HTTP calls to Shopify are `shopify_app`'s (Shopify's maintained library); this module
adds
what it leaves to the app: stricter claim checks, persistence (token_store), the refresh lock, and emulator
routing (plugin.shopify.urls).

Public entry points:
- `verify_session_request(document=...)` -> SessionToken, or raises InvalidSession carrying the response to
send.
- `ensure_installed(session_token)` -> shop id; performs the token exchange on first sight of a shop.
- `get_access_token(shop_domain)` -> a valid Admin API access token, refreshed when < 5 min are left.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import shopify_app
from flask import Response, after_this_request, current_app, g, jsonify, request
from redis.exceptions import LockError
from sqlalchemy import select

from plugin.errors import (
    RefreshLockTimeout,
    ShopifyAuthError,
    ShopNotInstalled,
    TokenExchangeFailed,
    TokenRefreshFailed,
)
from plugin.extensions import db, get_redis
from plugin.models.shop import Shop
from plugin.security.shop_domain import is_valid_shop_domain
from plugin.shopify.token_store import TokenPair, clear_tokens, load_token_pair, read_shop, store_token_pair
from plugin.shopify.urls import DEFAULT_TIMEOUT, library_http_client
from pose_studio.log_redaction import register_secrets

log = logging.getLogger(__name__)

PATCH_ID_TOKEN_PATH = "/auth/patch-id-token"  # noqa: S105 - a URL path, not a password
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"
# Refresh when less than this is left, so a token never expires in the middle of a multi-call job step.
REFRESH_MARGIN = timedelta(minutes=5)
# The slowest refresh or exchange: shopify_app tries the token endpoint 3 times (it retries 5xx twice, without a
# pause), and each try may spend every httpx timeout of urls.DEFAULT_TIMEOUT (pool wait, connect, write, read).
LIBRARY_TOKEN_ATTEMPTS = 3
TOKEN_CALL_WORST_SECONDS = LIBRARY_TOKEN_ATTEMPTS * sum(
    t or 0.0 for t in (DEFAULT_TIMEOUT.pool, DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.write, DEFAULT_TIMEOUT.read)
)
# The lock must outlive that (plus storing the pair), or a second process refreshes with the same refresh token
# meanwhile and Shopify's rotation retires the pair the first one is about to store.
LOCK_TTL_SECONDS = int(TOKEN_CALL_WORST_SECONDS) + 30
LOCK_WAIT_SECONDS = 45
# shopify_app's codes for a refusal that may pass (Shopify 5xx after its retries, no connection): the pair is kept.
TRANSIENT_REFUSALS = frozenset({"server_error", "network_error"})


class InvalidSession(ShopifyAuthError):
    """The request carries no valid ID token; `status`/`headers`/`body` is what to answer."""

    def __init__(self, code: str, status: int, headers: dict[str, str], body: str = "") -> None:
        super().__init__(f"session token rejected: {code}")
        self.code = code
        self.status = status
        self.headers = headers
        self.body = body


@dataclass(frozen=True)
class SessionToken:
    shop_domain: str
    user_id: str | None
    claims: dict[str, Any] = field(repr=False)
    details: shopify_app.IdTokenDetails = field(repr=False)
    # Headers Shopify's library asks documents to carry (Link preload of App Bridge).
    document_headers: dict[str, str] = field(default_factory=dict)


def get_shopify_app() -> shopify_app.ShopifyApp:
    ext = current_app.extensions
    if "pose_studio_shopify_app" not in ext:
        ext["pose_studio_shopify_app"] = shopify_app.ShopifyApp(
            client_id=current_app.config["SHOPIFY_API_KEY"],
            client_secret=current_app.config["SHOPIFY_API_SECRET"],
            old_client_secret=current_app.config["SHOPIFY_API_SECRET_PREVIOUS"] or None,
        )
    return ext["pose_studio_shopify_app"]


def _request_input() -> shopify_app.RequestInput:
    # The URL is rebuilt on SHOPIFY_APP_URL rather than the Host header: the library puts its scheme and host
    # into the patch-id-token redirect, and a Host header is attacker-controlled.
    path = request.full_path if request.query_string else request.path
    return {
        "method": request.method,
        "headers": dict(request.headers),
        "url": current_app.config["SHOPIFY_APP_URL"] + path,
        "body": "",
    }


def verify_session_request(*, document: bool) -> SessionToken:
    """Verify this request's App Bridge ID token (document: `?id_token=`; API: `Authorization: Bearer`)."""
    has_bearer = request.headers.get("Authorization", "").startswith("Bearer ")
    if not document and not has_bearer:
        raise InvalidSession("missing_authorization_header", 401, {RETRY_HEADER: "1"}, "Unauthorized")
    req = _request_input()
    if not document:
        # An API request is judged by its bearer token only, never by an id_token in the query.
        req["url"] = current_app.config["SHOPIFY_APP_URL"] + request.path
    result = get_shopify_app().verify_app_home_req(req, app_home_patch_id_token_path=PATCH_ID_TOKEN_PATH)
    if not result.ok or result.id_token is None:
        raise InvalidSession(result.log.code, result.response.status, dict(result.response.headers),
                             result.response.body)
    claims = result.id_token.claims
    problem = _claims_problem(claims)
    if problem is not None:
        rejection = result.invalid_token_response
        if rejection is None:  # pragma: no cover - the library always builds one for a verified token
            raise InvalidSession(problem, 401, {RETRY_HEADER: "1"}, "Unauthorized")
        raise InvalidSession(problem, rejection.status, dict(rejection.headers), rejection.body)
    register_secrets(result.id_token.token)
    shop_domain = urlsplit(claims["dest"]).hostname or ""
    document_headers = {k: v for k, v in result.response.headers.items() if k.lower() == "link"}
    return SessionToken(
        shop_domain=shop_domain,
        user_id=str(claims["sub"]) if claims.get("sub") is not None else None,
        claims=claims,
        details=result.id_token,
        document_headers=document_headers,
    )


def _claims_problem(claims: dict[str, Any]) -> str | None:
    """Checks the library leaves out (PyJWT only checks exp when present; the library does not compare iss
    with dest). Shopify's own legacy library and ASVS 9.2.1 ask for both."""
    for claim in ("exp", "iss", "dest", "aud"):
        if claim not in claims:
            return f"missing_claim_{claim}"
    dest, iss = urlsplit(str(claims["dest"])), urlsplit(str(claims["iss"]))
    if dest.scheme != "https" or not is_valid_shop_domain(dest.netloc) or dest.path not in ("", "/"):
        return "invalid_dest"
    if iss.scheme != "https" or iss.netloc != dest.netloc or iss.path.rstrip("/") != "/admin":
        return "iss_dest_mismatch"
    return None


def _pair_usable(shop: Shop | None) -> bool:
    """An installed shop whose stored access token is there and not about to expire. A pair that Shopify rejected
    (Admin API 401) or refused to refresh has been cleared, so it is not there."""
    if shop is None or not shop.is_installed or not shop.has_tokens:
        return False
    expires = shop.access_token_expires_at
    if expires is None:
        return True
    expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    return expires - datetime.now(UTC) >= REFRESH_MARGIN


def ensure_installed(session_token: SessionToken) -> int:
    """Shop id for a verified session; exchanges the ID token for an expiring offline token pair when the shop
    is unknown or uninstalled, or its stored pair is missing (cleared after Shopify rejected it) or about to expire.
    That is what Shopify's own libraries do: any request carrying a valid ID token recovers a shop whose pair is
    dead, without waiting for a refresh that may never succeed. Raises TokenExchangeFailed when Shopify refuses."""
    domain = session_token.shop_domain
    shop = read_shop(domain)
    if _pair_usable(shop):
        assert shop is not None
        return shop.id
    with shop_lock(domain):
        shop = read_shop(domain)  # another request may have finished the exchange while we waited
        if _pair_usable(shop):
            assert shop is not None
            return shop.id
        with library_http_client() as client:
            result = get_shopify_app().exchange_using_token_exchange(
                "offline", id_token=session_token.details, expiring=True, http_client=client
            )
        if not result.ok or result.access_token is None:
            log.warning("token exchange for %s refused: %s", domain, result.log.code)
            raise TokenExchangeFailed(
                f"Shopify refused the token exchange for {domain} ({result.log.code}).", code=result.log.code
            )
        pair = _pair_from_library(result.access_token)
        shop_id = store_token_pair(domain, pair, confirms_install=True)
        log.info("token exchange for %s: stored an expiring offline token", domain)
        return shop_id


def get_access_token(shop_domain: str) -> str:
    """A valid offline access token for `shop_domain`, refreshing it first when under REFRESH_MARGIN is left.

    When several processes need a refresh at once, exactly one refreshes (per-shop lock); the others wait for
    the lock, re-read, and use the stored new pair. Raises ShopNotInstalled or TokenRefreshFailed.
    """
    pair = _stored_pair(shop_domain)
    if not pair.expires_within(REFRESH_MARGIN):
        return pair.access_token
    with shop_lock(shop_domain):
        pair = _stored_pair(shop_domain)
        if not pair.expires_within(REFRESH_MARGIN):
            return pair.access_token
        new_pair = _refresh(shop_domain, pair)
        store_token_pair(shop_domain, new_pair)
        log.info("refreshed the offline token of %s", shop_domain)
        return new_pair.access_token


def _stored_pair(shop_domain: str) -> TokenPair:
    shop = read_shop(shop_domain)
    if shop is None or not shop.is_installed:
        raise ShopNotInstalled(f"{shop_domain} has not installed the app (or uninstalled it).")
    pair = load_token_pair(shop)
    if pair is None:
        raise ShopNotInstalled(f"{shop_domain} holds no access token; the merchant must open the app again.")
    return pair


def _refresh(shop_domain: str, pair: TokenPair) -> TokenPair:
    if not pair.refresh_token:
        raise TokenRefreshFailed(
            f"{shop_domain} has an expiring token but no refresh token.", code="no_refresh"
        )
    shop_name = shop_domain.removesuffix(".myshopify.com")
    token = shopify_app.TokenExchangeAccessToken(
        shop=shop_name,
        token=pair.access_token,
        # Left empty on purpose: the library skips the call while more than 60 s are left, and we refresh
        # earlier (REFRESH_MARGIN) so that a job never starts with a token about to expire.
        expires=None,
        scope=pair.scopes,
        access_mode="offline",
        refresh_token=pair.refresh_token,
        refresh_token_expires=_iso(pair.refresh_expires_at),
        user=None,
    )
    with library_http_client() as client:
        result = get_shopify_app().refresh_token_exchanged_access_token(token, http_client=client)
    if not result.ok or result.access_token is None:
        code = result.log.code
        log.warning("token refresh for %s refused: %s", shop_domain, code)
        if not _transient_refusal(result):
            # Any refusal that is not Shopify being briefly unavailable (invalid_grant, an expired refresh token,
            # 401 invalid_request after a failed rotation, invalid_client) leaves a pair that will never work
            # again: forgetting it makes the next request with an ID token do a fresh token exchange.
            shop = read_shop(shop_domain)
            if shop is not None:
                clear_tokens(shop.id, uninstalled=False)
        raise TokenRefreshFailed(
            f"Shopify refused to refresh the token of {shop_domain} ({code}); the merchant must open the "
            "app.",
            code=code,
        )
    return _pair_from_library(result.access_token)


def _transient_refusal(result: Any) -> bool:
    if result.log.code in TRANSIENT_REFUSALS:
        return True
    # a 429 comes back as a generic refresh_error; its HTTP status is in the library's log of the call
    statuses = [log_.res.status for log_ in (result.http_logs or []) if getattr(log_, "res", None) is not None]
    return bool(statuses) and statuses[-1] == 429


def forget_rejected_token(shop_domain: str, rejected: str | None) -> None:
    """The Admin API answered 401 to `rejected`: forget the stored pair if it is still that token (a concurrent
    refresh may have stored a new one meanwhile), so the next request with an ID token exchanges again."""
    if not rejected:
        return
    with shop_lock(shop_domain):
        shop = read_shop(shop_domain)
        pair = load_token_pair(shop) if shop is not None else None
        if shop is not None and pair is not None and pair.access_token == rejected:
            clear_tokens(shop.id, uninstalled=False)
            log.warning("the Admin API rejected the access token of %s: pair forgotten", shop_domain)


class ShopTokens:
    """Token provider and 401 hook of an AdminClient for one shop (`AdminClient(..., token_provider=tokens,
    on_unauthorized=tokens.rejected)`): remembers which token it handed out, so a 401 forgets exactly that one."""

    def __init__(self, shop_domain: str) -> None:
        self.shop_domain = shop_domain
        self.last: str | None = None

    def __call__(self) -> str:
        self.last = get_access_token(self.shop_domain)
        return self.last

    def rejected(self) -> None:
        forget_rejected_token(self.shop_domain, self.last)


def _pair_from_library(token: shopify_app.TokenExchangeAccessToken) -> TokenPair:
    register_secrets(token.token, token.refresh_token)
    return TokenPair(
        access_token=token.token,
        access_expires_at=_parse_iso(token.expires),
        refresh_token=token.refresh_token or None,
        refresh_expires_at=_parse_iso(token.refresh_token_expires),
        scopes=token.scope or "",
    )


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


_local_locks: dict[str, threading.Lock] = {}
_local_locks_guard = threading.Lock()


@contextmanager
def shop_lock(shop_domain: str) -> Iterator[None]:
    """Exclusive per-shop section for token exchange and refresh: Redis lock across processes, or a
    process-local lock when REDIS_URL is unset (single-process laptop mode)."""
    client = get_redis()
    if client is None:
        with _local_locks_guard:
            lock = _local_locks.setdefault(shop_domain, threading.Lock())
        if not lock.acquire(timeout=LOCK_WAIT_SECONDS):
            raise RefreshLockTimeout(f"token lock for {shop_domain} not acquired in {LOCK_WAIT_SECONDS} s")
        try:
            yield
        finally:
            lock.release()
        return
    redis_lock = client.lock(f"pose_studio:shop_token_lock:{shop_domain}", timeout=LOCK_TTL_SECONDS,
                             blocking_timeout=LOCK_WAIT_SECONDS, thread_local=False)
    if not redis_lock.acquire(blocking=True):
        raise RefreshLockTimeout(
            f"token lock for {shop_domain} not acquired in {LOCK_WAIT_SECONDS} s; another process is stuck "
            "refreshing it. Retry later."
        )
    try:
        yield
    finally:
        try:
            redis_lock.release()
        except LockError:
            log.warning("token lock for %s expired before release (refresh took > %s s)", shop_domain,
                        LOCK_TTL_SECONDS)


# --- decorators for blueprints
# -------------------------------------------------------------------------------

ViewT = TypeVar("ViewT", bound=Callable[..., Any])


def require_session(view: ViewT) -> ViewT:
    """API views (`fetch` with `Authorization: Bearer <ID token>`): sets `g.shop` (the Shop row),
    `g.shop_domain` and `g.shopify_user_id`. Invalid or stale token -> 401 with
    `X-Shopify-Retry-Invalid-Session-Request: 1` (App Bridge retries once with a fresh token); a shop Shopify
    refuses to exchange a token for -> 401."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            session_token = verify_session_request(document=False)
        except InvalidSession as exc:
            return _json_error(exc.code, exc.status, exc.headers)
        rejection = _bind_shop(session_token)
        if rejection is not None:
            return rejection
        return view(*args, **kwargs)

    return cast(ViewT, wrapper)


def require_page_session(view: ViewT) -> ViewT:
    """Document views (the admin iframe, `?id_token=`): like `require_session`, but a missing or stale token
    answers with Shopify's patch-id-token bounce (302 to /auth/patch-id-token, where App Bridge fetches a
    fresh
    token and reloads the page)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            session_token = verify_session_request(document=True)
        except InvalidSession as exc:
            return Response(exc.body, status=exc.status, headers=exc.headers)
        rejection = _bind_shop(session_token)
        if rejection is not None:
            return rejection
        headers = session_token.document_headers

        @after_this_request
        def add_document_headers(response: Response) -> Response:
            for name, value in headers.items():
                response.headers.setdefault(name, value)
            return response

        return view(*args, **kwargs)

    return cast(ViewT, wrapper)


def _bind_shop(session_token: SessionToken) -> Response | None:
    try:
        shop_id = ensure_installed(session_token)
    except TokenExchangeFailed as exc:
        # invalid_subject_token: the ID token went stale between verification and exchange; App Bridge
        # retries.
        headers = {RETRY_HEADER: "1"} if exc.code == "invalid_subject_token" else {}
        return _json_error("shop_not_installed" if exc.code != "invalid_subject_token" else exc.code, 401,
                           headers)
    except RefreshLockTimeout:
        return _json_error("busy", 503, {"Retry-After": "5"})
    shop = db.session.execute(
        select(Shop).where(Shop.id == shop_id).execution_options(populate_existing=True)
    ).scalar_one()
    g.shop = shop
    g.shop_domain = shop.domain
    g.shopify_user_id = session_token.user_id
    return None


def _json_error(code: str, status: int, headers: dict[str, str]) -> Response:
    """The JSON API's error shape, `{"error": {"code", "message"}}`, for a request the decorators refuse (the
    status and headers, e.g. 401 + X-Shopify-Retry-Invalid-Session-Request, are kept as given)."""
    if code == "shop_not_installed":
        message = "Shopify did not confirm this shop's installation; open Pose Studio from the Shopify admin again"
    elif code == "busy":
        message = "the shop's access token is being refreshed by another request; retry in a few seconds"
    elif status == 401:
        message = "the session token is missing, expired or invalid; reload the app from the Shopify admin"
    else:
        message = "the request was refused; reload the app from the Shopify admin"
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers)
    return response
