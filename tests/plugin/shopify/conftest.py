"""Fixtures for the Shopify client tests: a running emulator with one seeded shop, and client factories.

- `emulator`: a started ShopifyEmulator (the app's test API key/secret, shop TEST_SHOP seeded with 8 products,
  short media/job/bulk delays, compressed webhook retries); stopped after the test.
- `admin_client(**options)`: an AdminClient for TEST_SHOP against the emulator with a valid token and fast
  backoff; pass redis=... to share pacing.
None of this needs the Flask app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from plugin.shopify.admin_api import AdminApiMetrics, AdminClient
from shopify_emulator import ShopifyEmulator
from tests.conftest import TEST_API_KEY, TEST_API_SECRET, TEST_SHOP

API_VERSION = "2026-07"


@pytest.fixture
def emulator() -> Iterator[ShopifyEmulator]:
    emu = ShopifyEmulator(
        TEST_API_KEY,
        TEST_API_SECRET,
        media_ready_delay=0.1,
        job_delay=0.02,
        bulk_delay=0.05,
        webhook_retry_delays=(0.01, 0.02, 0.05),
    )
    emu.add_shop(TEST_SHOP)
    emu.faults.configure(retry_after=0.05, timeout_sleep=0.5)
    with emu:
        yield emu


@pytest.fixture
def admin_client(emulator: ShopifyEmulator) -> Callable[..., AdminClient]:
    def make(shop: str = TEST_SHOP, **options: Any) -> AdminClient:
        token = emulator.issue_access_token(shop)
        defaults: dict[str, Any] = {
            "api_version": API_VERSION,
            "admin_origin": emulator.origin,
            "timeout": (1.0, 0.3),
            "backoff_base_s": 0.01,
            "backoff_cap_s": 0.05,
            "metrics": AdminApiMetrics(),
        }
        defaults.update(options)
        return AdminClient(shop, lambda: token, **defaults)

    return make
