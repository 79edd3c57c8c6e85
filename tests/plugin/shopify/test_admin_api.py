"""AdminClient against the emulator: retries with a cap, the write-safety rule, pacing shared through Redis,
partial data, 401 handling and deprecation logging. No Flask app needed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
import redis as redis_lib

from plugin.shopify.admin_api import AdminClient
from plugin.shopify.errors import ShopifyOutcomeUnknown, ShopifyUnauthorized, ShopifyUnavailable
from plugin.shopify.operations import PRODUCT_CREATE_MEDIA, PRODUCTS_PAGE, SHOP_INFO, Operation
from shopify_emulator import ShopifyEmulator
from tests.conftest import TEST_SHOP

MakeClient = Callable[..., AdminClient]


def test_executes_and_counts(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    client = admin_client()
    result = client.execute(SHOP_INFO)
    assert result.ok and result.data["shop"]["myshopifyDomain"] == TEST_SHOP
    assert result.cost is not None and result.cost.requested >= 1 and result.cost.throttle_status is not None
    assert client.metrics.requests["ShopInfo"] == 1 and client.metrics.cost["ShopInfo"] == result.cost.actual


def test_production_url_without_admin_origin() -> None:
    client = AdminClient(TEST_SHOP, lambda: "unused", api_version="2026-07")
    assert client.url == f"https://{TEST_SHOP}/admin/api/2026-07/graphql.json"


@pytest.mark.parametrize(
    ("fault", "cause"), [("http_429", "http 429"), ("http_5xx", None), ("timeout", None), ("throttled", "throttled")]
)
def test_retries_transient_failures_of_queries(
    emulator: ShopifyEmulator, admin_client: MakeClient, fault: str, cause: str | None
) -> None:
    client = admin_client()
    emulator.faults.force(fault, times=2)
    result = client.execute(PRODUCTS_PAGE, {"first": 2})
    assert result.ok and len(result.data["products"]["nodes"]) == 2
    assert result.attempts == 3 and sum(client.metrics.retries.values()) == 2
    if cause:
        assert client.metrics.retries[cause] == 2


def test_gives_up_after_the_retry_cap(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    client = admin_client(max_retries=3)
    emulator.faults.force("http_5xx", times=10)
    started = time.monotonic()
    with pytest.raises(ShopifyUnavailable, match="after 4 attempts") as info:
        client.execute(SHOP_INFO)
    assert emulator.stats.http_5xx == 4 and info.value.attempts == 4
    assert time.monotonic() - started < 2


def test_writes_are_not_resent_after_an_ambiguous_failure(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    """A timed-out productUpdate may have run: resending it would duplicate media, so the caller decides."""
    client = admin_client()
    product = next(iter(emulator.shop(TEST_SHOP).products.values()))
    emulator.faults.force("timeout")
    variables = {"product": {"id": product.gid}, "media": [], "last": 1}
    with pytest.raises(ShopifyOutcomeUnknown):
        client.execute(PRODUCT_CREATE_MEDIA, variables)
    assert emulator.stats.operations["ProductCreateMedia"] == 1  # it did run once
    emulator.faults.force("http_429")  # a 429 means "not run": resent
    assert client.execute(PRODUCT_CREATE_MEDIA, variables).attempts == 2


def test_partial_data_is_kept_with_its_errors(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    product = next(iter(emulator.shop(TEST_SHOP).products.values()))
    partial = Operation(
        "Partial", "query Partial($id: ID!) { shop { name } product(id: $id) { media { nodes { id } } } }"
    )
    result = admin_client().execute(partial, {"id": product.gid})
    assert result.errors and result.data["shop"]["name"] and result.data["product"] is None
    with pytest.raises(Exception, match="first or last"):
        result.raise_for_errors()


def test_pacing_waits_for_the_bucket_shared_through_redis(
    emulator: ShopifyEmulator, admin_client: MakeClient, redis_url: str
) -> None:
    shared = redis_lib.Redis.from_url(redis_url)
    first = admin_client(redis=shared)
    first.execute(PRODUCTS_PAGE, {"first": 1})  # teaches Redis this operation's requested cost (77)
    bucket = emulator.shop(TEST_SHOP).bucket
    bucket.available, bucket.restore_rate = 10, 100
    first.execute(SHOP_INFO)  # Redis now knows the bucket is nearly empty
    second = admin_client(redis=shared)  # another worker: same Redis, no local state
    started = time.monotonic()
    result = second.execute(PRODUCTS_PAGE, {"first": 1})
    assert result.ok and emulator.stats.throttled == 0
    assert 0.4 < second.metrics.pacing_wait_s < 1.5
    assert time.monotonic() - started >= second.metrics.pacing_wait_s


def test_without_shared_state_the_same_call_is_throttled_then_retried(
    emulator: ShopifyEmulator, admin_client: MakeClient
) -> None:
    bucket = emulator.shop(TEST_SHOP).bucket
    bucket.available, bucket.restore_rate = 10, 100
    client = admin_client()
    assert client.execute(PRODUCTS_PAGE, {"first": 1}).ok
    assert emulator.stats.throttled == 1 and client.metrics.throttled["ProductsPage"] == 1


def test_unauthorized_calls_hook_once_then_raises(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    tokens = ["shpat_revoked"]
    client = admin_client(on_unauthorized=lambda: tokens.append(emulator.issue_access_token(TEST_SHOP)))
    client.token_provider = lambda: tokens[-1]
    assert client.execute(SHOP_INFO).ok and len(tokens) == 2
    bare = admin_client()
    emulator.revoke_tokens(TEST_SHOP)  # what app/uninstalled does
    with pytest.raises(ShopifyUnauthorized, match="get a new token"):
        bare.execute(SHOP_INFO)


def test_deprecation_header_is_logged_and_tokens_never_are(
    emulator: ShopifyEmulator, admin_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.reject_deprecated = False
    product = next(iter(emulator.shop(TEST_SHOP).products.values()))
    old = Operation("Old", "query Old($id: ID!) { product(id: $id) { featuredImage { url } } }")
    token = emulator.issue_access_token(TEST_SHOP)
    client = admin_client()
    client.token_provider = lambda: token
    emulator.faults.force("http_5xx")
    with caplog.at_level(logging.DEBUG):
        client.execute(old, {"id": product.gid})
    assert any("deprecated" in r.getMessage() for r in caplog.records)
    assert token not in caplog.text


def test_pacing_estimates_by_operation_and_list_size_not_name_alone(
    emulator: ShopifyEmulator, admin_client: MakeClient, redis_url: str
) -> None:
    """A page of 5 costs about five times a page of 1: having seen only the small page, the pacer must still wait
    for the large one's points instead of sending it into a THROTTLED answer."""
    shared = redis_lib.Redis.from_url(redis_url)
    first = admin_client(redis=shared)
    small = first.execute(PRODUCTS_PAGE, {"first": 1}).cost
    assert small is not None
    bucket = emulator.shop(TEST_SHOP).bucket
    bucket.available, bucket.restore_rate = small.requested + 20, 400
    first.execute(SHOP_INFO)  # Redis now knows the bucket holds about one small page
    second = admin_client(redis=shared)
    result = second.execute(PRODUCTS_PAGE, {"first": 5})
    assert result.ok and result.cost is not None and result.cost.requested > 3 * small.requested
    assert emulator.stats.throttled == 0 and second.metrics.throttled["ProductsPage"] == 0
    assert second.metrics.pacing_wait_s > 0.3
    # the size it has now seen is known exactly from then on
    assert second.pacer.expected_cost(TEST_SHOP, "ProductsPage", 50, {"first": 5}) == result.cost.requested
