"""Every page loads in a real browser with the stand-ins, authenticates through the ID token and shows content."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_pose_sets_gallery_draws_every_pose(open_page: Any) -> None:
    page = open_page("/pose-sets")
    page.wait_for_selector("[data-set] .ps-pose-card svg line")
    cards = page.locator(".ps-pose-card")
    assert cards.count() >= 5
    screenshot(page, "pose-sets")
    assert page.js_errors == []
