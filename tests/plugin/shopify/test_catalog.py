"""Catalog reads against the emulator: cursor pages, one product, bulk export run/poll/download/parse."""

from __future__ import annotations

from collections.abc import Callable

from plugin.shopify.admin_api import AdminClient
from plugin.shopify.catalog import Catalog, assemble_products
from shopify_emulator import ShopifyEmulator
from tests.conftest import TEST_SHOP

MakeClient = Callable[..., AdminClient]


def catalog(client: AdminClient) -> Catalog:
    return Catalog(client, bulk_poll_s=0.03, bulk_poll_max_s=0.1)


def test_iter_products_follows_cursors(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    emulator.add_products(TEST_SHOP, 25)
    client = admin_client()
    products = list(catalog(client).iter_products(page_size=10))
    assert len(products) == len({p.id for p in products}) == 33
    assert client.metrics.requests["ProductsPage"] == 4
    blazer = next(p for p in products if p.handle == "linen-blazer")
    assert len(blazer.media) == 2 and blazer.media[0].url and blazer.media[0].status == "READY"
    assert blazer.variants[0].sku == "LB-S" and blazer.variants[0].media_id == blazer.media[0].id
    assert blazer.variants[2].media_id is None and blazer.variants[0].options == {"Size": "Small"}


def test_get_product_and_missing_product(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    emu_product = next(p for p in emulator.shop(TEST_SHOP).products.values() if len(p.media_ids) == 3)
    product = catalog(admin_client()).get_product(emu_product.gid)
    assert product is not None and [m.id for m in product.media] == emu_product.media_ids
    assert catalog(admin_client()).get_product("gid://shopify/Product/1") is None


def test_bulk_export_streams_products_with_children(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    emulator.add_products(TEST_SHOP, 40, images_per_product=2, variants_per_product=2)
    client = admin_client()
    products = list(catalog(client).export_products())
    shop = emulator.shop(TEST_SHOP)
    assert len(products) == len(shop.products) == 48
    for product in products:
        expected = shop.products[product.id]
        assert [m.id for m in product.media] == expected.media_ids
        assert [v.id for v in product.variants] == [v.gid for v in expected.variants]
    assert client.metrics.requests["BulkRunQuery"] == 1 and client.metrics.requests["BulkStatus"] >= 1


def test_assemble_accepts_children_after_other_parents() -> None:
    lines = [
        {"id": "gid://shopify/Product/1", "title": "A"},
        {"id": "gid://shopify/Product/2", "title": "B"},
        {"id": "gid://shopify/MediaImage/9", "alt": "a", "__parentId": "gid://shopify/Product/1"},
        {"id": "gid://shopify/ProductVariant/5", "sku": "B-1", "__parentId": "gid://shopify/Product/2"},
    ]
    a, b = assemble_products(lines)
    assert [m.id for m in a.media] == ["gid://shopify/MediaImage/9"] and b.variants[0].sku == "B-1"


def test_get_products_reads_many_in_few_requests(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    from plugin.shopify.operations import PRODUCTS_BY_IDS_MAX

    emulator.add_products(TEST_SHOP, 25)
    big = emulator.add_products(TEST_SHOP, 1, images_per_product=12, variants_per_product=11)[0]
    shop = emulator.shop(TEST_SHOP)
    ids = [*shop.products, "gid://shopify/Product/1", next(iter(shop.products.values())).variants[0].gid]
    client = admin_client()
    found = catalog(client).get_products(ids)
    assert set(found) == set(shop.products) and len(found) == 34
    assert client.metrics.requests["ProductsByIds"] == -(-len(ids) // PRODUCTS_BY_IDS_MAX) == 3
    blazer = next(p for p in found.values() if p.handle == "linen-blazer")
    single = catalog(client).get_product(blazer.id)
    assert [m.id for m in blazer.media] == [m.id for m in single.media]
    assert [(v.id, v.media_id) for v in blazer.variants] == [(v.id, v.media_id) for v in single.variants]
    assert not blazer.more_media and not blazer.more_variants
    assert found[big.gid].more_media and found[big.gid].more_variants and len(found[big.gid].media) == 10


def test_product_collections(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    products = list(emulator.shop(TEST_SHOP).products.values())
    summer = emulator.add_collection(TEST_SHOP, "Summer Sale", [products[0].gid, products[1].gid])
    suits = emulator.add_collection(TEST_SHOP, "Suits", [products[0].gid])
    cat = catalog(admin_client())
    assert [(c.id, c.handle, c.title) for c in cat.product_collections(products[0].gid)] == [
        (summer.gid, "summer-sale", "Summer Sale"), (suits.gid, "suits", "Suits")]
    assert [c.id for c in cat.product_collections(products[1].gid)] == [summer.gid]
    assert cat.product_collections(products[2].gid) == []
    assert cat.product_collections("gid://shopify/Product/1") is None


def test_a_bulk_export_waits_for_a_slot_instead_of_failing(
    emulator: ShopifyEmulator, admin_client: MakeClient
) -> None:
    """Shopify caps concurrent bulk queries per app and shop (OPERATION_IN_PROGRESS): a second export of the same
    shop waits for the first instead of failing the merchant's bulk run."""
    emulator.bulk_concurrency = 1
    emulator.bulk_delay = 0.4
    first = catalog(admin_client()).start_bulk_export()
    client = admin_client()
    products = list(catalog(client).export_products())  # refused while `first` runs, then started
    assert len(products) == len(emulator.shop(TEST_SHOP).products)
    assert emulator.stats.bulk_refused >= 1 and client.metrics.requests["BulkRunQuery"] >= 2
    assert catalog(client).wait_bulk(first).status == "COMPLETED"


def test_get_product_reads_every_variant_of_a_large_product(
    emulator: ShopifyEmulator, admin_client: MakeClient
) -> None:
    """Shopify allows 2,048 variants on one product; reading the first 100 loses the rest."""
    big = emulator.add_products(TEST_SHOP, 1, variants_per_product=2000)[0]
    bucket = emulator.shop(TEST_SHOP).bucket  # an Enterprise shop's bucket: 20 reads of ~500 points, no waiting
    bucket.maximum = bucket.available = 40_000
    bucket.restore_rate = 2_000
    client = admin_client()
    product = catalog(client).get_product(big.gid)
    assert product is not None
    assert [v.id for v in product.variants] == [v.gid for v in big.variants]
    assert emulator.stats.operations["ProductVariantsPage"] == 19  # 100 with the product, then 19 pages of 100
