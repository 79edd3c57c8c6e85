"""App Bridge ID token verification through the public decorators (`require_session`, `require_page_session`)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import TEST_API_SECRET, TEST_SHOP, sign_id_token
from tests.plugin.conftest import add_probe_routes

PREVIOUS_SECRET = "previous-secret-abcdef0123456789abcdef"
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # A closed port: any token exchange attempt fails fast instead of reaching the internet.
    return {**app_config, "SHOPIFY_API_SECRET_PREVIOUS": PREVIOUS_SECRET, "SHOPIFY_ADMIN_ORIGIN": "http://127.0.0.1:9"}


@pytest.fixture
def probe(app: Any, make_shop: Any) -> Any:
    add_probe_routes(app)
    make_shop(TEST_SHOP)
    return app.test_client()


def _unsigned(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": f"https://{TEST_SHOP}/admin", "dest": f"https://{TEST_SHOP}", "aud": "test-api-key-0123456789abcdef",
        "sub": "42", "exp": now + 60, "nbf": now, "iat": now, "jti": "j", "sid": "s",
    }
    claims.update(overrides)
    return claims


CASES = [
    # (case id, builder(id_token) -> token, accepted)
    ("valid", lambda t: t(), True),
    ("expired", lambda t: t(expires_in=-30), False),
    ("expired within 10 s leeway", lambda t: t(expires_in=-5), True),
    ("nbf in the future within leeway", lambda t: t(nbf_offset=5), True),
    ("nbf in the future beyond leeway", lambda t: t(nbf_offset=60), False),
    ("wrong aud", lambda t: t(aud="someone-elses-app"), False),
    ("alg none", lambda t: sign_id_token(_unsigned(), "", algorithm="none"), False),
    ("HS512 instead of HS256", lambda t: sign_id_token(_unsigned(), TEST_API_SECRET, algorithm="HS512"), False),
    ("wrong secret", lambda t: t(secret="not-the-app-secret-0123456789abcdef"), False),
    ("previous secret during rotation", lambda t: t(secret=PREVIOUS_SECRET), True),
    ("iss shop differs from dest shop", lambda t: t(iss="https://other-shop.myshopify.com/admin"), False),
    ("dest is not a myshopify domain", lambda t: t(dest="https://evil.com", iss="https://evil.com/admin"), False),
    ("dest with a suffix trick", lambda t: t(dest=f"https://{TEST_SHOP}.evil.com",
                                              iss=f"https://{TEST_SHOP}.evil.com/admin"), False),
    ("missing exp", lambda t: t(exp=None), False),
    ("malformed: not a JWT", lambda t: "not-a-jwt", False),
    ("malformed: garbage segments", lambda t: "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", False),
]


@pytest.mark.parametrize(("builder", "accepted"), [(b, a) for _, b, a in CASES], ids=[c[0] for c in CASES])
def test_api_session_token_table(probe: Any, id_token: Any, builder: Any, accepted: bool) -> None:
    response = probe.get("/api/_probe", headers={"Authorization": f"Bearer {builder(id_token)}"})
    if accepted:
        assert response.status_code == 200, response.data
        assert response.json["shop"] == TEST_SHOP
        assert response.json["user"] == "42"
    else:
        assert response.status_code == 401
        assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


def test_api_without_authorization_is_401_with_retry_header(probe: Any, id_token: Any) -> None:
    # An id_token in the query does not authenticate an API call.
    response = probe.get(f"/api/_probe?id_token={id_token()}")
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


def test_shop_comes_from_dest_never_from_the_query(probe: Any, make_shop: Any, id_token: Any) -> None:
    make_shop("victim.myshopify.com")
    response = probe.get("/api/_probe?shop=victim.myshopify.com",
                         headers={"Authorization": f"Bearer {id_token()}"})
    assert response.json["shop"] == TEST_SHOP


def test_unknown_shop_whose_exchange_fails_is_rejected(probe: Any, id_token: Any) -> None:
    response = probe.get("/api/_probe", headers={"Authorization": f"Bearer {id_token('stranger.myshopify.com')}"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "shop_not_installed"
    assert "Shopify admin" in response.json["error"]["message"]


def test_uninstalled_shop_is_rejected(probe: Any, make_shop: Any, id_token: Any) -> None:
    make_shop("gone.myshopify.com", installed=False)
    response = probe.get("/api/_probe", headers={"Authorization": f"Bearer {id_token('gone.myshopify.com')}"})
    assert response.status_code == 401


def test_page_with_valid_id_token_renders_with_frame_ancestors(probe: Any, id_token: Any) -> None:
    response = probe.get(f"/_probe/page?shop={TEST_SHOP}&id_token={id_token()}")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{TEST_SHOP} https://admin.shopify.com;"
    )
    assert "app-bridge.js" in response.headers["Link"]


@pytest.mark.parametrize("token_kind", ["missing", "expired", "forged"])
def test_page_with_bad_id_token_bounces_to_patch_page(probe: Any, id_token: Any, token_kind: str) -> None:
    token = {"missing": "", "expired": id_token(expires_in=-60),
             "forged": id_token(secret="forged-secret-0123456789abcdef0123")}[token_kind]
    response = probe.get(f"/_probe/page?shop={TEST_SHOP}&tab=2&id_token={token}")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/patch-id-token"
    query = parse_qs(location.query)
    assert query["shopify-reload"] == [f"/_probe/page?shop={TEST_SHOP}&tab=2"]
    assert "id_token" not in query

    bounce = probe.get(response.headers["Location"].removeprefix("https://pose-studio.test"))
    assert bounce.status_code == 200
    assert b"app-bridge.js" in bounce.data
    assert bounce.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{TEST_SHOP} https://admin.shopify.com;"
    )


@pytest.mark.parametrize("reload_target", [
    "https://evil.com/", "//evil.com/x", "", "/\\evil.com", "/\\evil.com/x?y=1", "\\\\evil.com", "/\t/evil.com",
    "/\n/evil.com", "/\r\n/evil.com", "\t//evil.com", "/%5Cevil.com", "/%09/evil.com", " /x", "/x\x00",
    "javascript:alert(1)", "/x\x7f", "evil.com", "http:/evil.com",
])  # fmt: skip
def test_patch_page_refuses_offsite_reload(probe: Any, reload_target: str) -> None:
    response = probe.get("/auth/patch-id-token", query_string={"shop": TEST_SHOP, "shopify-reload": reload_target})
    assert response.status_code == 400


def test_patch_page_refuses_a_second_reload_target(probe: Any) -> None:
    response = probe.get("/auth/patch-id-token",
                         query_string=[("shop", TEST_SHOP), ("shopify-reload", "/app"),
                                       ("shopify-reload", "https://evil.com/")])  # fmt: skip
    assert response.status_code == 400


def test_patch_page_accepts_a_path_with_its_query(probe: Any) -> None:
    response = probe.get("/auth/patch-id-token",
                         query_string={"shop": TEST_SHOP, "shopify-reload": f"/app?shop={TEST_SHOP}&tab=2"})
    assert response.status_code == 200
