"""App billing in the emulator: a usage subscription approved through the confirmation URL, usage records with
idempotency keys against the capped amount."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from shopify_emulator import ShopifyEmulator
from tests.shopify_emulator.test_emulator import KEY, SECRET, SHOP, gql

CREATE = """mutation S($name: String!, $items: [AppSubscriptionLineItemInput!]!, $url: URL!) {
  appSubscriptionCreate(name: $name, lineItems: $items, returnUrl: $url, test: true) {
    appSubscription { id status lineItems { id } }
    confirmationUrl
    userErrors { field message }
  }
}"""
RECORD = """mutation U($line: ID!, $price: MoneyInput!, $key: String) {
  appUsageRecordCreate(subscriptionLineItemId: $line, price: $price, description: "1 image", idempotencyKey: $key) {
    appUsageRecord { id idempotencyKey subscriptionLineItem { plan { pricingDetails {
      ... on AppUsagePricing { balanceUsed { amount } cappedAmount { amount } } } } } }
    userErrors { field message }
  }
}"""
ACTIVE = "{ currentAppInstallation { activeSubscriptions { id status } } }"


@pytest.fixture
def emu() -> Iterator[ShopifyEmulator]:
    emulator = ShopifyEmulator(KEY, SECRET)
    emulator.add_shop(SHOP)
    with emulator:
        yield emulator


def subscribe(emu: ShopifyEmulator, token: str, cap: str = "1.00") -> dict:
    items = [{"plan": {"appUsagePricingDetails": {"cappedAmount": {"amount": cap, "currencyCode": "USD"},
                                                  "terms": "$0.40 per published image"}}}]  # fmt: skip
    answer = gql(emu, token, CREATE, {"name": "Usage", "items": items, "url": "https://app.example/billing/return"},
                 version="2026-10").json()  # fmt: skip
    return answer["data"]["appSubscriptionCreate"]


def charge(emu: ShopifyEmulator, token: str, line: str, key: str | None, amount: str = "0.40") -> dict:
    variables = {"line": line, "price": {"amount": amount, "currencyCode": "USD"}, "key": key}
    return gql(emu, token, RECORD, variables, version="2026-10").json()["data"]["appUsageRecordCreate"]


def test_approval_redirect_then_capped_idempotent_usage(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    created = subscribe(emu, token)
    assert created["userErrors"] == [] and created["appSubscription"]["status"] == "PENDING"
    line = created["appSubscription"]["lineItems"][0]["id"]
    assert charge(emu, token, line, "k0")["userErrors"][0]["message"] == "The subscription is not active"
    assert gql(emu, token, ACTIVE, version="2026-10").json()["data"]["currentAppInstallation"][
        "activeSubscriptions"] == []  # fmt: skip

    # the merchant approves in the admin: redirected back to the app with charge_id
    approval = requests.get(created["confirmationUrl"], allow_redirects=False, timeout=5)
    assert approval.status_code == 302
    back = urlsplit(approval.headers["Location"])
    assert back.netloc == "app.example" and back.path == "/billing/return"
    assert parse_qs(back.query)["charge_id"] == [created["appSubscription"]["id"].rsplit("/", 1)[-1]]
    [active] = gql(emu, token, ACTIVE, version="2026-10").json()["data"]["currentAppInstallation"][
        "activeSubscriptions"]  # fmt: skip
    assert active == {"id": created["appSubscription"]["id"], "status": "ACTIVE"}

    first = charge(emu, token, line, "image-1")
    again = charge(emu, token, line, "image-1")  # a retry: the same record, not a second charge
    assert first["appUsageRecord"]["id"] == again["appUsageRecord"]["id"]
    pricing = again["appUsageRecord"]["subscriptionLineItem"]["plan"]["pricingDetails"]
    assert pricing == {"balanceUsed": {"amount": "0.40"}, "cappedAmount": {"amount": "1.00"}}
    assert charge(emu, token, line, "image-2")["userErrors"] == []
    over = charge(emu, token, line, "image-3")  # 1.20 > 1.00
    assert over["appUsageRecord"] is None
    assert over["userErrors"][0]["message"] == "Total price exceeds balance remaining"


def test_tampered_or_declined_confirmation(emu: ShopifyEmulator) -> None:
    token = emu.issue_access_token(SHOP)
    created = subscribe(emu, token)
    url = created["confirmationUrl"]
    assert requests.get(url.replace("signature=", "signature=x"), allow_redirects=False, timeout=5).status_code == 403
    declined = requests.get(url + "&decline=1", allow_redirects=False, timeout=5)
    assert declined.status_code == 302
    assert emu.shop(SHOP).subscriptions[created["appSubscription"]["id"]].status == "DECLINED"
