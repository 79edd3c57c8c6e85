"""The pose editor checks a reference photo's size before uploading it: a photo over the limit is refused on the
page with the limit in the message, and nothing is sent (the server would answer 413 before reading it anyway)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

LIMIT = 64 * 1024


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "POSE_STUDIO_MAX_PHOTO_BYTES": LIMIT}


def test_a_photo_over_the_limit_is_refused_before_upload(open_page: Any) -> None:
    page = open_page("/pose-sets/editor")
    page.wait_for_selector(".ps-editor-handle")
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" and "/api/pose-sets" in r.url else None)
    page.locator("#editor-photo-drop input[type=file]").set_input_files(
        {"name": "big.png", "mimeType": "image/png", "buffer": b"\x89PNG" + b"\0" * (LIMIT + 1)})
    banner = page.locator("#editor-photo-state [data-state=error]")
    banner.wait_for()
    assert "over 0.1 MB" in banner.inner_text()
    assert uploads == []
    assert page.js_errors == []
