"""shopify.app.toml, the configuration `shopify app deploy` pushes: no deprecated keys, every topic the app handles,
and the webhook API version the app itself speaks."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from plugin.config import DEFAULT_API_VERSION

APP_TOML = Path(__file__).resolve().parents[3] / "shopify.app.toml"


def _config() -> dict[str, Any]:
    return tomllib.loads(APP_TOML.read_text())


def test_no_include_config_on_deploy() -> None:
    # Deprecated: the CLI always includes the app configuration on deploy and warns about the flag.
    assert "include_config_on_deploy" not in _config().get("build", {})


def test_scopes_update_is_subscribed_with_the_app_api_version() -> None:
    webhooks = _config()["webhooks"]
    topics = {t for s in webhooks["subscriptions"] for t in s.get("topics", [])}
    assert "app/scopes_update" in topics
    # Shopify signs deliveries with this version (X-Shopify-API-Version): it must be the one our parsers expect.
    assert webhooks["api_version"] == DEFAULT_API_VERSION
