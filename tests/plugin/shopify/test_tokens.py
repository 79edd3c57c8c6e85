"""Token exchange on first sight, expiring offline tokens, refresh under a per-shop lock (against the emulator)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from plugin.errors import ShopNotInstalled, TokenRefreshFailed
from plugin.extensions import db, utcnow
from plugin.models import Shop
from plugin.shopify.auth import get_access_token
from tests.conftest import TEST_API_SECRET
from tests.plugin.conftest import add_probe_routes

SHOP = "token-shop.myshopify.com"


@pytest.fixture
def app_config(app_config: dict[str, Any], emulator: Any) -> dict[str, Any]:
    emulator.add_shop(SHOP, seed_products=False)
    return {**app_config, "SHOPIFY_ADMIN_ORIGIN": emulator.origin}


@pytest.fixture
def installed(app: Any, redis_url: str, emulator: Any, id_token: Any) -> Any:
    """The shop installed the way an embedded app is: first API call with an ID token -> token exchange."""
    add_probe_routes(app)
    response = app.test_client().get("/api/_probe", headers={"Authorization": f"Bearer {id_token(SHOP)}"})
    assert response.status_code == 200, response.data
    return app


def expire_soon(app: Any, seconds: int = 60) -> None:
    with app.app_context():
        db.session.execute(update(Shop).where(Shop.domain == SHOP)
                           .values(access_token_expires_at=utcnow() + timedelta(seconds=seconds)))
        db.session.commit()


def test_first_api_call_exchanges_the_id_token_once(installed: Any, emulator: Any, id_token: Any) -> None:
    assert emulator.stats.token_exchange == 1
    again = installed.test_client().get("/api/_probe", headers={"Authorization": f"Bearer {id_token(SHOP)}"})
    assert again.status_code == 200
    assert emulator.stats.token_exchange == 1
    with installed.app_context():
        shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
        # expiring offline token: ~1 h access, ~90 day refresh
        assert timedelta(minutes=55) < shop.access_token_expires_at - utcnow() <= timedelta(hours=1)
        assert shop.refresh_token_expires_at - utcnow() > timedelta(days=80)
        token = get_access_token(SHOP)
    assert token in emulator.tokens  # the emulator accepts it for Admin API calls


def test_reinstall_after_uninstall_exchanges_again(installed: Any, emulator: Any, id_token: Any,
                                                   signed_webhook: Any) -> None:
    client = installed.test_client()
    body, headers = signed_webhook("app/uninstalled", SHOP, {"id": 1, "myshopify_domain": SHOP})
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    with installed.app_context(), pytest.raises(ShopNotInstalled):
        get_access_token(SHOP)
    response = client.get("/api/_probe", headers={"Authorization": f"Bearer {id_token(SHOP)}"})
    assert response.status_code == 200
    assert emulator.stats.token_exchange == 2


def test_fresh_token_is_not_refreshed(installed: Any, emulator: Any) -> None:
    with installed.app_context():
        first = get_access_token(SHOP)
        assert get_access_token(SHOP) == first
    assert emulator.stats.refresh == 0


def test_token_near_expiry_is_refreshed_and_the_new_pair_stored(installed: Any, emulator: Any) -> None:
    with installed.app_context():
        old = get_access_token(SHOP)
        old_refresh = db.session.execute(select(Shop.refresh_token_encrypted)).scalar_one()
    expire_soon(installed, seconds=120)  # < 5 min left
    with installed.app_context():
        new = get_access_token(SHOP)
        assert new != old and new in emulator.tokens
        assert get_access_token(SHOP) == new  # stored: no second refresh
        shop = db.session.execute(select(Shop)).scalar_one()
        assert shop.refresh_token_encrypted != old_refresh
        assert shop.access_token_expires_at - utcnow() > timedelta(minutes=55)
    assert emulator.stats.refresh == 1


def test_concurrent_refreshes_make_exactly_one_call(installed: Any, emulator: Any) -> None:
    expire_soon(installed)
    workers = 4
    barrier = threading.Barrier(workers)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        with installed.app_context():
            barrier.wait()
            try:
                results.append(get_access_token(SHOP))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert emulator.stats.refresh == 1
    assert len(set(results)) == 1 and len(results) == workers


def test_refused_refresh_forgets_the_dead_pair(app: Any, redis_url: str, make_shop: Any, emulator: Any) -> None:
    make_shop(SHOP, access_expires_in=30)  # tokens the emulator never issued: invalid_grant
    with app.app_context():
        with pytest.raises(TokenRefreshFailed) as excinfo:
            get_access_token(SHOP)
        assert excinfo.value.code == "invalid_grant"
        with pytest.raises(ShopNotInstalled):
            get_access_token(SHOP)


def test_no_token_or_secret_in_logs(installed: Any, emulator: Any, id_token: Any, signed_webhook: Any,
                                    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    client = installed.test_client()
    session_token = id_token(SHOP)
    # exchange (for a second shop), refresh, webhook handling, a failed webhook
    emulator.add_shop("second.myshopify.com", seed_products=False)
    second_token = id_token("second.myshopify.com")
    assert client.get("/api/_probe", headers={"Authorization": f"Bearer {second_token}"}).status_code == 200
    expire_soon(installed)
    with installed.app_context():
        refreshed = get_access_token(SHOP)
        stored = db.session.execute(text("SELECT access_token_encrypted, refresh_token_encrypted FROM shops")).all()
        logging.getLogger("test").info("calling with %s and Authorization: Bearer %s", refreshed, session_token)
    body, headers = signed_webhook("products/update", SHOP)
    client.post("/webhooks", data=body, headers=headers)
    headers["X-Shopify-Hmac-Sha256"] = "bogus"
    client.post("/webhooks", data=body, headers=headers)

    secrets_seen = [refreshed, session_token, second_token, TEST_API_SECRET, headers["X-Shopify-Event-Id"][:0]]
    secrets_seen += list(emulator.tokens) + list(emulator.refresh_tokens)
    secrets_seen += [c for row in stored for c in row if c]
    secrets_seen = [s for s in secrets_seen if s]
    output = caplog.text + "".join(r.getMessage() for r in caplog.records) + "".join(capfd.readouterr())
    assert "calling with [REDACTED]" in output  # the records were produced and scrubbed
    leaked = [s[:12] for s in secrets_seen if s in output]
    assert leaked == []


def _probe(app: Any, id_token: Any, path: str = "/api/_probe") -> Any:
    return app.test_client().get(path, headers={"Authorization": f"Bearer {id_token(SHOP)}"})


def _has_tokens(app: Any) -> bool:
    with app.app_context():
        return db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one().has_tokens


def test_a_request_with_an_id_token_exchanges_when_the_stored_pair_expired(installed: Any, emulator: Any,
                                                                           id_token: Any) -> None:  # fmt: skip
    with installed.app_context():
        db.session.execute(update(Shop).where(Shop.domain == SHOP).values(
            access_token_expires_at=utcnow() - timedelta(hours=2), refresh_token_expires_at=utcnow() - timedelta(1)))
        db.session.commit()
    assert _probe(installed, id_token).status_code == 200
    assert emulator.stats.token_exchange == 2
    with installed.app_context():
        assert get_access_token(SHOP) in emulator.tokens
    assert emulator.stats.refresh == 0


@pytest.mark.parametrize(("status", "error"), [(401, "invalid_request"), (400, "invalid_client")])
def test_a_refresh_refused_for_good_forgets_the_pair_and_the_next_request_recovers(
    installed: Any, emulator: Any, id_token: Any, status: int, error: str
) -> None:
    emulator.refuse_refresh(SHOP, status, error)  # e.g. after a rotation went wrong
    expire_soon(installed)
    with installed.app_context():
        with pytest.raises(TokenRefreshFailed):
            get_access_token(SHOP)
        with pytest.raises(ShopNotInstalled):  # the dead pair is not tried again
            get_access_token(SHOP)
    assert _probe(installed, id_token).status_code == 200  # the merchant opens the app: a new exchange
    assert emulator.stats.token_exchange == 2
    with installed.app_context():
        assert get_access_token(SHOP) in emulator.tokens


def test_a_refresh_refused_while_shopify_is_down_keeps_the_pair(installed: Any, emulator: Any) -> None:
    emulator.refuse_refresh(SHOP, 503, "unavailable")
    expire_soon(installed)
    with installed.app_context(), pytest.raises(TokenRefreshFailed) as excinfo:
        get_access_token(SHOP)
    assert excinfo.value.code == "server_error"
    assert _has_tokens(installed)
    emulator.refuse_refresh(SHOP, 0)
    with installed.app_context():
        assert get_access_token(SHOP) in emulator.tokens


def test_an_admin_api_401_forgets_the_pair_and_the_next_request_recovers(installed: Any, emulator: Any,
                                                                         id_token: Any) -> None:  # fmt: skip
    emulator.revoke_tokens(SHOP)  # Shopify stops accepting the stored token (e.g. revoked by support)
    refused = _probe(installed, id_token, "/api/products")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "shopify_token_rejected"
    assert refused.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert not _has_tokens(installed)
    # App Bridge retries with a fresh ID token: exchanged again, and the call goes through
    again = _probe(installed, id_token, "/api/products")
    assert again.status_code == 200, again.get_json()
    assert emulator.stats.token_exchange == 2


def test_the_token_lock_outlives_the_slowest_refresh(installed: Any, redis_url: str) -> None:
    import redis

    from plugin.shopify.auth import TOKEN_CALL_WORST_SECONDS, shop_lock

    with installed.app_context(), shop_lock(SHOP):
        ttl_ms = redis.Redis.from_url(redis_url).pttl(f"pose_studio:shop_token_lock:{SHOP}")
    assert TOKEN_CALL_WORST_SECONDS >= 3 * 10  # three tries of at least the 10 s read timeout
    assert ttl_ms / 1000 > TOKEN_CALL_WORST_SECONDS


@pytest.mark.parametrize("recovery_window", [True, False])
def test_a_refresh_whose_answer_was_lost_after_rotation(installed: Any, emulator: Any, id_token: Any,
                                                        recovery_window: bool) -> None:  # fmt: skip
    """Shopify rotated (the refresh token is consumed) and then answered 502. With Shopify's 2026 recovery window
    the old refresh token still works until its successor is used, so the retry gets a pair; without it the pair
    is dead, is forgotten, and the next request with an ID token exchanges a new one. Never a stuck shop."""
    emulator.refresh_recovery_window = recovery_window
    emulator.lose_refresh_answers(SHOP, times=1, status=502)
    expire_soon(installed)
    with installed.app_context():
        if recovery_window:
            token = get_access_token(SHOP)
            assert token in emulator.tokens and emulator.stats.refresh == 2
            expire_soon(installed)
            assert get_access_token(SHOP) in emulator.tokens  # the pair stored from the retry refreshes too
        else:
            with pytest.raises(TokenRefreshFailed):
                get_access_token(SHOP)
            assert not _has_tokens(installed)
    assert emulator.stats.refresh_answers_lost == 1
    if not recovery_window:
        assert _probe(installed, id_token).status_code == 200
        with installed.app_context():
            assert get_access_token(SHOP) in emulator.tokens
