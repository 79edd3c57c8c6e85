"""OAuth authorization-code install (`/auth` -> Shopify authorize -> `/auth/callback`) against the emulator."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import select

from plugin.extensions import db
from plugin.models import Shop
from tests.conftest import TEST_API_SECRET, TEST_APP_URL

SHOP = "oauth-shop.myshopify.com"


@pytest.fixture
def app_config(app_config: dict[str, Any], emulator: Any) -> dict[str, Any]:
    emulator.add_shop(SHOP, seed_products=False)
    return {**app_config, "SHOPIFY_ADMIN_ORIGIN": emulator.origin}


def sign_query(params: dict[str, str], secret: str = TEST_API_SECRET) -> dict[str, str]:
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    return {**params, "hmac": hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()}


def start_install(client: Any, shop: str = SHOP) -> tuple[str, dict[str, str]]:
    """GET /auth; returns (authorize URL, its query) with the state cookie now in the client."""
    response = client.get("/auth", query_string={"shop": shop}, base_url=TEST_APP_URL)
    assert response.status_code == 302
    location = response.headers["Location"]
    return location, dict(parse_qsl(urlsplit(location).query))


def callback(client: Any, params: dict[str, str]) -> Any:
    return client.get(f"/auth/callback?{urlencode(params)}", base_url=TEST_APP_URL)


def test_full_install_exchanges_the_code_for_an_expiring_pair(app: Any, client: Any, emulator: Any) -> None:
    authorize_url, query = start_install(client)
    assert authorize_url.startswith(f"{emulator.origin}/admin/oauth/authorize?")
    assert query["scope"] == "read_products,write_products,read_files,write_files"
    assert query["redirect_uri"] == f"{TEST_APP_URL}/auth/callback"
    shopify_redirect = httpx.get(authorize_url, follow_redirects=False)
    assert shopify_redirect.status_code == 302
    back = urlsplit(shopify_redirect.headers["Location"])
    response = client.get(f"{back.path}?{back.query}", base_url=TEST_APP_URL)
    assert response.status_code == 302, response.data
    assert emulator.stats.authorization_code == 1
    with app.app_context():
        shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
        assert shop.is_installed and shop.refresh_token_encrypted and shop.access_token_expires_at


def _valid_params(state: str) -> dict[str, str]:
    return {"code": "abc", "shop": SHOP, "state": state, "timestamp": str(int(time.time())), "host": "YWRtaW4"}


@pytest.mark.parametrize(
    ("case", "mutate", "status"),
    [
        ("bad hmac", lambda p: {**p, "hmac": "0" * 64}, 403),
        ("missing hmac", lambda p: {k: v for k, v in p.items() if k != "hmac"}, 403),
        ("param changed after signing", lambda p: {**p, "code": "other"}, 403),
        ("stale timestamp", lambda p: sign_query({**_strip(p), "timestamp": str(int(time.time()) - 3600)}), 400),
        ("wrong state", lambda p: sign_query({**_strip(p), "state": "0" * 32}), 403),
        ("shop=evil.com", lambda p: sign_query({**_strip(p), "shop": "evil.com"}), 400),
        ("shop=x.myshopify.com.evil.com",
         lambda p: sign_query({**_strip(p), "shop": "x.myshopify.com.evil.com"}), 400),
        ("other shop than the one that started", lambda p: sign_query({**_strip(p), "shop": "b.myshopify.com"}),
         403),
    ],
)
def test_callback_rejections(app: Any, client: Any, emulator: Any, case: str, mutate: Any, status: int) -> None:
    _, query = start_install(client)
    params = mutate(sign_query(_valid_params(query["state"])))
    response = callback(client, params)
    assert response.status_code == status, (case, response.data)
    assert emulator.stats.authorization_code == 0
    with app.app_context():
        assert db.session.execute(select(Shop)).first() is None


def test_callback_without_the_state_cookie_is_rejected(app: Any, client: Any, emulator: Any) -> None:
    _, query = start_install(client)
    other_browser = app.test_client()
    response = callback(other_browser, sign_query(_valid_params(query["state"])))
    assert response.status_code == 400
    assert emulator.stats.authorization_code == 0


def _strip(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k != "hmac"}


@pytest.mark.parametrize(
    "shop",
    ["evil.com", "x.myshopify.com.evil.com", "X.MYSHOPIFY.COM", "x.myshopify.com:443", "x.myshopify.com/admin",
     "https://x.myshopify.com", "", "-x.myshopify.com", "x.myshopify.com."],
)
def test_begin_refuses_bad_shop(client: Any, shop: str) -> None:
    assert client.get("/auth", query_string={"shop": shop}).status_code == 400
