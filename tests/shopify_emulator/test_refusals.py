"""The emulator refuses what Shopify refuses: scopes from the schema's access metadata, Bulk Operations limits,
refresh failures after the token was consumed, short-lived original-source URLs, and webhook delivery that is
late, duplicated or out of order."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from shopify_emulator import ShopifyEmulator
from tests.shopify_emulator.test_emulator import (
    KEY,
    SECRET,
    SHOP,
    Receiver,
    exchange,
    first_product,
    gql,
    post_token,
)


@pytest.fixture
def emu() -> Iterator[ShopifyEmulator]:
    emulator = ShopifyEmulator(
        KEY, SECRET, media_ready_delay=0.15, job_delay=0.05, bulk_delay=0.3, webhook_retry_delays=(0.01, 0.02, 0.04)
    )
    emulator.add_shop(SHOP)
    with emulator:
        yield emulator


# -- refresh tokens ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_refresh_answer_lost_after_rotation_consumes_the_token(emu: ShopifyEmulator, status: int) -> None:
    pair = exchange(emu, emu.make_id_token(SHOP)).json()
    emu.lose_refresh_answers(SHOP, times=1, status=status)
    lost = post_token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert lost.status_code == status and "access_token" not in lost.text
    again = post_token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # consumed by the lost rotation
    assert emu.stats.refresh == 1 and emu.stats.refresh_answers_lost == 1


def test_with_the_recovery_window_the_consumed_token_works_once_more(emu: ShopifyEmulator) -> None:
    emu.refresh_recovery_window = True
    pair = exchange(emu, emu.make_id_token(SHOP)).json()
    emu.lose_refresh_answers(SHOP)
    assert post_token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"]).status_code == 502
    retry = post_token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert retry.status_code == 200 and gql(emu, retry.json()["access_token"], "{ shop { name } }").ok


def test_refresh_refused_with_401_invalid_request(emu: ShopifyEmulator) -> None:
    pair = exchange(emu, emu.make_id_token(SHOP)).json()
    emu.refuse_refresh(SHOP, 401, "invalid_request")
    refused = post_token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_request"


# -- access scopes ----------------------------------------------------------------------------------------------
def test_a_field_outside_the_tokens_scopes_is_access_denied(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    emu.shop(SHOP).scopes = "read_products"  # e.g. the merchant declined the optional file scopes
    product = first_product(emu)
    ok = gql(emu, token, "query { products(first: 1) { nodes { id media(first: 1) { nodes { id } } } } }").json()
    assert "errors" not in ok and ok["data"]["products"]["nodes"]
    denied = gql(emu, token, "mutation D($ids: [ID!]!) { fileDelete(fileIds: $ids) { deletedFileIds } }",
                 {"ids": [product.media_ids[0]]}).json()  # fmt: skip
    [error] = denied["errors"]
    assert error["extensions"]["code"] == "ACCESS_DENIED" and "write_files" in error["extensions"]["requiredAccess"]
    assert error["path"] == ["fileDelete"] and denied["data"] is None
    assert product.media_ids  # nothing ran
    files = gql(emu, token, "query { files(first: 1) { nodes { id } } }").json()
    assert files["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert emu.stats.access_denied == 2


def test_a_write_scope_grants_its_read_scope(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    emu.shop(SHOP).scopes = "write_products,write_files"
    assert "errors" not in gql(emu, token, "query { files(first: 1) { nodes { id } } }").json()


# -- bulk operations --------------------------------------------------------------------------------------------
RUN = (
    "mutation R($q: String!) { bulkOperationRunQuery(query: $q, groupObjects: false) { "
    "bulkOperation { id } userErrors { code message } } }"
)


def run_bulk(emu: ShopifyEmulator, token: str, query: str, version: str = "2026-10") -> dict:
    return gql(emu, token, RUN, {"q": query}, version=version).json()["data"]["bulkOperationRunQuery"]


@pytest.mark.parametrize(("query", "message"), [
    ("{ shop { id name } }", "at least one connection"),
    ("{ products { edges { node { id variants { edges { node { id media { edges { node { id } } } } } } } } } }",
     "nesting depth greater than 2"),
    ("{ products { edges { node { id media { edges { node { id } } } variants { edges { node { id } } } "
     "collections { edges { node { id } } } } } } collections { edges { node { id products { edges { node { id } } }"
     " } } } }", "more than 5 connections"),
])  # fmt: skip
def test_bulk_query_limits(emu: ShopifyEmulator, query: str, message: str) -> None:
    token = emu.issue_access_token(SHOP)
    answer = run_bulk(emu, token, query)
    assert answer["bulkOperation"] is None
    [error] = answer["userErrors"]
    assert error["code"] == "INVALID" and message in error["message"]
    ok = run_bulk(emu, token, "{ products { edges { node { id variants { edges { node { id } } } } } } }")
    assert ok["userErrors"] == [] and ok["bulkOperation"]["id"]


@pytest.mark.parametrize("version", ["2026-07", "2026-10"])
def test_concurrent_bulk_queries_per_shop(emu: ShopifyEmulator, version: str) -> None:
    cap = 5  # from 2026-01 on
    token = emu.issue_access_token(SHOP)
    query = "{ products { edges { node { id } } } }"
    started = [run_bulk(emu, token, query, version) for _ in range(cap)]
    assert all(s["userErrors"] == [] for s in started)
    refused = run_bulk(emu, token, query, version)
    assert refused["bulkOperation"] is None and refused["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    emu.bulk_concurrency = 1  # the pre-2026-01 rule, for apps on older versions
    time.sleep(emu.bulk_delay + 0.05)  # every one finished: a slot is free again
    assert run_bulk(emu, token, query, version)["userErrors"] == []
    assert run_bulk(emu, token, query, version)["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"


# -- media ------------------------------------------------------------------------------------------------------
def test_original_source_url_is_short_lived_and_does_not_carry_the_filename(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    emu.original_source_ttl = 0.5
    media = emu.shop(SHOP).gallery(first_product(emu))[0]
    query = "query M($id: ID!) { node(id: $id) { ... on MediaImage { image { url } originalSource { url } } } }"
    node = gql(emu, token, query, {"id": media.gid}).json()["data"]["node"]
    source, cdn = node["originalSource"]["url"], node["image"]["url"]
    assert media.filename in cdn and media.filename not in source
    assert requests.get(source, timeout=5).content == media.data
    tampered = source.replace("expires=", "expires=9")
    assert requests.get(tampered, timeout=5).status_code == 403
    time.sleep(1.6)  # past `expires` (whole seconds, at most ttl + 1 s away)
    assert requests.get(source, timeout=5).status_code == 403  # expired
    assert requests.get(cdn, timeout=5).status_code == 200  # the CDN URL lasts


def test_files_search_by_product_status_and_filename(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    product = first_product(emu)
    media = emu.shop(SHOP).gallery(product)[0]
    numeric = product.gid.rsplit("/", 1)[-1]
    query = "query F($q: String!) { files(first: 10, query: $q) { nodes { id } } }"
    found = gql(emu, token, query, {"q": f"product_id:{numeric} status:READY filename:{media.filename[:4]}*"}).json()
    assert media.gid in [n["id"] for n in found["data"]["files"]["nodes"]]
    none = gql(emu, token, query, {"q": f"product_id:{numeric} status:FAILED"}).json()
    assert none["data"]["files"]["nodes"] == []


# -- webhooks ---------------------------------------------------------------------------------------------------
APP_TOML = """
[webhooks]
api_version = "2026-10"

  [[webhooks.subscriptions]]
  topics = ["products/update", "app/uninstalled"]
  uri = "/webhooks"
