"""products/* webhook bodies are REST-shaped: `images[].id` and a variant's `image_id` are ProductImage ids, not the
MediaImage ids the GraphQL API and our records use. Parsed against the emulator's bodies, which keep the two id
spaces apart as Shopify does."""

from __future__ import annotations

from plugin.services.products import from_webhook, pick_source, variant_image
from shopify_emulator import ShopifyEmulator
from shopify_emulator.store import product_rest_payload
from tests.conftest import TEST_SHOP


def test_variant_and_gallery_images_map_to_media_ids(emulator: ShopifyEmulator) -> None:
    shop = emulator.shop(TEST_SHOP)
    blazer = next(p for p in shop.products.values() if p.handle == "linen-blazer")  # variant 0 has its own image
    body = product_rest_payload(shop, blazer, emulator.origin)
    assert body["images"][0]["admin_graphql_api_id"].startswith("gid://shopify/ProductImage/")
    assert str(body["variants"][0]["image_id"]) not in blazer.variants[0].media_ids[0]  # another id space

    product = from_webhook(body)
    assert [i.media_id for i in product.images] == blazer.media_ids
    assert product.variants[0].media_id == blazer.variants[0].media_ids[0]
    assert product.variants[2].media_id is None
    own = variant_image(product, product.variants[0])
    assert own is not None and own.media_id == blazer.variants[0].media_ids[0] and own.url
    source = pick_source(product, blazer.variants[0].gid)
    assert source is not None and source.media_id == blazer.variants[0].media_ids[0]


def test_images_without_preview_urls_map_by_gallery_position(emulator: ShopifyEmulator) -> None:
    shop = emulator.shop(TEST_SHOP)
    blazer = next(p for p in shop.products.values() if p.handle == "linen-blazer")
    body = product_rest_payload(shop, blazer, emulator.origin)
    for media in body["media"]:
        media["preview_image"] = None
    assert [i.media_id for i in from_webhook(body).images] == blazer.media_ids
