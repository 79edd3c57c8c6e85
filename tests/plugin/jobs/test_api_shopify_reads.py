"""What the API and the job layer read from Shopify: many products in one batched read (POST /api/jobs, bulk
selections), a single read only where the batch's first page is not enough, and automation's collection filter."""

from __future__ import annotations

from typing import Any

from plugin.extensions import db
from plugin.models.bulk import BulkRun
from plugin.models.job import Job
from plugin.models.shop import Shop
from plugin.models.webhook_delivery import WebhookDelivery
from plugin.services import automation, bulk, settings, shopify_reads
from plugin.services.automation import Outcome
from shopify_emulator.store import product_rest_payload
from tests.plugin.jobs.test_api import auth


def test_post_jobs_reads_its_products_in_one_request(client: Any, shop: Any, id_token: Any, emulator: Any) -> None:
    products = [p.gid for p in list(shop.emu.products.values())[:5]]
    emulator.stats.reset()
    r = client.post("/api/jobs", headers=auth(id_token, shop.domain),
                    json={"product_ids": products, "pose_set": "catalog-basics"})  # fmt: skip
    assert r.status_code == 201, r.get_json()
    assert [j["product_id"] for j in r.get_json()["jobs"]] == products
    assert emulator.stats.operations["ProductsByIds"] == 1 and emulator.stats.operations["ProductWithMedia"] == 0


def test_a_variant_beyond_the_first_ten_is_read_alone(client: Any, shop: Any, id_token: Any, emulator: Any) -> None:
    big = emulator.add_products(shop.domain, 1, variants_per_product=12)[0]
    small = list(shop.emu.products.values())[0]
    emulator.stats.reset()
    r = client.post("/api/jobs", headers=auth(id_token, shop.domain),
                    json={"product_ids": [small.gid, big.gid], "variant_ids": [big.variants[11].gid],
                          "pose_set": "catalog-basics"})  # fmt: skip
    assert r.status_code == 201, r.get_json()
    assert {j["variant_id"] for j in r.get_json()["jobs"]} == {None, big.variants[11].gid}
    assert emulator.stats.operations["ProductsByIds"] == 1 and emulator.stats.operations["ProductWithMedia"] == 1


def test_bulk_selection_lists_products_in_batches(client: Any, app: Any, shop: Any, id_token: Any,
                                                  emulator: Any) -> None:  # fmt: skip
    emulator.add_products(shop.domain, 12)
    selected = list(shop.emu.products)  # 8 seeded + 12
    r = client.post("/api/bulk", headers=auth(id_token, shop.domain),
                    json={"selected": selected, "pose_set": "catalog-basics"})  # fmt: skip
    assert r.status_code == 202, r.get_json()
    emulator.stats.reset()
    with app.app_context():
        bulk.run_bulk_listing(r.get_json()["id"])
        run = db.session.get(BulkRun, r.get_json()["id"])
        assert run.total == 20 and db.session.query(Job).filter_by(bulk_id=run.id).count() == 20
    assert emulator.stats.operations["ProductsByIds"] == 2  # 15 + 5
    assert emulator.stats.operations["ProductWithMedia"] == 0


def test_batched_read_matches_single_reads(app: Any, shop: Any) -> None:
    ids = list(shop.emu.products)
    with app.app_context():
        row = db.session.get(Shop, shop.id)
        batched = shopify_reads.products_by_ids(row, [*reversed(ids), "gid://shopify/Product/1"], variant_ids=[])
        from plugin.shopify.catalog import Catalog

        catalog = Catalog(shopify_reads.admin_client(row))
        singles = [shopify_reads.from_catalog(catalog.get_product(pid)) for pid in reversed(ids)]
    assert [p.id for p in batched] == list(reversed(ids))  # asked order, the missing id left out
    for got, want in zip(batched, singles, strict=True):
        assert (got.title, got.images, got.variants) == (want.title, want.images, want.variants)


def test_automation_collection_filter_reads_the_products_collections(app: Any, shop: Any, emulator: Any) -> None:
    product, other = emulator.add_products(shop.domain, 2)
    summer = emulator.add_collection(shop.domain, "Summer", [product.gid])
    emulator.add_collection(shop.domain, "Winter", [other.gid])
    counter = iter(range(1, 100))

    def deliver(p: Any) -> str:
        with app.app_context():
            d = WebhookDelivery(event_id=f"evt-c{next(counter)}", shop_id=shop.id, shop_domain=shop.domain,
                                topic="products/create", payload=product_rest_payload(shop.emu, p, emulator.origin))
            db.session.add(d)
            db.session.commit()
            return automation.handle_product_delivery(d.id)

    with app.app_context():
        row = db.session.get(Shop, shop.id)
        settings.update_settings(row, {"automation": "new_products", "filters": {"collections": [summer.gid]}})
        assert shopify_reads.collections_of(row, product.gid) == [summer.gid]
        assert shopify_reads.collections_of(row, "gid://shopify/Product/1") == []
    emulator.stats.reset()
    assert deliver(other) == Outcome.FILTERED
    assert deliver(product) == Outcome.STARTED
    assert emulator.stats.operations["ProductCollections"] == 2
