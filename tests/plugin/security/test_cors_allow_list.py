"""CORS on /api/* answers an allow-list of exact origins (POSE_STUDIO_CORS_ORIGINS), not one hard-wired origin."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.config import load_config
from plugin.errors import ConfigError
from tests.plugin.conftest import add_probe_routes

DEV_TUNNEL = "https://pose-dev.trycloudflare.com"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "POSE_STUDIO_CORS_ORIGINS": f"https://extensions.shopifycdn.com, {DEV_TUNNEL}"}


@pytest.fixture
def probe(app: Any) -> Any:
    add_probe_routes(app)
    return app.test_client()


@pytest.mark.parametrize("origin", ["https://extensions.shopifycdn.com", DEV_TUNNEL])
def test_every_listed_origin_gets_the_grant(probe: Any, make_shop: Any, id_token: Any, origin: str) -> None:
    preflight = probe.options("/api/anything", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    make_shop("pose-studio-test.myshopify.com")
    response = probe.get("/api/_probe", headers={"Authorization": f"Bearer {id_token()}", "Origin": origin})
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "https://pose-dev.trycloudflare.com.evil.example", "http://pose-dev.trycloudflare.com"],
)
def test_an_origin_off_the_list_gets_nothing(probe: Any, origin: str) -> None:
    response = probe.options("/api/anything", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("bad", ["https://*.trycloudflare.com", "https://host/path", "extensions.shopifycdn.com"])
def test_anything_but_an_exact_origin_is_a_startup_error(app_config: dict[str, Any], bad: str) -> None:
    with pytest.raises(ConfigError, match="POSE_STUDIO_CORS_ORIGINS"):
        load_config({**app_config, "POSE_STUDIO_CORS_ORIGINS": bad}, environ={})
