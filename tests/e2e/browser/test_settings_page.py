"""Settings in a real browser: the saved values (file format included) load into the form, a change is saved and
survives a reload, and an invalid daily limit is refused with a message next to the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_settings_save_and_reload(open_page: Any) -> None:
    page = open_page("/settings")
    page.wait_for_selector("#settings-form:not([hidden])")
    assert page.get_by_label("Off: only when I ask").is_checked()
    screenshot(page, "settings")

    page.get_by_label("For new products", exact=True).check()
    page.get_by_label("Only products with these tags").fill("summer, lookbook")
    page.get_by_label("Publish images that pass the quality check; the rest wait for review").check()
    page.get_by_label("Image size").select_option("2048")
    assert page.get_by_label("File format").input_value() == "png"
    page.get_by_label("File format").select_option("webp")
    page.get_by_label("Daily generation limit").fill("25")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("#settings-result [data-state=success]")

    page = open_page("/settings")
    page.wait_for_selector("#settings-form:not([hidden])")
    assert page.get_by_label("For new products", exact=True).is_checked()
    assert page.get_by_label("Only products with these tags").input_value() == "summer, lookbook"
    assert page.get_by_label("Image size").input_value() == "2048"
    assert page.get_by_label("File format").input_value() == "webp"
    assert page.get_by_label("Daily generation limit").input_value() == "25"
    assert page.get_by_label("Publish images that pass the quality check; the rest wait for review").is_checked()
    assert page.js_errors == []


def test_invalid_daily_limit_is_refused_next_to_the_field(open_page: Any) -> None:
    page = open_page("/settings")
    page.wait_for_selector("#settings-form:not([hidden])")
    page.get_by_label("Daily generation limit").fill("-3")
    page.get_by_role("button", name="Save").click()
    assert page.locator("#settings-daily-limit").get_attribute("error") == "Enter a whole number from 0 to 100000."
    assert page.locator("#settings-result").inner_text() == ""
