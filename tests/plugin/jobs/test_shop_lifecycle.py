"""A shop's lifecycle webhooks end to end through the receiver and the task entry points: shop/redact erases in a
task (never inside the request), only a shop that is still uninstalled, and only that shop; a product body replayed
under another shop's header starts no work there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from plugin.extensions import db
from plugin.models.job import Job
from plugin.models.shop import Shop
from plugin.models.webhook_delivery import DeliveryStatus, WebhookDelivery
from plugin.services import settings
from plugin.storage import get_storage, keys
from plugin.task_names import WebTask
from plugin.tasks import products_changed, shop_redact
from shopify_emulator.store import product_rest_payload
from tests.plugin.jobs.conftest import queued_tasks


def _redact(client: Any, signed_webhook: Any, redis_url: str, domain: str) -> int:
    body, headers = signed_webhook("shop/redact", domain, {"shop_id": 9, "shop_domain": domain})
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "accepted"
    [task] = [t for t in queued_tasks(redis_url) if t["name"] == WebTask.SHOP_REDACT]
    return task["kwargs"]["delivery_id"]


def _rows_of(app: Any, shop_id: int) -> int:
    with app.app_context():
        shops = db.session.execute(select(func.count()).select_from(Shop).where(Shop.id == shop_id)).scalar()
        rows = db.session.execute(select(func.count()).select_from(WebhookDelivery)
                                  .where(WebhookDelivery.shop_id == shop_id)).scalar()  # fmt: skip
        return int(shops) + int(rows)


def _uninstall(client: Any, signed_webhook: Any, domain: str) -> None:
    body, headers = signed_webhook("app/uninstalled", domain, {"id": 9, "myshopify_domain": domain})
    assert client.post("/webhooks", data=body, headers=headers).json["status"] == "accepted"


def test_redact_task_erases_rows_and_objects_of_that_shop_only(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    doomed, other = make_shop(), make_shop()
    _uninstall(client, signed_webhook, doomed.domain)
    with app.app_context():
        storage = get_storage()
        for shop in (doomed, other):
            storage.put(keys.source(shop.domain, "ab" * 32), b"pixels")
    delivery_id = _redact(client, signed_webhook, redis_url, doomed.domain)
    assert _rows_of(app, doomed.id) == 2  # the request erased nothing
    with app.app_context():
        assert shop_redact.apply(kwargs={"delivery_id": delivery_id}).get() == "erased"
        # a second copy of the task (a duplicate webhook, reconcile) does nothing
        assert shop_redact.apply(kwargs={"delivery_id": delivery_id}).get() == "already_claimed"
        assert storage.list(keys.shop_prefix(doomed.domain)) == []
        assert len(storage.list(keys.shop_prefix(other.domain))) == 1
        assert db.session.get(WebhookDelivery, delivery_id).status is DeliveryStatus.PROCESSED
    assert _rows_of(app, doomed.id) == 0
    assert _rows_of(app, other.id) == 1


def test_redact_task_erases_nothing_when_the_shop_reinstalled_meanwhile(
    app: Any, client: Any, redis_url: str, make_shop: Any, signed_webhook: Any
) -> None:
    shop = make_shop()
    _uninstall(client, signed_webhook, shop.domain)
    delivery_id = _redact(client, signed_webhook, redis_url, shop.domain)
    make_shop(shop.domain)  # the merchant opens the app again: a token exchange reinstalls it
    with app.app_context():
        assert shop_redact.apply(kwargs={"delivery_id": delivery_id}).get() == "installed_again"
        assert db.session.get(Shop, shop.id).is_installed


def test_a_product_body_of_another_shop_starts_no_work(
    app: Any, client: Any, shop: Any, emulator: Any, make_shop: Any, signed_webhook: Any
) -> None:
    # shop A's signed products/create, replayed with shop B's domain in the header: B's automation must not run it
    owner = emulator.add_shop("owner-of-the-product.myshopify.com")
    product = emulator.add_products(owner.domain, 1)[0]
    body = product_rest_payload(owner, product, emulator.origin)
    with app.app_context():
        settings.update_settings(db.session.get(Shop, shop.id), {"automation": "new_and_changed"})
        d = WebhookDelivery(event_id="evt-foreign", shop_id=shop.id, shop_domain=shop.domain,
                            topic="products/create", payload=body)  # fmt: skip
        db.session.add(d)
        db.session.commit()
        assert products_changed.apply(kwargs={"delivery_id": d.id}).get() == "product_not_in_shop"
        assert db.session.query(Job).filter_by(shop_id=shop.id).count() == 0


def test_uninstall_task_cancels_nothing_once_the_shop_reinstalled(
    app: Any, client: Any, redis_url: str, shop: Any, make_shop: Any, signed_webhook: Any
) -> None:
    from plugin.tasks import shop_uninstalled
    from tests.plugin.jobs.helpers import new_job

    with app.app_context():
        job_id = new_job(db.session.get(Shop, shop.id), "gid://shopify/Product/1")
    _uninstall(client, signed_webhook, shop.domain)
    make_shop(shop.domain)  # reinstalled before the queued task ran
    with app.app_context():
        assert shop_uninstalled.apply(kwargs={"shop_id": shop.id}).get() == 0
        assert db.session.get(Job, job_id).state.value == "queued"
