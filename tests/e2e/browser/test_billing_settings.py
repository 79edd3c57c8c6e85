"""Settings with usage billing on, in a real browser: the "Generation is paused" banner and the approve button before
the plan is approved; Shopify's approval page reached from the button; usage and cap shown afterwards."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser.conftest import screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "POSE_STUDIO_BILLING": "usage", "POSE_STUDIO_BILLING_PRICE": "0.40",
            "POSE_STUDIO_BILLING_CAP": "1.00", "POSE_STUDIO_BILLING_TEST": "1"}  # fmt: skip


def test_approve_the_plan_from_settings_then_see_usage_and_cap(open_page: Any, emulator: Any) -> None:
    page = open_page("/settings")
    page.wait_for_selector("#billing-region [data-state=billing-paused]")
    assert "Approve the Pose Studio plan" in page.locator("#billing-region").inner_text()
    screenshot(page, "settings-billing")
    page.locator("#billing-approve").click()
    page.wait_for_url("**/settings?shop=*billing=returned*")  # approved on Shopify's page, sent back to the app
    [subscription] = emulator.shop("pose-studio-test.myshopify.com").subscriptions.values()
    assert subscription.status == "ACTIVE" and subscription.test

    page = open_page("/settings")
    page.wait_for_selector("#billing-region [data-billing=usage]")
    text = page.locator("#billing-region").inner_text()
    assert "Used this period: 0.00 of 1.00 USD (1.00 USD left)." in text
    assert "0.40 USD per published image" in text
    assert page.locator("#billing-region [data-state=billing-paused]").count() == 0
    assert page.js_errors == []
