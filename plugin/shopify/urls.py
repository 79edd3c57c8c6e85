"""Where calls for a shop go: https://{shop} in production, the emulator when SHOPIFY_ADMIN_ORIGIN is set.

The emulator identifies the shop by the Host header, exactly as Shopify does by host name, so an emulated call
is `{origin}{path}` plus `Host: {shop}`. SHOPIFY_ADMIN_ORIGIN is refused at startup in production (config.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from flask import current_app

from plugin.security.shop_domain import validate_shop_domain

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def admin_url(
    shop: str, path: str, *, config: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, str]]:
    """(url, extra_headers) for an Admin API / OAuth call to `shop` at `path` (which starts with '/')."""
    shop = validate_shop_domain(shop)
    if not path.startswith("/"):
        raise ValueError(f"admin_url path must start with '/': {path!r}")
    origin = (config if config is not None else current_app.config).get("SHOPIFY_ADMIN_ORIGIN") or ""
    if origin:
        return f"{origin}{path}", {"Host": shop}
    return f"https://{shop}{path}", {}


def browser_url(shop: str, path: str, *, config: Mapping[str, Any] | None = None) -> str:
    """A URL for the merchant's browser (OAuth authorize, admin app page). A browser cannot set Host, so the
    emulator gets the shop as a `shop` query parameter instead."""
    url, headers = admin_url(shop, path, config=config)
    if headers:
        url += ("&" if "?" in url else "?") + f"shop={shop}"
    return url


class _AdminOriginTransport(httpx.BaseTransport):
    """Sends requests addressed to https://{shop}/… to SHOPIFY_ADMIN_ORIGIN with `Host: {shop}`.

    Why: `shopify_app` builds its token endpoint as https://{shop}/admin/oauth/access_token with no way to
    change
    the origin; its (undocumented, "for testing") `http_client` argument is the one seam, so the emulator
    gets a
    client whose transport rewrites the destination. The library's own code and checks are untouched.
    """

    def __init__(self, origin: str) -> None:
        parts = urlsplit(origin)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        shop = validate_shop_domain(request.url.host)
        request.url = request.url.copy_with(scheme=self._scheme, host=self._host, port=self._port)
        request.headers["Host"] = shop
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def library_http_client(config: Mapping[str, Any] | None = None) -> httpx.Client:
    """The `http_client` handed to `shopify_app` exchange/refresh calls.

    Always ours, not the library's default: a 10 s timeout keeps its up-to-3 attempts inside the per-shop
    token lock's TTL (auth.LOCK_TTL_SECONDS); with SHOPIFY_ADMIN_ORIGIN the transport reroutes to the
    emulator.
    """
    origin = (config if config is not None else current_app.config).get("SHOPIFY_ADMIN_ORIGIN") or ""
    transport = _AdminOriginTransport(origin) if origin else None
    return httpx.Client(transport=transport, timeout=DEFAULT_TIMEOUT)
