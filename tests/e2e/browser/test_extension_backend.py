"""The backend side of the admin action extensions (extensions/): they run on https://extensions.shopifycdn.com and
call /api/bulk and /api/jobs with fetch(), so the API must answer the CORS preflight, let the extension read the
retry header, refuse requests without a valid bearer ID token, and accept the bulk request the extension sends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TEST_SHOP

EXTENSION_ORIGIN = "https://extensions.shopifycdn.com"


@pytest.mark.parametrize("path", ["/api/bulk", "/api/jobs", "/api/pose-sets", "/api/bulk/1"])
def test_preflight_from_the_extension_origin_is_allowed(client: Any, path: str) -> None:
    response = client.options(path, headers={
        "Origin": EXTENSION_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })  # fmt: skip
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == EXTENSION_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "X-Shopify-Retry-Invalid-Session-Request" in response.headers["Access-Control-Expose-Headers"]


def test_preflight_from_another_origin_gets_no_cors_grant(client: Any) -> None:
    response = client.options("/api/bulk", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
    })  # fmt: skip
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"])
def test_bulk_without_a_valid_bearer_token_is_refused_readably(client: Any, authorization: str | None) -> None:
    headers = {"Origin": EXTENSION_ORIGIN, "Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    response = client.post("/api/bulk", json={"selected": ["gid://shopify/Product/1"], "pose_set": "catalog-basics"},
                           headers=headers)
    assert response.status_code == 401
    # the extension can read both the refusal and App Bridge's retry hint across origins
    assert response.headers["Access-Control-Allow-Origin"] == EXTENSION_ORIGIN
    assert response.headers.get("X-Shopify-Retry-Invalid-Session-Request") == "1"


def test_bulk_with_a_token_signed_by_another_secret_is_refused(client: Any, emulator: Any) -> None:
    token = emulator.make_id_token(TEST_SHOP, secret="not-the-app-secret-0123456789abcdef")
    response = client.post("/api/bulk", json={"selected": ["gid://shopify/Product/1"], "pose_set": "catalog-basics"},
                           headers={"Origin": EXTENSION_ORIGIN, "Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_bulk_request_as_the_extension_sends_it_is_accepted(client: Any, emulator: Any, live_server: str) -> None:
    products = [p.gid for p in list(emulator.shop(TEST_SHOP).products.values())[:2]]
    token = emulator.make_id_token(TEST_SHOP)
    response = client.post("/api/bulk", json={"selected": products, "pose_set": "catalog-basics"},
                           headers={"Origin": EXTENSION_ORIGIN, "Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.get_json()
    assert response.headers["Access-Control-Allow-Origin"] == EXTENSION_ORIGIN
    body = response.get_json()
    assert body["id"] and body["pose_set"] == "catalog-basics"
    again = {"Origin": EXTENSION_ORIGIN, "Authorization": f"Bearer {emulator.make_id_token(TEST_SHOP)}"}
    followed = client.get(f"/api/bulk/{body['id']}", headers=again)
    assert followed.status_code == 200
    assert 0 <= followed.get_json()["progress"] <= 100
