"""frame-ancestors on every HTML response (per shop, no wildcard) and CORS for admin UI extensions on /api/*."""

from __future__ import annotations

from typing import Any

import pytest

from tests.plugin.conftest import add_probe_routes

ADMIN_ONLY = "frame-ancestors https://admin.shopify.com;"


@pytest.fixture
def probe(app: Any) -> Any:
    add_probe_routes(app)
    return app.test_client()


def test_each_shop_gets_its_own_frame_ancestors(probe: Any, make_shop: Any, id_token: Any) -> None:
    for domain in ("alpha.myshopify.com", "beta.myshopify.com"):
        make_shop(domain)
        response = probe.get(f"/_probe/page?shop={domain}&id_token={id_token(domain)}")
        assert response.status_code == 200
        assert response.headers["Content-Security-Policy"] == (
            f"frame-ancestors https://{domain} https://admin.shopify.com;"
        )


@pytest.mark.parametrize("query", ["", "?shop=unknown.myshopify.com", "?shop=evil.com", "?shop=*",
                                   "?shop=gone.myshopify.com"])
def test_unknown_shop_gets_admin_only(probe: Any, make_shop: Any, query: str) -> None:
    make_shop("gone.myshopify.com", installed=False)
    response = probe.get(f"/_probe/public{query}")
    assert response.headers["Content-Security-Policy"] == ADMIN_ONLY


def test_known_shop_in_query_of_a_public_page(probe: Any, make_shop: Any) -> None:
    make_shop("alpha.myshopify.com")
    response = probe.get("/_probe/public?shop=alpha.myshopify.com")
    assert response.headers["Content-Security-Policy"] == (
        "frame-ancestors https://alpha.myshopify.com https://admin.shopify.com;"
    )


def test_token_for_one_shop_cannot_claim_another_in_csp(probe: Any, make_shop: Any, id_token: Any) -> None:
    make_shop("alpha.myshopify.com")
    make_shop("beta.myshopify.com")
    response = probe.get(f"/_probe/page?shop=beta.myshopify.com&id_token={id_token('alpha.myshopify.com')}")
    assert "https://alpha.myshopify.com " in response.headers["Content-Security-Policy"]
    assert "beta" not in response.headers["Content-Security-Policy"]


def test_cors_preflight_for_admin_extensions(probe: Any) -> None:
    response = probe.options("/api/anything", headers={
        "Origin": "https://extensions.shopifycdn.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    })
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://extensions.shopifycdn.com"
    assert {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")} >= {
        "authorization", "content-type"}
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_cors_preflight_from_another_origin_gets_no_grant(probe: Any) -> None:
    response = probe.options("/api/anything", headers={"Origin": "https://evil.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_api_response_carries_cors_for_extensions(probe: Any, make_shop: Any, id_token: Any) -> None:
    make_shop("pose-studio-test.myshopify.com")
    response = probe.get("/api/_probe", headers={"Authorization": f"Bearer {id_token()}",
                                                 "Origin": "https://extensions.shopifycdn.com"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://extensions.shopifycdn.com"
