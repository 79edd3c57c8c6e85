"""The Products page offers a per-variant choice only for variants with a photo of their own, and sends the chosen
variants; Home reads its summary (counts, usage, worker health, queue lengths) from GET /api/overview."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import TEST_SHOP

pytestmark = pytest.mark.browser


def test_variant_choice_only_where_variants_have_their_own_photo(open_page: Any, emulator: Any) -> None:
    products = {p.title: p for p in emulator.shop(TEST_SHOP).products.values()}
    blazer, kids = products["Linen Blazer"], products["Kids Play Overall"]
    page = open_page("/products")
    page.wait_for_selector("#products-table:not([hidden]) tbody tr")
    page.locator(f'#products-body input[data-product="{kids.gid}"]').check()
    assert page.locator(f'[data-variants-of="{kids.num}"]').count() == 0  # one variant, no photo of its own
    page.locator(f'#products-body input[data-product="{blazer.gid}"]').check()
    offered = page.locator(f'[data-variants-of="{blazer.num}"] input[data-variant]')
    # Small and Medium have their own photo; Large shows the product photo, so it is not offered
    assert [offered.nth(i).get_attribute("data-variant") for i in range(offered.count())] == [
        blazer.variants[0].gid, blazer.variants[1].gid]
    assert page.locator(f'[data-variants-of="{blazer.num}"] img').count() == 2
    page.get_by_label("Medium").check()

    with page.expect_request(lambda r: r.url.endswith("/api/jobs") and r.method == "POST") as sent:
        page.get_by_role("button", name="Generate poses for 2 products").click()
    body = json.loads(sent.value.post_data)
    assert body["variant_ids"] == [blazer.variants[1].gid]
    page.wait_for_selector("#generate-result [data-state=success]")
    assert page.js_errors == []


def test_home_reads_the_overview(open_page: Any, page: Any) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/api/" in r.url else None)
    with page.expect_response(lambda r: "/api/overview" in r.url) as answered:
        page = open_page("/")
    overview = answered.value.json()
    page.wait_for_selector("#home-cards:not([hidden])")
    # whatever the workers' state (the session's e2e stack may be running some), the page shows what the API said
    workers = overview["workers"]
    badge = "online" if workers["online"] else "offline"
    assert page.locator(f'[data-worker="{badge}"]').is_visible()
    gpu = workers["queues"]["gpu"]
    waiting = f"{gpu['length']} job waiting" if gpu["length"] == 1 else f"{gpu['length']} jobs waiting"
    workers_text = f"{gpu['workers']} worker" if gpu["workers"] == 1 else f"{gpu['workers']} workers"
    assert page.locator('[data-queue="gpu"]').inner_text() == f"Image generation: {waiting} · {workers_text}"
    if workers["status"] == "no_workers":
        assert "No worker is running" in page.locator("#home-worker").inner_text()
    assert "0 of 500 generations" in page.locator("#home-usage").inner_text()
    assert page.locator('[data-group="awaiting_review"] dd').inner_text() == "0"
    # one summary call, no job list counted in the browser
    assert [u for u in requests if "/api/jobs" in u] == [] and sum("/api/overview" in u for u in requests) == 1
    assert page.js_errors == []
