"""The merchant's whole path in a real browser, against the real pipeline (Celery workers in their own processes,
PostgreSQL, Redis, the Shopify emulator): choose a pose set → generate for two products → watch progress reach
100 % → review (the job's stored source photo, a carousel position) → approve → publish → the images appear on the
emulator's product in the chosen order. And a failed job shows why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.browser.conftest import new_tab, page_opener, screenshot
from tests.e2e.conftest import Stack, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def shop_tab(browser: Any, e2e: Stack, e2e_shop: Any) -> Iterator[tuple[Any, Any, Any]]:
    """(page, open_page, emu_shop) for a fresh shop with the seeded catalog, publishing after review."""
    shop, emu_shop = e2e_shop(seed_products=True, mode="review", automation="off")

    def mint() -> str:
        return e2e.emulator.make_id_token(emu_shop.domain)

    context, tab = new_tab(browser, mint)
    yield tab, page_opener(tab, e2e.app_url, emu_shop.domain, mint), emu_shop
    context.close()


def test_generate_two_products_review_approve_publish(shop_tab: tuple[Any, Any, Any], e2e: Stack) -> None:
    page, open_page, emu_shop = shop_tab
    media_before = {p.gid: len(p.media_ids) for p in emu_shop.products.values()}

    # 1. products: pick two, choose a pose set, generate
    open_page("/products")
    page.wait_for_selector("#products-table:not([hidden]) tbody tr")
    screenshot(page, "products")
    boxes = page.locator("#products-body input[data-product]")
    picked = [boxes.nth(0).get_attribute("data-product"), boxes.nth(1).get_attribute("data-product")]
    boxes.nth(0).check()
    page.locator("#products-body input[data-product]").nth(1).check()
    page.get_by_label("Pose set").select_option("catalog-basics")
    page.get_by_role("button", name="Generate poses for 2 products").click()
    page.wait_for_selector("#generate-result [data-state=success]")

    # 2. jobs: live progress until both wait for review (100 %)
    open_page("/jobs")
    page.wait_for_selector("[data-job]")
    for product_gid in picked:
        assert product_gid  # both rows carried their product id
    wait_for(lambda: page.locator('[data-job][data-state="awaiting_review"]').count() == 2, 180,
             "both jobs to reach review", e2e)
    assert page.locator('[data-job] .ps-percent').all_inner_texts() == ["100 %", "100 %"]
    screenshot(page, "jobs")

    # 3. review: the job's own stored source photo as "before"; move the last image to the front; approve all,
    # publish
    job_id = page.locator('[data-job][data-state="awaiting_review"]').first.get_attribute("data-job")
    open_page(f"/review/job/{job_id}")
    page.wait_for_selector(".ps-output[data-output] img[src^='blob:']")
    page.wait_for_selector(".ps-output--source img.ps-source-image[src^='blob:']")
    screenshot(page, "review")
    cards = page.locator(".ps-output[data-output]")
    last = cards.nth(cards.count() - 1)
    moved_pose = last.locator(".ps-output-title").inner_text()
    last.get_by_label("Carousel position").select_option("1")
    page.get_by_role("button", name="Approve all").click()
    publish = page.locator('s-button[data-action="publish"]')
    publish.wait_for()
    wait_for(lambda: not publish.is_disabled() and "Publish" in publish.inner_text(), 20, "approvals", e2e)
    publish.click()
    page.wait_for_selector('[data-state="published"] [data-link="admin-product"]', timeout=120_000)
    href = page.locator('[data-link="admin-product"]').get_attribute("href")
    assert href.startswith(f"https://admin.shopify.com/store/{emu_shop.domain.removesuffix('.myshopify.com')}/products/")
    screenshot(page, "review-published")

    # 4. the images are on the product in Shopify
    product_gid = "gid://shopify/Product/" + href.rsplit("/", 1)[1]
    product = emu_shop.products[product_gid] if product_gid in emu_shop.products else next(
        p for p in emu_shop.products.values() if p.gid == product_gid)
    assert len(product.media_ids) > media_before[product_gid]
    ours = [m for m in emu_shop.gallery(product) if m.filename.startswith("pose-studio-")]
    assert ours and ours[0].alt.endswith(f"– {moved_pose}")  # the position chosen in review

    # 5. home: the overview with this shop's work and the stack's running workers
    open_page("/")
    page.wait_for_selector("#home-cards:not([hidden])")
    assert page.locator('[data-group="published"] dd').inner_text() == "1"
    assert int(page.locator("#home-published").inner_text()) == len(ours)
    assert page.locator('[data-worker="online"]').is_visible()
    screenshot(page, "home")
    assert page.js_errors == []


def test_failed_job_shows_its_reason_and_what_to_do(shop_tab: tuple[Any, Any, Any], e2e: Stack) -> None:
    from dataclasses import replace

    from shopify_emulator.catalog import jpeg_bytes

    page, open_page, emu_shop = shop_tab
    # A product whose only photo shows no person: generation must fail and say why.
    product = next(p for p in emu_shop.products.values() if p.title == "Kids Play Overall")
    media_id = product.media_ids[0]
    emu_shop.media[media_id] = replace(emu_shop.media[media_id], data=jpeg_bytes(384, 512), width=384, height=512)

    open_page("/products")
    page.wait_for_selector("#products-table:not([hidden]) tbody tr")
    page.locator(f'#products-body input[data-product="{product.gid}"]').check()
    page.get_by_role("button", name="Generate poses for 1 product").click()
    page.wait_for_selector("#generate-result [data-state=success]")

    open_page("/jobs")
    banner = page.locator('[data-job][data-state="failed"] [data-state="job-error"]')
    wait_for(lambda: banner.count() == 1, 120, "the job to fail", e2e)
    text = banner.inner_text()
    message = page.locator('[data-job][data-state="failed"] .ps-error-message').inner_text()
    assert len(message) > 10 and "Traceback" not in message
    assert "Try again" in text or "Use a" in text or "place the skeleton" in text.lower()  # what to do
    assert page.get_by_role("button", name="Try again").is_visible()
    screenshot(page, "jobs-failed")
