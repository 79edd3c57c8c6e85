"""Root fixtures shared by every test package: a real PostgreSQL database and Redis, a configured app, and
factories for the things Shopify sends (ID tokens, signed webhooks) and for installed shops.

- `database_url` (session): a fresh PostgreSQL database `pose_studio_test_<hex>` created from
TEST_DATABASE_URL
  (default postgresql+psycopg://postgres@127.0.0.1:5432/test) and dropped at the end; migrated to head with
  Alembic once. A sqlite URL in TEST_DATABASE_URL gives a temporary SQLite file instead.
- `redis_url` (function): TEST_REDIS_URL (default redis://127.0.0.1:6379/0) pointed at a Redis database number
  this session claimed (1-15), flushed before the test.
- `app_config` (function): the dict given to `create_app`; override the fixture to change settings.
- `app`, `client`, `runner`: flaskr's trio. Every table except alembic_version is emptied before each test
  that uses `app` (TRUNCATE ... CASCADE: worker processes need committed rows, so no savepoint trick).
- `make_shop(domain=None, **options) -> Shop`: an installed shop with an encrypted expiring token pair.
- `id_token(shop, **options) -> str`: an App Bridge ID token for the shop, signed like Shopify does.
- `signed_webhook(topic, shop, payload, **options) -> (body bytes, headers)`: a webhook signed like Shopify
does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy import text

from bench.stack import create_scratch_database, drop_scratch_database

TEST_API_KEY = "test-api-key-0123456789abcdef"
TEST_API_SECRET = "test-api-secret-0123456789abcdef0123456789"
TEST_APP_URL = "https://pose-studio.test"
TEST_SHOP = "pose-studio-test.myshopify.com"
# The app's Shopify CLI configuration: the emulators read the webhook API version and subscribed topics from it.
APP_CONFIG = Path(__file__).resolve().parents[1] / "shopify.app.toml"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
_REDIS_CLAIM_KEY = "pose_studio:test_session_claim"


# --- database
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this test session, migrated to head; dropped at the end."""
    from plugin.schema import upgrade

    base_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    url = create_scratch_database(base_url)
    try:
        upgrade(url)
        yield url
    finally:
        drop_scratch_database(url, base_url)


def _tables(engine: Any) -> list[str]:
    from sqlalchemy import inspect

    return [t for t in inspect(engine).get_table_names() if t != "alembic_version"]


def empty_all_tables(engine: Any) -> None:
    tables = _tables(engine)
    if not tables:
        return
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{t}"' for t in tables)
            connection.execute(text(f"TRUNCATE TABLE {quoted} RESTART IDENTITY CASCADE"))
        else:
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))


# --- redis
# ---------------------------------------------------------------------------------------------------


def claim_redis_database(base_url: str) -> tuple[str, str]:
    """Claim a Redis database number (1-15) that no live test session holds; returns (url, claim token)."""
    base = urlsplit(base_url)
    token = uuid.uuid4().hex
    numbers = list(range(1, 16))
    random.shuffle(numbers)
    for number in numbers:
        url = urlunsplit(base._replace(path=f"/{number}"))
        client = redis.Redis.from_url(url)
        if client.set(_REDIS_CLAIM_KEY, token, nx=True, ex=3600):
            client.close()
            return url, token
        client.close()
    # all 15 claimed by live sessions (or stale claims within their 1 h TTL): share one
    return urlunsplit(base._replace(path=f"/{numbers[-1]}")), token


def release_redis_database(url: str, token: str) -> None:
    client = redis.Redis.from_url(url)
    if client.get(_REDIS_CLAIM_KEY) == token.encode():
        client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def _redis_session_url() -> Iterator[str]:
    """TEST_REDIS_URL with a database number (1-15) claimed for this session (parallel runs don't collide)."""
    url, token = claim_redis_database(os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL))
    yield url
    release_redis_database(url, token)


@pytest.fixture
def redis_url(_redis_session_url: str) -> str:
    """This session's Redis database, flushed before the test (the session claim is kept)."""
    client = redis.Redis.from_url(_redis_session_url)
    claim = client.get(_REDIS_CLAIM_KEY)
    client.flushdb()
    if claim is not None:
        client.set(_REDIS_CLAIM_KEY, claim, ex=3600)
    client.close()
    return _redis_session_url


# --- app
# -----------------------------------------------------------------------------------------------------


@pytest.fixture
def app_config(database_url: str, _redis_session_url: str) -> dict[str, Any]:
    """Every setting given explicitly, so nothing leaks in from the developer's environment."""
    return {
        "POSE_STUDIO_ENV": "test",
        "SHOPIFY_API_KEY": TEST_API_KEY,
        "SHOPIFY_API_SECRET": TEST_API_SECRET,
        "SHOPIFY_API_SECRET_PREVIOUS": "",
        "SHOPIFY_APP_URL": TEST_APP_URL,
        "SHOPIFY_SCOPES": "read_products,write_products,read_files,write_files",
        "SHOPIFY_API_VERSION": "2026-10",
        "DATABASE_URL": database_url,
        "REDIS_URL": _redis_session_url,
        "POSE_STUDIO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SHOPIFY_ADMIN_ORIGIN": "",
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Any]:
    from plugin import create_app
    from plugin.extensions import db

    flask_app = create_app(app_config)
    with flask_app.app_context():
        empty_all_tables(db.engine)
    yield flask_app
    with flask_app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


