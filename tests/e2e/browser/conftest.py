"""Browser fixtures: the app served by a real werkzeug server in a thread, the Shopify emulator behind it, and
headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

The Shopify CDN cannot be reached from tests, so the two CDN scripts are answered by local stand-ins
(`standins/app-bridge.js`, `standins/polaris.js`) through `page.route`; the production pages keep loading the real
CDN URLs. The App Bridge stand-in gets its ID tokens from the test (`window.__poseStudioIdToken`, a Playwright
binding that signs a fresh token for the emulator's shop), exactly as App Bridge gets them from the admin.

Every request to any other host is aborted, so a page that depends on something outside fails loudly.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tests.conftest import TEST_API_KEY, TEST_API_SECRET, TEST_SHOP

STANDINS = Path(__file__).resolve().parent / "standins"
# Tests never write into tracked files: renders go to out/screenshots/ (ignored) unless the maintainer asks to
# refresh the README's pictures with POSE_STUDIO_UPDATE_SCREENSHOTS=1.
REPO_ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO_ROOT / ("docs" if os.environ.get("POSE_STUDIO_UPDATE_SCREENSHOTS") == "1" else "out") / "screenshots"
APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
POLARIS_URL = "https://cdn.shopify.com/shopifycloud/polaris.js"
CHROMIUM = os.environ.get("POSE_STUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip

pytestmark = pytest.mark.browser


def _chromium_or_fail() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if path is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (or set POSE_STUDIO_CHROMIUM)")
    return path


class _LazyApp:
    """WSGI callable bound after the server exists: the app's config needs the server's port first."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture
def _server() -> Iterator[tuple[BaseWSGIServer, _LazyApp]]:
    holder = _LazyApp()
    server = make_server("127.0.0.1", 0, holder, threaded=True)
    yield server, holder
    server.server_close()


@pytest.fixture
def emulator() -> Iterator[Any]:
    from shopify_emulator import ShopifyEmulator

    emu = ShopifyEmulator(TEST_API_KEY, TEST_API_SECRET)
    emu.start()
    emu.add_shop(TEST_SHOP)
    yield emu
    emu.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], _server: tuple[BaseWSGIServer, _LazyApp], emulator: Any) -> dict[str, Any]:
    server, _ = _server
    return {
        **app_config,
        "SHOPIFY_APP_URL": f"http://127.0.0.1:{server.server_port}",
        "SHOPIFY_ADMIN_ORIGIN": emulator.origin,
    }


@pytest.fixture
def live_server(app: Any, _server: tuple[BaseWSGIServer, _LazyApp]) -> Iterator[str]:
    """The app on http://127.0.0.1:PORT, served by werkzeug in a thread (one thread per request)."""
    server, holder = _server
    holder.app = app
    thread = threading.Thread(target=server.serve_forever, name="live-app", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = _chromium_or_fail()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def mint_token(emulator: Any) -> Callable[[], str]:
    """A fresh App Bridge ID token for the test shop, as the admin hands one to App Bridge."""
    return lambda: emulator.make_id_token(TEST_SHOP)


def new_tab(browser: Any, mint_token: Callable[[], str]) -> tuple[Any, Any]:
    """(context, page): a tab as the Shopify admin's iframe would be: App Bridge and Polaris stand-ins, ID tokens
    from `mint_token`, nothing external."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.expose_function("__poseStudioIdToken", mint_token)

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url == APP_BRIDGE_URL:
            request_route.fulfill(path=str(STANDINS / "app-bridge.js"), content_type="text/javascript")
        elif url == POLARIS_URL:
            request_route.fulfill(path=str(STANDINS / "polaris.js"), content_type="text/javascript")
        elif urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            request_route.abort()

    tab.route("**/*", route)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.js_errors = errors
    return context, tab


@pytest.fixture
def page(browser: Any, live_server: str, mint_token: Callable[[], str]) -> Iterator[Any]:
    context, tab = new_tab(browser, mint_token)
    yield tab
    context.close()


def page_opener(page: Any, base_url: str, shop: str, mint_token: Callable[[], str]) -> Callable[..., Any]:
    """open_page('/products', **query): load a page as the admin does (?shop=…&host=…&embedded=1&id_token=…)."""

    def go(path: str, **query: str) -> Any:
        params = {"embedded": "1", "shop": shop, "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvcG9zZS1zdHVkaW8tdGVzdA",
                  "id_token": mint_token(), **query}  # fmt: skip
        page.goto(f"{base_url}{path}?{urlencode(params)}")
        return page

    return go


@pytest.fixture
def open_page(page: Any, live_server: str, mint_token: Callable[[], str]) -> Callable[..., Any]:
    return page_opener(page, live_server, TEST_SHOP, mint_token)


def screenshot(page: Any, name: str) -> Path:
    """Save <name>.png (full page) into SCREENSHOTS after fonts and images settled."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(path), full_page=True)
    return path
