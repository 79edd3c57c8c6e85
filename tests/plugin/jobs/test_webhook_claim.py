"""A products/* delivery is processed once, however many copies of its task run (a duplicate webhook that arrived
between the first copy's commit and its enqueue re-sends it; reconcile re-sends a stale one)."""

from __future__ import annotations

import threading
from typing import Any

from plugin.extensions import db
from plugin.models.job import Job
from plugin.models.shop import Shop
from plugin.models.webhook_delivery import DeliveryStatus, WebhookDelivery
from plugin.services import settings
from plugin.tasks import products_changed
from shopify_emulator.store import product_rest_payload


def _delivery(app: Any, shop: Any, emulator: Any, status: DeliveryStatus) -> int:
    product = emulator.add_products(shop.domain, 1)[0]
    payload = product_rest_payload(emulator.shops[shop.domain], product, emulator.origin)
    with app.app_context():
        settings.update_settings(db.session.get(Shop, shop.id), {"automation": "new_and_changed"})
        d = WebhookDelivery(event_id=f"evt-{product.gid}", shop_id=shop.id, shop_domain=shop.domain,
                            topic="products/create", payload=payload, status=status)  # fmt: skip
        db.session.add(d)
        db.session.commit()
        return d.id


def _state(app: Any, shop: Any, delivery_id: int) -> tuple[DeliveryStatus, int]:
    with app.app_context():
        jobs = db.session.query(Job).filter_by(shop_id=shop.id).count()
        return db.session.get(WebhookDelivery, delivery_id).status, jobs


def test_the_same_deliverys_task_run_twice_concurrently_processes_it_once(app: Any, shop: Any,
                                                                          emulator: Any) -> None:  # fmt: skip
    # RECEIVED: the race of the bug: the first copy committed, its enqueue not yet recorded, a duplicate re-sent it
    delivery_id = _delivery(app, shop, emulator, DeliveryStatus.RECEIVED)
    start = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=10)
            results.append(products_changed.apply(kwargs={"delivery_id": delivery_id}).get())
        except BaseException as exc:  # surfaced below: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(results) == ["already_claimed", "started"], results
    assert _state(app, shop, delivery_id) == (DeliveryStatus.PROCESSED, 1)


def test_a_late_copy_of_a_processed_delivery_does_nothing(app: Any, shop: Any, emulator: Any) -> None:
    delivery_id = _delivery(app, shop, emulator, DeliveryStatus.ENQUEUED)
    assert products_changed.apply(kwargs={"delivery_id": delivery_id}).get() == "started"
    assert products_changed.apply(kwargs={"delivery_id": delivery_id}).get() == "already_claimed"
    assert _state(app, shop, delivery_id) == (DeliveryStatus.PROCESSED, 1)
