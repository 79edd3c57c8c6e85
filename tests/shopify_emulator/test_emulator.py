"""The emulator behaves like Shopify where the app depends on it: tokens, schema validation, cost and throttling,
staged uploads, the media lifecycle, variant media rules, reorder jobs, bulk JSONL, webhooks and faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shopify_emulator import MediaStatus, ShopifyEmulator
from shopify_emulator.catalog import jpeg_bytes

KEY, SECRET = "emu-test-key-0123456789", "emu-test-secret-0123456789abcdef0123"
SHOP = "emu-test.myshopify.com"
VERSION = "2026-07"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


@pytest.fixture
def emu() -> Iterator[ShopifyEmulator]:
    emulator = ShopifyEmulator(
        KEY, SECRET, media_ready_delay=0.15, job_delay=0.05, bulk_delay=0.05, webhook_retry_delays=(0.01, 0.02, 0.04)
    )
    emulator.add_shop(SHOP)
    with emulator:
        yield emulator


def post_token(emu: ShopifyEmulator, shop: str = SHOP, **form: str) -> requests.Response:
    data = {"client_id": KEY, "client_secret": SECRET, **form}
    return requests.post(f"{emu.origin}/admin/oauth/access_token", data=data, headers={"Host": shop}, timeout=5)


def exchange(emu: ShopifyEmulator, id_token: str, shop: str = SHOP) -> requests.Response:
    return post_token(
        emu,
        shop,
        grant_type=TOKEN_EXCHANGE,
        subject_token=id_token,
        subject_token_type="urn:ietf:params:oauth:token-type:id_token",
        requested_token_type="urn:shopify:params:oauth:token-type:offline-access-token",
        expiring="1",
    )


def gql(
    emu: ShopifyEmulator,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    version: str = VERSION,
    shop: str = SHOP,
) -> requests.Response:
    return requests.post(
        f"{emu.origin}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers={"Host": shop, "X-Shopify-Access-Token": token},
        timeout=5,
    )


def first_product(emu: ShopifyEmulator):
    return next(iter(emu.shop(SHOP).products.values()))


# -- tokens ----------------------------------------------------------------------------------------------------
def test_token_exchange_then_refresh_rotates(emu: ShopifyEmulator) -> None:
    response = exchange(emu, emu.make_id_token(SHOP))
    assert response.status_code == 200
    pair = response.json()
    assert pair["expires_in"] == 3600 and pair["refresh_token"] and pair["refresh_token_expires_in"] > 0
    assert gql(emu, pair["access_token"], "query Q { shop { name } }").status_code == 200

    refreshed = post_token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert refreshed.status_code == 200
    new_pair = refreshed.json()
    assert new_pair["refresh_token"] != pair["refresh_token"]
    again = post_token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert post_token(emu, grant_type="refresh_token", refresh_token=new_pair["refresh_token"]).status_code == 200
    assert emu.stats.token_exchange == 1 and emu.stats.refresh == 2


def test_refresh_recovery_window_keeps_old_token_until_successor_used(emu: ShopifyEmulator) -> None:
    emu.refresh_recovery_window = True
    pair = exchange(emu, emu.make_id_token(SHOP)).json()
    first = post_token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"]).json()
    # the response was "lost": the old token still works once more
    second = post_token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert second.status_code == 200
    assert post_token(emu, grant_type="refresh_token", refresh_token=first["refresh_token"]).status_code == 200
    assert post_token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"]).status_code == 400


@pytest.mark.parametrize(
    ("token_kwargs", "shop", "error"),
    [
        ({"exp_in": -60}, SHOP, "invalid_subject_token"),
        ({"secret": "another-secret-0123456789abcdef0123"}, SHOP, "invalid_subject_token"),
        ({"aud": "another-app"}, SHOP, "invalid_subject_token"),
        ({"dest": "https://other.myshopify.com"}, SHOP, "invalid_subject_token"),
    ],
)
def test_token_exchange_rejects_bad_id_tokens(emu: ShopifyEmulator, token_kwargs: dict, shop: str, error: str) -> None:
    response = exchange(emu, emu.make_id_token(SHOP, **token_kwargs), shop)
    assert response.status_code == 400 and response.json()["error"] == error


def test_token_endpoint_checks_client_credentials(emu: ShopifyEmulator) -> None:
    response = requests.post(
        f"{emu.origin}/admin/oauth/access_token",
        headers={"Host": SHOP},
        timeout=5,
        json={"client_id": KEY, "client_secret": "wrong", "grant_type": "refresh_token"},
    )
    assert response.status_code == 401


def test_authorization_code_flow(emu: ShopifyEmulator) -> None:
    response = requests.get(
        f"{emu.origin}/admin/oauth/authorize",
        params={
            "client_id": KEY,
            "scope": "write_products",
            "redirect_uri": "https://app.test/cb",
            "state": "n1",
            "shop": SHOP,
        },
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    params = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
    assert params["state"] == "n1" and params["shop"] == SHOP
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    assert hmac.compare_digest(params["hmac"], hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest())
    token = post_token(emu, code=params["code"], expiring="1")
    assert token.status_code == 200 and token.json()["refresh_token"]
    assert post_token(emu, code=params["code"]).status_code == 400  # codes are single-use


def test_admin_requests_need_a_valid_token_for_that_shop(emu: ShopifyEmulator) -> None:
    emu.add_shop("other.myshopify.com", seed_products=False)
    other = emu.issue_access_token("other.myshopify.com")
    assert gql(emu, "", "query Q { shop { name } }").status_code == 401
    assert gql(emu, other, "query Q { shop { name } }").status_code == 401
    token = emu.issue_access_token(SHOP)
    emu.expire_access_tokens(SHOP)
    assert gql(emu, token, "query Q { shop { name } }").status_code == 401
    assert gql(emu, emu.issue_access_token(SHOP), "query Q { shop { name } }", version="2019-04").status_code == 404
    assert gql(emu, other, "query Q { shop { name } }", shop="unknown.myshopify.com").status_code == 404


# -- schema and cost -------------------------------------------------------------------------------------------
def test_schema_rejects_deprecated_and_unknown_fields(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    deprecated = gql(
        emu, token, "query Q($id: ID!) { product(id: $id) { featuredImage { url } } }", {"id": first_product(emu).gid}
    ).json()
    assert "deprecated" in deprecated["errors"][0]["message"] and "data" not in deprecated
    unknown = gql(emu, token, "query Q { shop { nope } }").json()
    assert "nope" in unknown["errors"][0]["message"]
    bad_vars = gql(emu, token, "query Q($id: ID!) { product(id: $id) { id } }", {}).json()
    assert bad_vars["errors"] and not bad_vars.get("data")
    emu.reject_deprecated = False  # Shopify's own behaviour: served, with a deprecation header
    response = gql(
        emu, token, "query Q($id: ID!) { product(id: $id) { featuredImage { url } } }", {"id": first_product(emu).gid}
    )
    assert "X-Shopify-API-Deprecated-Reason" in response.headers and "data" in response.json()


def test_cost_extension_requested_and_actual(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    body = gql(emu, token, "query Q { products(first: 5) { nodes { id media(first: 10) { nodes { id } } } } }").json()
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 5 * (1 + 2 + 10 * 1)
    assert cost["actualQueryCost"] < cost["requestedQueryCost"]  # products have < 10 media each
    assert cost["throttleStatus"]["maximumAvailable"] == 2000 and cost["throttleStatus"]["restoreRate"] == 100
    mutation = gql(
        emu,
        token,
        "mutation M($id: ID!) { productUpdate(product: {id: $id}) { userErrors { message } } }",
        {"id": first_product(emu).gid},
    ).json()
    assert mutation["extensions"]["cost"]["requestedQueryCost"] == 10


@pytest.mark.parametrize(
    ("plan", "rate", "size"), [("advanced", 200, 4000), ("plus", 1000, 20000), ("enterprise", 2000, 40000)]
)
def test_bucket_sizes_per_plan(emu: ShopifyEmulator, plan: str, rate: int, size: int) -> None:
    domain = f"{plan}.myshopify.com"
    emu.add_shop(domain, plan=plan, seed_products=False)
    status = gql(emu, emu.issue_access_token(domain), "query Q { shop { name } }", shop=domain).json()
    assert status["extensions"]["cost"]["throttleStatus"]["restoreRate"] == rate
    assert status["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == size


def test_throttled_when_bucket_is_empty(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    bucket = emu.shop(SHOP).bucket
    bucket.available, bucket.restore_rate = 10, 1
    response = gql(emu, token, "query Q { products(first: 50) { nodes { id } } }")
    assert response.status_code == 200
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED" and "data" not in body
    assert body["extensions"]["cost"]["actualQueryCost"] is None
    assert emu.stats.throttled == 1
    too_big = gql(emu, token, "query Q { products(first: 250) { nodes { media(first: 250) { nodes { id } } } } }")
    assert too_big.json()["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


# -- staged uploads and media ----------------------------------------------------------------------------------
STAGE = """mutation S($input: [StagedUploadInput!]!) { stagedUploadsCreate(input: $input) {
  stagedTargets { url resourceUrl parameters { name value } } userErrors { field message } } }"""
CREATE = """mutation C($id: ID!, $media: [CreateMediaInput!]!) { productUpdate(product: {id: $id}, media: $media) {
  product { media(last: 5) { nodes { id status } } } userErrors { field message } } }"""
STATUS = """query S($ids: [ID!]!) { nodes(ids: $ids) { ... on MediaImage { id status alt
  mediaErrors { code message } image { url } } } }"""


def stage(emu: ShopifyEmulator, token: str, filename: str = "pose.jpg") -> dict[str, Any]:
    body = gql(
        emu,
        token,
        STAGE,
        {"input": [{"filename": filename, "mimeType": "image/jpeg", "resource": "IMAGE", "httpMethod": "POST"}]},
    ).json()
    return body["data"]["stagedUploadsCreate"]["stagedTargets"][0]


def upload(
    target: dict[str, Any], data: bytes, *, file_last: bool = True, drop: str | None = None
) -> requests.Response:
    fields = [(p["name"], (None, p["value"])) for p in target["parameters"] if p["name"] != drop]
    file_part = ("file", ("pose.jpg", io.BytesIO(data), "image/jpeg"))
    parts = [*fields, file_part] if file_last else [file_part, *fields]
    return requests.post(target["url"], files=parts, timeout=5)


def test_staged_upload_requires_parameters_and_file_last(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    target = stage(emu, token)
    assert upload(target, jpeg_bytes(), file_last=False).status_code == 400
    assert upload(target, jpeg_bytes(), drop="policy").status_code == 400
    assert upload(target, jpeg_bytes()).status_code == 201
    assert requests.get(target["resourceUrl"], timeout=5).content == jpeg_bytes()


def test_media_lifecycle_and_failure_reason(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    product = first_product(emu)
    good, bad = stage(emu, token, "good.jpg"), stage(emu, token, "bad.jpg")
    upload(good, jpeg_bytes())
    upload(bad, b"this is not an image")
    media = [{"originalSource": t["resourceUrl"], "mediaContentType": "IMAGE", "alt": "A"} for t in (good, bad)]
    created = gql(emu, token, CREATE, {"id": product.gid, "media": media}).json()
    nodes = created["data"]["productUpdate"]["product"]["media"]["nodes"][-2:]
    assert {n["status"] for n in nodes} <= {"UPLOADED", "PROCESSING"}  # not READY yet
    ids = [n["id"] for n in nodes]
    time.sleep(0.25)
    ready, failed = gql(emu, token, STATUS, {"ids": ids}).json()["data"]["nodes"]
    assert ready["status"] == "READY" and ready["image"]["url"].startswith(emu.origin + "/cdn/")
    assert requests.get(ready["image"]["url"], timeout=5).content == jpeg_bytes()
    assert failed["status"] == "FAILED" and failed["mediaErrors"][0]["code"] == "UNSUPPORTED_IMAGE_FILE_TYPE"
    gallery = emu.shop(SHOP).gallery(product)
    assert [m.filename for m in gallery[-2:]] == ["good.jpg", "bad.jpg"]
    assert gallery[-2].status() == MediaStatus.READY


def test_variant_media_rules(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    product = first_product(emu)
    variant = product.variants[0]
    assert variant.media_ids  # seeded with its own image
    target = stage(emu, token)
    upload(target, jpeg_bytes())
    created = gql(
        emu,
        token,
        CREATE,
        {"id": product.gid, "media": [{"originalSource": target["resourceUrl"], "mediaContentType": "IMAGE"}]},
    ).json()
    new_id = created["data"]["productUpdate"]["product"]["media"]["nodes"][-1]["id"]
    append = """mutation A($p: ID!, $vm: [ProductVariantAppendMediaInput!]!) {
      productVariantAppendMedia(productId: $p, variantMedia: $vm) { userErrors { code field message } } }"""
    detach = """mutation D($p: ID!, $vm: [ProductVariantDetachMediaInput!]!) {
      productVariantDetachMedia(productId: $p, variantMedia: $vm) { userErrors { code field message } } }"""
    pair = {"p": product.gid, "vm": [{"variantId": variant.gid, "mediaIds": [new_id]}]}

    def codes(doc: str, variables: dict[str, Any], field: str) -> list[str]:
        body = gql(emu, token, doc, variables).json()
        return [e["code"] for e in body["data"][field]["userErrors"]]

    assert codes(append, pair, "productVariantAppendMedia") == ["NON_READY_MEDIA"]
    time.sleep(0.2)
    assert codes(append, pair, "productVariantAppendMedia") == ["PRODUCT_VARIANT_ALREADY_HAS_MEDIA"]
    two = {"p": product.gid, "vm": [{"variantId": variant.gid, "mediaIds": [new_id, variant.media_ids[0]]}]}
    assert codes(append, two, "productVariantAppendMedia") == ["TOO_MANY_MEDIA_PER_INPUT_PAIR"]
    old = {"p": product.gid, "vm": [{"variantId": variant.gid, "mediaIds": list(variant.media_ids)}]}
    assert codes(detach, old, "productVariantDetachMedia") == []
    assert codes(append, pair, "productVariantAppendMedia") == []
    assert variant.media_ids == [new_id]


def test_reorder_returns_a_job_to_poll(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    product = next(p for p in emu.shop(SHOP).products.values() if len(p.media_ids) == 3)
    last = product.media_ids[-1]
    body = gql(
        emu,
        token,
        """mutation R($id: ID!, $moves: [MoveInput!]!) { productReorderMedia(id: $id, moves: $moves)
      { job { id done } mediaUserErrors { code } } }""",
        {"id": product.gid, "moves": [{"id": last, "newPosition": "0"}]},
    ).json()
    job = body["data"]["productReorderMedia"]["job"]
    assert job["done"] is False and product.media_ids[0] == last
    time.sleep(0.08)
    polled = gql(emu, token, "query J($id: ID!) { job(id: $id) { done } }", {"id": job["id"]}).json()
    assert polled["data"]["job"]["done"] is True


def test_file_delete_removes_from_gallery_and_variants(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    product = first_product(emu)
    victim = product.variants[0].media_ids[0]
    body = gql(
        emu, token, "mutation D($ids: [ID!]!) { fileDelete(fileIds: $ids) { deletedFileIds } }", {"ids": [victim]}
    ).json()
    assert body["data"]["fileDelete"]["deletedFileIds"] == [victim]
    assert victim not in product.media_ids and not product.variants[0].media_ids


# -- catalog ----------------------------------------------------------------------------------------------------
def test_products_pagination_and_bulk_jsonl(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    emu.add_products(SHOP, 25)
    seen, after = [], None
    while True:
        page = gql(
            emu,
            token,
            """query P($after: String) { products(first: 10, after: $after) {
          nodes { id } pageInfo { hasNextPage endCursor } } }""",
            {"after": after},
        ).json()["data"]["products"]
        seen += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 33
    inner = "{ products { edges { node { id title media { edges { node { id } } } } } } }"
    run = gql(
        emu,
        token,
        """mutation B($q: String!) { bulkOperationRunQuery(query: $q, groupObjects: false) {
      bulkOperation { id status } userErrors { message } } }""",
        {"q": inner},
    ).json()
    op_id = run["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
    time.sleep(0.08)
    status = gql(
        emu, token, "query S($id: ID!) { bulkOperation(id: $id) { status url rootObjectCount } }", {"id": op_id}
    ).json()["data"]["bulkOperation"]
    assert status["status"] == "COMPLETED" and status["rootObjectCount"] == "33"
    lines = [json.loads(line) for line in requests.get(status["url"], timeout=5).text.splitlines()]
    parents = {line["id"] for line in lines if "__parentId" not in line}
    children = [line for line in lines if "__parentId" in line]
    assert len(parents) == 33 and children and all(c["__parentId"] in parents for c in children)


# -- webhooks and faults ---------------------------------------------------------------------------------------
class Receiver:
    """A tiny HTTP endpoint that answers the statuses queued in `plan`, then 200, and records deliveries."""

    def __init__(self, plan: list[int]):
        self.plan = list(plan)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append((dict(request.headers), request.get_data()))
        status = self.plan.pop(0) if self.plan else 200
        return Response("", status=status)(environ, start_response)


def test_send_webhook_signs_and_retries(emu: ShopifyEmulator) -> None:
    receiver = Receiver([500, 302])
    try:
        response = emu.send_webhook("products/update", SHOP, {"id": 1}, address=receiver.url)
        assert response is not None and response.status_code == 200
        assert len(receiver.received) == 3
        headers, body = receiver.received[-1]
        expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        assert headers["X-Shopify-Hmac-Sha256"] == expected
        assert headers["X-Shopify-Topic"] == "products/update" and headers["X-Shopify-Shop-Domain"] == SHOP
        assert len({h["X-Shopify-Event-Id"] for h, _ in receiver.received}) == 1  # same event on every retry
        assert {"X-Shopify-Webhook-Id", "X-Shopify-Triggered-At", "X-Shopify-Api-Version"} <= set(headers)
    finally:
        receiver.server.shutdown()


def test_media_changes_fire_products_update(emu: ShopifyEmulator) -> None:
    receiver = Receiver([])
    emu.webhook_url = receiver.url
    try:
        token = emu.issue_access_token(SHOP)
        product = first_product(emu)
        victim = product.media_ids[-1]
        gql(emu, token, "mutation D($ids: [ID!]!) { fileDelete(fileIds: $ids) { deletedFileIds } }", {"ids": [victim]})
        emu.wait_for_webhooks()
        topics = [h["X-Shopify-Topic"] for h, _ in receiver.received]
        assert topics == ["products/update"]
        payload = json.loads(receiver.received[0][1])
        assert payload["admin_graphql_api_id"] == product.gid
        assert victim not in [m["admin_graphql_api_id"] for m in payload["media"]]
    finally:
        receiver.server.shutdown()


def test_forced_faults(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    emu.faults.retry_after = 0.5
    emu.faults.force("http_429")
    limited = gql(emu, token, "query Q { shop { name } }")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "0.5"
    emu.faults.force("http_5xx")
    assert gql(emu, token, "query Q { shop { name } }").status_code >= 500
    emu.faults.force("throttled")
    assert gql(emu, token, "query Q { shop { name } }").json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    emu.faults.configure(timeout_sleep=0.6)
    emu.faults.force("timeout")
    with pytest.raises(requests.Timeout):
        requests.post(
            f"{emu.origin}/admin/api/{VERSION}/graphql.json",
            json={"query": "query Q { shop { name } }"},
            headers={"Host": SHOP, "X-Shopify-Access-Token": token},
            timeout=0.3,
        )
    assert gql(emu, token, "query Q { shop { name } }").status_code == 200
