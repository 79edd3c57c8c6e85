"""Fixtures of the plugin's own tests: the Shopify emulator and small probe routes behind the session decorators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import g, jsonify

from tests.conftest import APP_CONFIG, TEST_API_KEY, TEST_API_SECRET


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[Any]:
    from shopify_emulator import ShopifyEmulator

    emu = ShopifyEmulator(TEST_API_KEY, TEST_API_SECRET, app_config=APP_CONFIG)
    emu.start()
    yield emu
    emu.stop()  # stopping costs ~0.5 s (serve_forever's poll interval), so once per session


@pytest.fixture
def emulator(_emulator_server: Any) -> Any:
    """The session's emulator with its counters reset (add the shops a test needs with add_shop)."""
    _emulator_server.stats.reset()
    return _emulator_server


def add_probe_routes(app: Any) -> None:
    """`/api/_probe` (require_session), `/_probe/page` (require_page_session), `/_probe/public` (no auth)."""
    from plugin.shopify.auth import require_page_session, require_session

    @require_session
    def api_probe() -> Any:
        return jsonify({"shop": g.shop.domain, "shop_id": g.shop.id, "user": g.shopify_user_id})

    @require_page_session
    def page_probe() -> str:
        return f"<html><body>{g.shop.domain}</body></html>"

    def public_probe() -> str:
        return "<html><body>public</body></html>"

    app.add_url_rule("/api/_probe", "api_probe", api_probe, methods=["GET", "POST"])
    app.add_url_rule("/_probe/public", "public_probe", public_probe)
    app.add_url_rule("/_probe/page", "page_probe", page_probe)
