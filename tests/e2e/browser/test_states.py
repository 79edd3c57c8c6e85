"""Loading, empty and error states, and navigation, in a real browser (no worker needed)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TEST_SHOP
from tests.e2e.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_home_shows_next_step_for_a_new_merchant(open_page: Any) -> None:
    page = open_page("/")
    page.wait_for_selector("#home-cards:not([hidden])")
    assert page.locator("#home-onboarding").is_visible()
    assert page.get_by_role("button", name="Browse pose sets").is_visible()
    assert page.locator('[data-group="awaiting_review"] dd').inner_text() == "0"
    assert "generations" in page.locator("#home-usage").inner_text()
    screenshot(page, "home-new-merchant")
    assert page.js_errors == []


def test_jobs_and_review_empty_states(open_page: Any) -> None:
    page = open_page("/jobs")
    page.wait_for_selector("#jobs-state [data-state=empty]")
    assert "No jobs yet" in page.locator("#jobs-state").inner_text()
    screenshot(page, "jobs-empty")
    page = open_page("/review")
    page.wait_for_selector("#review-state [data-state=empty]")
    assert "Nothing to review" in page.locator("#review-state").inner_text()
    assert page.js_errors == []


def test_api_error_shows_a_readable_banner_with_retry(open_page: Any, page: Any) -> None:
    calls = {"n": 0}

    def fail_once(route: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            route.fulfill(status=503, content_type="application/json",
                          body='{"error": {"code": "busy", "message": "Pose Studio is busy; try again in a minute."}}')
        else:
            route.continue_()

    page.route("**/api/settings", fail_once)
    open_page("/settings")
    banner = page.locator("#settings-state [data-state=error]")
    banner.wait_for()
    assert "Pose Studio is busy; try again in a minute." in banner.inner_text()
    page.get_by_role("button", name="Try again").click()
    page.wait_for_selector("#settings-form:not([hidden])")


def test_page_without_id_token_bounces_and_comes_back(page: Any, live_server: str) -> None:
    # A plain link (no id_token) goes through the patch-id-token page; App Bridge reloads it with a fresh token.
    page.goto(f"{live_server}/pose-sets?shop={TEST_SHOP}&host=abc&embedded=1")
    page.wait_for_url("**/pose-sets?**id_token=**")
    page.wait_for_selector(".ps-pose-card svg")


def test_every_page_loads_app_bridge_first_and_may_only_be_framed_by_the_admin(
    open_page: Any, page: Any, live_server: str, mint_token: Any
) -> None:
    import requests

    for path in ("/", "/products", "/pose-sets", "/pose-sets/editor", "/jobs", "/review", "/settings"):
        params = {"shop": TEST_SHOP, "id_token": mint_token()}
        response = requests.get(f"{live_server}{path}", params=params, timeout=10)
        assert response.status_code == 200, path
        assert "frame-ancestors https://admin.shopify.com" in response.headers["Content-Security-Policy"].replace(
            f"https://{TEST_SHOP} ", ""
        ), path
        open_page(path)
        first_script = page.evaluate("document.head.querySelector('script').src")
        assert first_script == "https://cdn.shopify.com/shopifycloud/app-bridge.js", path
        assert page.evaluate("document.querySelector('meta[name=shopify-api-key]').content")
        assert page.locator("s-page").count() == 1, path
