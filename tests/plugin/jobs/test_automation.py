"""Automation rules on real webhook bodies from the emulator: what starts work and what does not."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from plugin.extensions import db
from plugin.models.job import Job
from plugin.models.shop import Shop
from plugin.models.shop_settings import Automation, ShopSettings
from plugin.models.webhook_delivery import WebhookDelivery
from plugin.services import automation, settings
from plugin.services.automation import Outcome
from plugin.services.products import ProductInfo
from shopify_emulator.store import product_rest_payload


@pytest.mark.parametrize(("setting", "topic", "covered"), [
    (Automation.OFF, "products/create", False),
    (Automation.NEW_PRODUCTS, "products/create", True),
    (Automation.NEW_PRODUCTS, "products/update", False),
    (Automation.NEW_AND_CHANGED, "products/update", True),
])  # fmt: skip
def test_which_topics_each_setting_covers(setting: Automation, topic: str, covered: bool) -> None:
    assert automation.covers(setting, topic) is covered


@pytest.mark.parametrize(("filters", "matches"), [
    ({}, True),
    ({"product_types": ["Dress"]}, True),
    ({"product_types": ["shoes"]}, False),
    ({"tags": ["SUMMER", "x"]}, True),
    ({"tags": ["winter"]}, False),
    ({"product_types": ["dress"], "tags": ["winter"]}, False),  # every given filter must match
    ({"collections": ["gid://shopify/Collection/1"]}, False),  # not in it (collections unknown → no match)
])  # fmt: skip
def test_filters(filters: dict[str, Any], matches: bool) -> None:
    s = ShopSettings(product_types=filters.get("product_types", []), tags=filters.get("tags", []),
                     collections=filters.get("collections", []))  # fmt: skip
    product = ProductInfo(id="gid://shopify/Product/1", product_type="Dress", tags=["summer", "linen"])
    assert automation.matches_filters(s, product) is matches


@pytest.fixture
def deliver(app: Any, shop: Any, emulator: Any) -> Any:
    counter = iter(range(1, 10_000))

    def send(topic: str, payload: dict[str, Any]) -> str:
        with app.app_context():
            d = WebhookDelivery(event_id=f"evt-{next(counter)}", shop_id=shop.id, shop_domain=shop.domain, topic=topic,
                                payload=payload)  # fmt: skip
            db.session.add(d)
            db.session.commit()
            return automation.handle_product_delivery(d.id)

    return send


def _jobs(app: Any, shop: Any) -> int:
    with app.app_context():
        return db.session.query(Job).filter_by(shop_id=shop.id).count()


def _configure(app: Any, shop: Any, **values: Any) -> None:
    with app.app_context():
        settings.update_settings(db.session.get(Shop, shop.id), values)


def test_only_a_changed_source_image_starts_work(app: Any, shop: Any, emulator: Any, deliver: Any) -> None:
    product = emulator.add_products(shop.domain, 1)[0]
    body = product_rest_payload(shop.emu, product, emulator.origin)
    assert deliver("products/create", body) == Outcome.AUTOMATION_OFF
    _configure(app, shop, automation="new_and_changed")
    assert deliver("products/create", body) == Outcome.STARTED
    assert deliver("products/update", body) == Outcome.UNCHANGED  # a duplicate / an unrelated edit
    # our own media write: a new image with our filename after the source → still the same source
    ours = copy.deepcopy(body)
    ours["images"].append({**body["images"][0], "id": 999, "admin_graphql_api_id": "gid://shopify/MediaImage/999",
                           "position": 2, "src": f"{emulator.origin}/cdn/shop/1/files/pose-studio-1-front-0.png"})
    assert deliver("products/update", ours) == Outcome.UNCHANGED
    # the same pixels under a new URL (re-uploaded): downloaded, hashed, unchanged
    moved = copy.deepcopy(body)
    moved["images"][0]["src"] += "&again=1"
    assert deliver("products/update", moved) == Outcome.UNCHANGED
    # an older delivery arriving late changes nothing
    stale = copy.deepcopy(body)
    stale["updated_at"] = "2001-01-01T00:00:00Z"
    assert deliver("products/update", stale) == Outcome.STALE
    # a really different photo
    other = emulator.add_products(shop.domain, 3)[2]
    changed = copy.deepcopy(body)
    changed["images"][0]["src"] = product_rest_payload(shop.emu, other, emulator.origin)["images"][0]["src"]
    assert deliver("products/update", changed) == Outcome.STARTED
    assert _jobs(app, shop) == 2


def test_filters_and_daily_limit_hold_back_automation(app: Any, shop: Any, emulator: Any, deliver: Any) -> None:
    products = emulator.add_products(shop.domain, 2)
    _configure(app, shop, automation="new_products", filters={"tags": ["summer"]})
    body = product_rest_payload(shop.emu, products[0], emulator.origin)
    assert deliver("products/create", body) == Outcome.FILTERED
    _configure(app, shop, filters={"tags": []}, daily_limit=0)
    assert deliver("products/create", body) == Outcome.LIMIT
    _configure(app, shop, daily_limit=10)
    assert deliver("products/create", body) == Outcome.STARTED  # not recorded as seen while over the limit
    assert deliver("products/delete", {"id": products[0].num}) == Outcome.DELETED
    assert _jobs(app, shop) == 1
