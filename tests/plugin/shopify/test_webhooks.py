"""POST /webhooks: verify -> dedupe -> record -> enqueue, against real PostgreSQL and Redis."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from gpu_worker.contract import SHOPIFY_QUEUE
from plugin.extensions import db
from plugin.models import DeliveryStatus, Shop, WebhookDelivery
from plugin.task_names import WebTask
from tests.conftest import TEST_SHOP, webhook_hmac

PREVIOUS_SECRET = "previous-secret-abcdef0123456789abcdef"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "SHOPIFY_API_SECRET_PREVIOUS": PREVIOUS_SECRET}


def queued(redis_url: str) -> list[tuple[str, dict[str, Any]]]:
    """(task name, kwargs) of every message waiting on the shopify queue (kombu's Redis list)."""
    client = redis.Redis.from_url(redis_url)
    messages = []
    for raw in reversed(client.lrange(SHOPIFY_QUEUE, 0, -1)):
        message = json.loads(raw)
        body = json.loads(base64.b64decode(message["body"]))
        messages.append((message["headers"]["task"], body[1]))
    return messages


def deliveries(app: Any) -> list[WebhookDelivery]:
    with app.app_context():
        rows = list(db.session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id)).scalars())
        db.session.expunge_all()
        return rows


@pytest.mark.parametrize("header_style", ["x-shopify", "shopify"])
def test_product_update_is_recorded_and_enqueued_after_commit(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any, header_style: str
) -> None:
    shop = make_shop(TEST_SHOP)
    body, headers = signed_webhook("products/update", TEST_SHOP, {"id": 7, "title": "Dress"},
                                   header_style=header_style, triggered_at="2026-11-24T01:02:03.123456789Z")
    response = client.post("/webhooks", data=body, headers=headers)
    assert response.status_code == 200
    [row] = deliveries(app)
    assert (row.topic, row.shop_id, row.status) == ("products/update", shop.id, DeliveryStatus.ENQUEUED)
    assert row.payload == {"id": 7, "title": "Dress"}
    assert row.triggered_at is not None and row.triggered_at.microsecond == 123456
    assert queued(redis_url) == [(WebTask.PRODUCTS_CHANGED, {"delivery_id": row.id})]


@pytest.mark.parametrize(
    "tamper",
    ["bad hmac", "missing hmac", "secret of another app", "body changed after signing"],
)
def test_unverifiable_webhook_is_401_and_stores_nothing(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any, tamper: str
) -> None:
    make_shop(TEST_SHOP)
    body, headers = signed_webhook("products/update", TEST_SHOP)
    if tamper == "bad hmac":
        headers["X-Shopify-Hmac-Sha256"] = webhook_hmac(b"other", "x" * 32)
    elif tamper == "missing hmac":
        del headers["X-Shopify-Hmac-Sha256"]
    elif tamper == "secret of another app":
        body, headers = signed_webhook("products/update", TEST_SHOP, secret="another-apps-secret-0123456789")
    else:
        body = body.replace(b"1", b"2")
    response = client.post("/webhooks", data=body, headers=headers)
    assert response.status_code == 401
    assert deliveries(app) == []
    assert queued(redis_url) == []


def test_previous_secret_is_accepted_during_rotation(app: Any, client: Any, make_shop: Any,
                                                      signed_webhook: Any) -> None:
    make_shop(TEST_SHOP)
    body, headers = signed_webhook("products/create", TEST_SHOP, secret=PREVIOUS_SECRET)
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    assert len(deliveries(app)) == 1