# --- factories
# -----------------------------------------------------------------------------------------------


@pytest.fixture
def make_shop(app: Any) -> Callable[..., Any]:
    """make_shop(domain=None, *, access_token=None, refresh_token=None, access_expires_in=3600,
    refresh_expires_in=90 days, scopes=..., installed=True) -> Shop (detached).

    The returned Shop also carries the plaintext `access_token` / `refresh_token` it was given (plain Python
    attributes, not columns) so tests can compare them with what Shopify calls receive.
    """
    from plugin.extensions import db
    from plugin.models.shop import Shop
    from plugin.shopify.token_store import TokenPair, clear_tokens, store_token_pair

    counter = iter(range(1, 10_000))

    def make(
        domain: str | None = None,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        access_expires_in: float | None = 3600,
        refresh_expires_in: float | None = 90 * 24 * 3600,
        scopes: str = "read_products,write_products,read_files,write_files",
        installed: bool = True,
    ) -> Shop:
        domain = domain or f"shop-{next(counter)}.myshopify.com"
        access_token = access_token or f"shpat_{uuid.uuid4().hex}"
        refresh_token = refresh_token or f"shprt_{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        pair = TokenPair(
            access_token=access_token,
            access_expires_at=(
                now + timedelta(seconds=access_expires_in) if access_expires_in is not None else None
            ),
            refresh_token=refresh_token,
            refresh_expires_at=(
                now + timedelta(seconds=refresh_expires_in) if refresh_expires_in is not None else None
            ),
            scopes=scopes,
        )
        with app.app_context():
            shop_id = store_token_pair(domain, pair)
            if not installed:
                clear_tokens(shop_id, uninstalled=True)
            shop = db.session.get(Shop, shop_id)
            db.session.expunge(shop)
        shop.access_token = access_token if installed else None
        shop.refresh_token = refresh_token if installed else None
        return shop

    return make


def sign_id_token(claims: dict[str, Any], secret: str, algorithm: str = "HS256") -> str:
    if algorithm == "none":
        return jwt.encode(claims, None, algorithm="none")
    return jwt.encode(claims, secret, algorithm=algorithm)


@pytest.fixture
def id_token(app_config: dict[str, Any]) -> Callable[..., str]:
    """id_token(shop=TEST_SHOP, *, secret=None, expires_in=60, nbf_offset=0, algorithm="HS256", **claims).

    Claims as App Bridge sends them (iss https://{shop}/admin, dest https://{shop}, aud = API key, sub, exp,
    nbf,
    iat, jti, sid); keyword claims override them, and a claim given as None is left out.
    """

    def make(
        shop: str = TEST_SHOP,
        *,
        secret: str | None = None,
        expires_in: float = 60,
        nbf_offset: float = 0,
        algorithm: str = "HS256",
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": f"https://{shop}/admin",
            "dest": f"https://{shop}",
            "aud": app_config["SHOPIFY_API_KEY"],
            "sub": "42",
            "exp": int(now + expires_in),
            "nbf": int(now + nbf_offset),
            "iat": now,
            "jti": uuid.uuid4().hex,
            "sid": uuid.uuid4().hex,
        }
        for key, value in claims.items():
            if value is None:
                payload.pop(key, None)
            else:
                payload[key] = value
        return sign_id_token(payload, secret or app_config["SHOPIFY_API_SECRET"], algorithm)

    return make


def webhook_hmac(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
def signed_webhook(app_config: dict[str, Any]) -> Callable[..., tuple[bytes, dict[str, str]]]:
    """signed_webhook(topic, shop=TEST_SHOP, payload=None, *, secret=None, event_id=None,
    header_style="x-shopify", api_version="2026-10", triggered_at=None) -> (body, headers).

    header_style "x-shopify" gives the classic X-Shopify-* set, "shopify" the newer lowercase shopify-* set.
    """

    def make(
        topic: str,
        shop: str = TEST_SHOP,
        payload: Any = None,
        *,
        secret: str | None = None,
        event_id: str | None = None,
        header_style: str = "x-shopify",
        api_version: str = "2026-10",
        triggered_at: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload if payload is not None else {"id": 1}).encode()
        values = {
            "Hmac-Sha256": webhook_hmac(body, secret or app_config["SHOPIFY_API_SECRET"]),
            "Topic": topic,
            "Shop-Domain": shop,
            "API-Version": api_version,
            "Webhook-Id": uuid.uuid4().hex,
            "Event-Id": event_id or uuid.uuid4().hex,
            "Triggered-At": triggered_at or datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        if header_style == "shopify":
            headers = {f"shopify-{k.lower()}": v for k, v in values.items()}
        else:
            headers = {f"X-Shopify-{k}": v for k, v in values.items()}
        headers["Content-Type"] = "application/json"
        return body, headers

    return make
