"""Shopify delivers webhooks late, more than once and in any order. The emulator holds real products/update
deliveries and sends them reversed and duplicated; the app records each event once and automation acts on the
newest state only."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import requests

from plugin.extensions import db
from plugin.models.job import Job
from plugin.models.webhook_delivery import WebhookDelivery
from plugin.services import automation, settings
from plugin.services.automation import Outcome
from shopify_emulator.store import product_rest_payload

REORDER = """mutation R($id: ID!, $moves: [MoveInput!]!) {
  productReorderMedia(id: $id, moves: $moves) { job { id } mediaUserErrors { code } } }"""


def test_late_reversed_duplicated_product_updates(app: Any, client: Any, shop: Any, emulator: Any) -> None:
    with app.app_context():
        settings.update_settings(db.session.get(type(shop), shop.id), {"automation": "new_and_changed"})
    product = emulator.add_products(shop.domain, 1, images_per_product=2)[0]
    first, second = product.media_ids
    token = emulator.issue_access_token(shop.domain)

    def make_first(media_id: str) -> None:
        variables = {"id": product.gid, "moves": [{"id": media_id, "newPosition": "0"}]}
        requests.post(
            f"{emulator.origin}/admin/api/2026-10/graphql.json",
            json={"query": REORDER, "variables": variables},
            headers={"Host": shop.domain, "X-Shopify-Access-Token": token},
            timeout=5,
        ).raise_for_status()

    saved_url = emulator.webhook_url
    emulator.webhook_url = "http://127.0.0.1:9/unused"  # deliveries are held, then posted through the test client
    try:
        emulator.hold_webhooks()
        make_first(second)  # event 1: the second photo becomes the source
        time.sleep(1.1)  # products' updated_at has whole seconds
        make_first(first)  # event 2 (the truth now): the first photo is the source again
        emulator.wait_for_webhooks()
        held = emulator.take_held_webhooks(order="reverse", duplicates=1)
    finally:
        emulator.webhook_url = saved_url
    assert len(held) == 4
    answers = [client.post("/webhooks", data=h.body, headers=h.headers).status_code for h in held]
    assert answers == [200, 200, 200, 200]
    with app.app_context():
        rows = db.session.scalars(db.select(WebhookDelivery).where(WebhookDelivery.shop_id == shop.id)
                                  .order_by(WebhookDelivery.id)).all()  # fmt: skip
        assert len(rows) == 2  # each event recorded once
        outcomes = [automation.handle_product_delivery(row.id) for row in rows]
        assert outcomes == [Outcome.STARTED, Outcome.STALE]  # the newest first; the late older one changes nothing
        [job] = db.session.scalars(db.select(Job).where(Job.shop_id == shop.id)).all()
        assert job.source_media_id == first


def test_two_edits_in_the_same_second_are_ordered_by_their_event_time(
    app: Any, client: Any, shop: Any, emulator: Any
) -> None:
    """`updated_at` has whole seconds: two edits within one second carry the same one. X-Shopify-Triggered-At (the
    event's own time, sub-second) decides which is newer when they arrive out of order."""
    with app.app_context():
        settings.update_settings(db.session.get(type(shop), shop.id), {"automation": "new_and_changed"})
    product = emulator.add_products(shop.domain, 1, images_per_product=2)[0]
    first, second = product.media_ids
    body = product_rest_payload(shop.emu, product, emulator.origin)  # gallery: first, second
    swapped = copy.deepcopy(body)  # the edit a moment later: the second photo moved to the front
    swapped["images"] = [{**swapped["images"][1], "position": 1}, {**swapped["images"][0], "position": 2}]
    same_second = "2026-12-03T10:00:00-05:00"
    body["updated_at"] = swapped["updated_at"] = same_second

    def deliver(payload: dict[str, Any], triggered_at: str) -> None:
        raw = json.dumps(payload).encode()
        headers = emulator.webhook_headers("products/update", shop.domain, raw, triggered_at=triggered_at)
        assert client.post("/webhooks", data=raw, headers=headers).status_code == 200

    deliver(swapped, "2026-12-03T15:00:00.700000000Z")  # the newer edit arrives first
    deliver(body, "2026-12-03T15:00:00.100000000Z")  # the older one, late
    with app.app_context():
        rows = db.session.scalars(db.select(WebhookDelivery).where(WebhookDelivery.shop_id == shop.id)
                                  .order_by(WebhookDelivery.id)).all()  # fmt: skip
        assert [automation.handle_product_delivery(row.id) for row in rows] == [Outcome.STARTED, Outcome.STALE]
        [job] = db.session.scalars(db.select(Job).where(Job.shop_id == shop.id)).all()
        assert job.source_media_id == second
    assert first != second