"""


def test_webhook_version_and_topics_come_from_the_app_configuration(tmp_path: Any) -> None:
    config = tmp_path / "shopify.app.toml"
    config.write_text(APP_TOML)
    receiver = Receiver([])
    try:
        with ShopifyEmulator(KEY, SECRET, api_versions=("2026-07", "2026-10"), app_config=config,
                             webhook_url=receiver.url) as emu:  # fmt: skip
            emu.add_shop(SHOP)
            emu._queue_webhook("products/update", SHOP, {"id": 1})
            emu._queue_webhook("products/create", SHOP, {"id": 2})  # not subscribed: Shopify sends nothing
            emu.wait_for_webhooks()
    finally:
        receiver.server.shutdown()
    assert [(h["X-Shopify-Topic"], h["X-Shopify-Api-Version"]) for h, _ in receiver.received] == [
        ("products/update", "2026-10")  # the configuration's version, not the emulator's first one
    ]
    assert emu.stats.webhooks_unsubscribed == 1


def test_held_webhooks_arrive_late_reversed_and_duplicated(emu: ShopifyEmulator) -> None:
    receiver = Receiver([])
    emu.webhook_url = receiver.url
    try:
        token = emu.issue_access_token(SHOP)
        product = first_product(emu)
        emu.hold_webhooks()
        alt = "mutation A($f: [FileUpdateInput!]!) { fileUpdate(files: $f) { userErrors { code } } }"
        for text in ("first edit", "second edit"):
            gql(emu, token, alt, {"f": [{"id": product.media_ids[0], "alt": text}]})
            time.sleep(0.01)
        emu.wait_for_webhooks()
        assert receiver.received == []  # held: nothing sent yet
        emu.release_webhooks(order="reverse", duplicates=1)
    finally:
        receiver.server.shutdown()
    alts = [json.loads(body)["media"][0]["alt"] for _, body in receiver.received]
    assert alts == ["second edit", "second edit", "first edit", "first edit"]
    events = [h["X-Shopify-Event-Id"] for h, _ in receiver.received]
    assert events[0] == events[1] and events[2] == events[3] and events[0] != events[2]
    stamps = [h["X-Shopify-Triggered-At"] for h, _ in receiver.received]
    assert stamps[0] > stamps[2]  # each keeps the time of its event, however late it arrives


def test_a_product_holds_up_to_2048_variants_read_page_by_page(emu: ShopifyEmulator) -> None:
    with pytest.raises(ValueError, match="2048"):
        emu.add_products(SHOP, 1, variants_per_product=2049)
    big = emu.add_products(SHOP, 1, variants_per_product=2048)[0]
    token = emu.issue_access_token(SHOP)
    bucket = emu.shop(SHOP).bucket
    bucket.maximum = bucket.available = 40_000
    query = """query V($id: ID!, $after: String) { product(id: $id) {
      variants(first: 250, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }"""
    seen: list[str] = []
    after = None
    while True:
        page = gql(emu, token, query, {"id": big.gid, "after": after}).json()["data"]["product"]["variants"]
        seen += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [v.gid for v in big.variants] and len(seen) == 2048
    over = gql(emu, token, query.replace("first: 250", "first: 251"), {"id": big.gid}).json()
    assert "errors" in over  # a page is at most 250, however many variants there are