def test_duplicate_event_id_is_one_row_and_one_task(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    make_shop(TEST_SHOP)
    body, headers = signed_webhook("products/update", TEST_SHOP, event_id="event-1")
    first = client.post("/webhooks", data=body, headers=headers)
    # Shopify's retry carries the same event id (a new webhook id is allowed)
    body2, headers2 = signed_webhook("products/update", TEST_SHOP, event_id="event-1")
    second = client.post("/webhooks", data=body2, headers=headers2)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json["status"] == "duplicate"
    assert len(deliveries(app)) == 1
    assert len(queued(redis_url)) == 1


def test_duplicate_of_a_delivery_whose_enqueue_failed_enqueues_it(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    shop = make_shop(TEST_SHOP)
    with app.app_context():
        row = WebhookDelivery(event_id="event-lost", shop_id=shop.id, shop_domain=TEST_SHOP,
                              topic="products/update", status=DeliveryStatus.RECEIVED)
        db.session.add(row)
        db.session.commit()
        row_id = row.id
    body, headers = signed_webhook("products/update", TEST_SHOP, event_id="event-lost")
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "duplicate"
    assert queued(redis_url) == [(WebTask.PRODUCTS_CHANGED, {"delivery_id": row_id})]
    assert deliveries(app)[0].status is DeliveryStatus.ENQUEUED


def test_unknown_topic_is_recorded_and_ignored(app: Any, client: Any, redis_url: str, make_shop: Any,
                                               signed_webhook: Any) -> None:
    make_shop(TEST_SHOP)
    body, headers = signed_webhook("orders/create", TEST_SHOP)
    response = client.post("/webhooks", data=body, headers=headers)
    assert response.status_code == 200
    [row] = deliveries(app)
    assert (row.topic, row.status) == ("orders/create", DeliveryStatus.IGNORED)
    assert queued(redis_url) == []


def test_oversized_body_is_413(app: Any, client: Any, make_shop: Any, signed_webhook: Any) -> None:
    body, headers = signed_webhook("products/update", TEST_SHOP, {"blob": "x" * (1024 * 1024 + 1)})
    response = client.post("/webhooks", data=body, headers=headers)
    assert response.status_code == 413
    assert deliveries(app) == []


@pytest.mark.parametrize("missing", ["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Event-Id"])
def test_signed_but_incomplete_headers_are_400(app: Any, client: Any, signed_webhook: Any, missing: str) -> None:
    body, headers = signed_webhook("products/update", TEST_SHOP)
    del headers[missing]
    if missing == "X-Shopify-Event-Id":
        del headers["X-Shopify-Webhook-Id"]
    assert client.post("/webhooks", data=body, headers=headers).status_code == 400
    assert deliveries(app) == []


def test_app_uninstalled_deletes_tokens_keeps_data_and_enqueues_cancellation(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    shop = make_shop(TEST_SHOP)
    body, headers = signed_webhook("app/uninstalled", TEST_SHOP, {"id": 1, "domain": TEST_SHOP})
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    with app.app_context():
        stored = db.session.get(Shop, shop.id)
        assert stored is not None
        assert stored.access_token_encrypted is None and stored.refresh_token_encrypted is None
        assert stored.uninstalled_at is not None
    [row] = deliveries(app)
    assert row.payload == {"shopify_shop_id": 1}  # only the shop's id: its emails, address are not kept
    assert queued(redis_url) == [(WebTask.SHOP_UNINSTALLED, {"shop_id": shop.id, "delivery_id": row.id})]


def test_shop_redact_of_an_uninstalled_shop_is_recorded_and_handed_to_a_task(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    doomed = make_shop(TEST_SHOP, installed=False)
    body, headers = signed_webhook("shop/redact", TEST_SHOP, {"shop_id": 1, "shop_domain": TEST_SHOP})
    response = client.post("/webhooks", data=body, headers=headers)
    assert (response.status_code, response.json["status"]) == (200, "accepted")
    with app.app_context():
        assert db.session.get(Shop, doomed.id) is not None  # nothing is erased inside the request
    [row] = deliveries(app)
    assert (row.shop_id, row.payload) == (None, {"shop_id": doomed.id, "shop_domain": TEST_SHOP})
    assert queued(redis_url) == [(WebTask.SHOP_REDACT, {"delivery_id": row.id})]


def _installed_pair(make_shop: Any, client: Any, signed_webhook: Any) -> tuple[Any, Any]:
    victim = make_shop(TEST_SHOP)
    attacker = make_shop("attacker.myshopify.com")
    for domain in (TEST_SHOP, "attacker.myshopify.com"):
        body, headers = signed_webhook("products/update", domain, {"id": 5})
        client.post("/webhooks", data=body, headers=headers)
    return victim, attacker


def _shop_untouched(app: Any, shop: Any) -> None:
    with app.app_context():
        stored = db.session.get(Shop, shop.id)
        assert stored is not None and stored.is_installed and stored.has_tokens
        assert db.session.execute(select(func.count()).select_from(WebhookDelivery)
                                  .where(WebhookDelivery.shop_id == shop.id)).scalar() == 1


@pytest.mark.parametrize(("signed_topic", "signed_payload", "sent_topic"), [
    # the attack of the review: a products/update body of shop A, headers rewritten to shop/redact for shop B
    ("products/update", {"id": 5, "title": "Dress"}, "shop/redact"),
    # shop A's own (genuine) redact body replayed with shop B's domain
    ("shop/redact", {"shop_id": 77, "shop_domain": "attacker.myshopify.com"}, "shop/redact"),
    # shop A's uninstall body replayed as B's uninstall
    ("app/uninstalled", {"id": 77, "myshopify_domain": "attacker.myshopify.com", "domain": "attacker.example"},
     "app/uninstalled"),
    ("products/update", {"id": 5}, "app/uninstalled"),
])  # fmt: skip
def test_a_signed_body_replayed_under_another_shops_headers_changes_nothing(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any, caplog: Any,
    signed_topic: str, signed_payload: dict[str, Any], sent_topic: str,
) -> None:
    victim, _ = _installed_pair(make_shop, client, signed_webhook)
    before = queued(redis_url)
    body, headers = signed_webhook(signed_topic, "attacker.myshopify.com", signed_payload)
    headers["X-Shopify-Topic"], headers["X-Shopify-Shop-Domain"] = sent_topic, TEST_SHOP
    with caplog.at_level("WARNING", logger="plugin.services.deliveries"):
        response = client.post("/webhooks", data=body, headers=headers)
    assert (response.status_code, response.json["status"]) == (200, "mismatch")
    assert "refused without effect" in caplog.text
    _shop_untouched(app, victim)
    assert queued(redis_url) == before
    assert deliveries(app)[-1].status is DeliveryStatus.IGNORED


def test_shop_redact_for_an_installed_shop_is_refused(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    # even with a body that matches: Shopify sends shop/redact 48 h after an uninstall, never to an installed shop
    victim, _ = _installed_pair(make_shop, client, signed_webhook)
    before = queued(redis_url)
    body, headers = signed_webhook("shop/redact", TEST_SHOP, {"shop_id": 1, "shop_domain": TEST_SHOP})
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "mismatch"
    _shop_untouched(app, victim)
    assert queued(redis_url) == before


def test_shop_redact_must_name_the_shop_id_its_uninstall_reported(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    make_shop(TEST_SHOP)
    body, headers = signed_webhook("app/uninstalled", TEST_SHOP, {"id": 4242, "myshopify_domain": TEST_SHOP})
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "accepted"
    body, headers = signed_webhook("shop/redact", TEST_SHOP, {"shop_id": 1, "shop_domain": TEST_SHOP})
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "mismatch"
    body, headers = signed_webhook("shop/redact", TEST_SHOP, {"shop_id": 4242, "shop_domain": TEST_SHOP})
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "accepted"
    assert queued(redis_url)[-1][0] == WebTask.SHOP_REDACT


@pytest.mark.parametrize("topic", ["customers/data_request", "customers/redact"])
def test_customer_privacy_topics_are_answered_and_recorded_without_payload(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any, topic: str
) -> None:
    make_shop(TEST_SHOP)
    payload = {"shop_domain": TEST_SHOP, "customer": {"id": 1, "email": "jane@example.com"}}
    body, headers = signed_webhook(topic, TEST_SHOP, payload)
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    [row] = deliveries(app)
    assert (row.status, row.payload) == (DeliveryStatus.PROCESSED, None)
    assert queued(redis_url) == []


def test_webhook_for_unknown_shop_is_recorded_and_ignored(app: Any, client: Any, signed_webhook: Any) -> None:
    body, headers = signed_webhook("products/update", "never-installed.myshopify.com")
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    [row] = deliveries(app)
    assert (row.shop_id, row.status) == (None, DeliveryStatus.IGNORED)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Shop)).scalar() == 0


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_a_late_uninstall_of_an_earlier_installation_leaves_the_reinstall_alone(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    # uninstalled an hour ago, reinstalled since (its uninstall webhook is only arriving now, a Shopify retry)
    shop = make_shop(TEST_SHOP)
    body, headers = signed_webhook("app/uninstalled", TEST_SHOP, {"id": 1, "myshopify_domain": TEST_SHOP},
                                   triggered_at=_iso(datetime.now(UTC) - timedelta(hours=1)))  # fmt: skip
    response = client.post("/webhooks", data=body, headers=headers)
    assert (response.status_code, response.json["status"]) == (200, "ignored")
    with app.app_context():
        stored = db.session.get(Shop, shop.id)
        assert stored.is_installed and stored.has_tokens
    assert queued(redis_url) == []


def test_a_token_exchange_after_a_lost_uninstall_starts_a_new_installation(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    # the uninstall webhook has not arrived (uninstalled_at still NULL) when the merchant reinstalls: the exchange
    # moves installed_at, so the late webhook is recognised as older than the reinstall
    from plugin.shopify.token_store import TokenPair, store_token_pair

    shop = make_shop(TEST_SHOP)
    uninstalled = datetime.now(UTC)
    with app.app_context():
        store_token_pair(TEST_SHOP, TokenPair("shpat_new", None, "shprt_new", None), confirms_install=True)
    body, headers = signed_webhook("app/uninstalled", TEST_SHOP, {"id": 1, "myshopify_domain": TEST_SHOP},
                                   triggered_at=_iso(uninstalled))  # fmt: skip
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "ignored"
    with app.app_context():
        assert db.session.get(Shop, shop.id).is_installed


def test_an_uninstall_after_the_install_still_applies(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    shop = make_shop(TEST_SHOP)
    body, headers = signed_webhook("app/uninstalled", TEST_SHOP, {"id": 1, "myshopify_domain": TEST_SHOP},
                                   triggered_at=_iso(datetime.now(UTC) + timedelta(seconds=1)))  # fmt: skip
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "accepted"
    with app.app_context():
        assert not db.session.get(Shop, shop.id).is_installed


def test_scopes_update_records_the_current_scopes(app: Any, client: Any, make_shop: Any,
                                                  signed_webhook: Any) -> None:  # fmt: skip
    shop = make_shop(TEST_SHOP, scopes="read_products")
    body, headers = signed_webhook("app/scopes_update", TEST_SHOP, {
        "id": 1, "previous": ["read_products"], "current": ["read_products", "write_products"],
        "updated_at": _iso(datetime.now(UTC))})  # fmt: skip
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "accepted"
    with app.app_context():
        assert db.session.get(Shop, shop.id).scopes == "read_products,write_products"
    [row] = deliveries(app)
    assert (row.status, row.payload) == (DeliveryStatus.PROCESSED, None)
    # a malformed body changes nothing
    body, headers = signed_webhook("app/scopes_update", TEST_SHOP, {"id": 1, "current": "all of them"})
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "mismatch"
    with app.app_context():
        assert db.session.get(Shop, shop.id).scopes == "read_products,write_products"


def test_the_app_subscribes_to_every_topic_it_handles() -> None:
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[3] / "shopify.app.toml").read_text())
    topics = {t for s in config["webhooks"]["subscriptions"] for t in s.get("topics", [])}
    assert {"app/uninstalled", "app/scopes_update", "products/create", "products/update", "products/delete"} <= topics


def test_concurrent_duplicates_of_an_unsent_delivery_enqueue_it_once(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    import threading

    shop = make_shop(TEST_SHOP)
    with app.app_context():
        row = WebhookDelivery(event_id="event-unsent", shop_id=shop.id, shop_domain=TEST_SHOP,
                              topic="products/update", status=DeliveryStatus.RECEIVED)  # fmt: skip
        db.session.add(row)
        db.session.commit()
    copies = [signed_webhook("products/update", TEST_SHOP, event_id="event-unsent") for _ in range(6)]
    start = threading.Barrier(len(copies))
    answers: list[int] = []

    def post(body: bytes, headers: dict[str, str]) -> None:
        start.wait(timeout=10)
        answers.append(app.test_client().post("/webhooks", data=body, headers=headers).status_code)

    threads = [threading.Thread(target=post, args=copy) for copy in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert answers == [200] * len(copies)
    assert len(queued(redis_url)) == 1
    assert deliveries(app)[0].status is DeliveryStatus.ENQUEUED


def test_a_failed_send_hands_the_delivery_back_for_shopifys_retry(
    app: Any, client: Any, make_shop: Any, signed_webhook: Any
) -> None:
    make_shop(TEST_SHOP)
    app.extensions["celery"].conf.broker_url = "redis://127.0.0.1:1/0"  # the broker is down
    app.extensions["celery"].pool.force_close_all()
    body, headers = signed_webhook("products/update", TEST_SHOP, event_id="event-broker-down")
    assert client.post("/webhooks", data=body, headers=headers).status_code == 503
    [row] = deliveries(app)
    assert row.status is DeliveryStatus.RECEIVED  # Shopify retries; the retry sends it
