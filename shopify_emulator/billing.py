"""App billing: a usage-priced subscription the merchant approves, and usage records against its capped amount.

- `appSubscriptionCreate(name, lineItems: [{plan: {appUsagePricingDetails: {cappedAmount, terms}}}], returnUrl,
  test)` → a PENDING subscription and a `confirmationUrl` the merchant opens to approve it.
- The confirmation URL (`GET /admin/charges/{n}/confirm_recurring_application_charge?shop=…&signature=…`) is the
  admin's approval page: visiting it approves (`&decline=1` declines) and redirects to `returnUrl` with
  `?charge_id={n}`, as Shopify does. `emu.approve_subscription(shop, gid)` does the same from a test. Approving
  cancels the shop's earlier active subscription (replacementBehavior STANDARD).
- `appUsageRecordCreate(subscriptionLineItemId, price, description, idempotencyKey)`: refused unless the
  subscription is ACTIVE, when the currency differs, or when balanceUsed + price would pass the capped amount
  ("Total price exceeds balance remaining"); the same idempotencyKey answers the first record again (no charge).
- `currentAppInstallation { activeSubscriptions { … } }` and `node(id:)` of a subscription.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .store import iso, next_id

if TYPE_CHECKING:
    from .graph import Ctx
    from .store import EmuShop

PERIOD_S = 30 * 24 * 3600


@dataclass
class EmuUsageRecord:
    num: int
    price: Decimal
    currency: str
    description: str
    idempotency_key: str | None
    created_at: float

    @property
    def gid(self) -> str:
        return f"gid://shopify/AppUsageRecord/{self.num}"


@dataclass
class EmuSubscription:
    num: int
    line_item_num: int
    name: str
    capped_amount: Decimal
    currency: str
    terms: str
    return_url: str
    test: bool
    created_at: float
    status: str = "PENDING"
    activated_at: float | None = None
    records: list[EmuUsageRecord] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return f"gid://shopify/AppSubscription/{self.num}"

    @property
    def line_item_gid(self) -> str:
        return f"gid://shopify/AppSubscriptionLineItem/{self.line_item_num}?v=1&index=0"

    def balance_used(self) -> Decimal:
        return sum((r.price for r in self.records), Decimal("0"))


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"amount": str(amount.quantize(Decimal("0.01"))), "currencyCode": currency}


def subscriptions(shop: EmuShop) -> dict[str, EmuSubscription]:
    return shop.subscriptions


def line_item_view(sub: EmuSubscription) -> dict[str, Any]:
    return {
        "__typename": "AppSubscriptionLineItem",
        "id": sub.line_item_gid,
        "plan": {
            "__typename": "AppPlanV2",
            "pricingDetails": {
                "__typename": "AppUsagePricing",
                "balanceUsed": _money(sub.balance_used(), sub.currency),
                "cappedAmount": _money(sub.capped_amount, sub.currency),
                "interval": "EVERY_30_DAYS",
                "terms": sub.terms,
            },
        },
    }


def subscription_view(sub: EmuSubscription) -> dict[str, Any]:
    start = sub.activated_at or sub.created_at
    return {
        "__typename": "AppSubscription",
        "id": sub.gid,
        "name": sub.name,
        "status": sub.status,
        "test": sub.test,
        "trialDays": 0,
        "returnUrl": sub.return_url,
        "createdAt": iso(sub.created_at),
        "currentPeriodEnd": iso(start + PERIOD_S) if sub.status == "ACTIVE" else None,
        "lineItems": [line_item_view(sub)],
    }


def record_view(sub: EmuSubscription, record: EmuUsageRecord) -> dict[str, Any]:
    return {
        "__typename": "AppUsageRecord",
        "id": record.gid,
        "createdAt": iso(record.created_at),
        "description": record.description,
        "idempotencyKey": record.idempotency_key,
        "price": _money(record.price, record.currency),
        "subscriptionLineItem": line_item_view(sub),
    }


def confirmation_url(ctx: Ctx, sub: EmuSubscription) -> str:
    query = {"shop": ctx.shop.domain, "signature": sign(ctx.emu.api_secret, ctx.shop.domain, sub.num)}
    return f"{ctx.origin}/admin/charges/{sub.num}/confirm_recurring_application_charge?{urlencode(query)}"


def sign(secret: str, shop: str, num: int) -> str:
    return hmac.new(secret.encode(), f"{shop}/{num}".encode(), hashlib.sha256).hexdigest()[:24]


def app_subscription_create(
    ctx: Ctx,
    name: str,
    lineItems: list[dict[str, Any]],
    returnUrl: str,
    test: bool | None = None,
    **_: Any,  # noqa: N803
) -> dict[str, Any]:
    def refuse(message: str, fld: list[str]) -> dict[str, Any]:
        return {"appSubscription": None, "confirmationUrl": None, "userErrors": [{"field": fld, "message": message}]}

    if len(lineItems) != 1 or not (lineItems[0].get("plan") or {}).get("appUsagePricingDetails"):
        return refuse("The emulator implements one usage-priced line item", ["lineItems"])
    usage = lineItems[0]["plan"]["appUsagePricingDetails"]
    try:
        capped = Decimal(str(usage["cappedAmount"]["amount"]))
    except (InvalidOperation, KeyError):
        return refuse("Capped amount is invalid", ["lineItems", "0", "plan", "appUsagePricingDetails", "cappedAmount"])
    if capped <= 0:
        return refuse("Capped amount must be greater than 0",
                      ["lineItems", "0", "plan", "appUsagePricingDetails", "cappedAmount"])  # fmt: skip
    sub = EmuSubscription(
        next_id(), next_id(), name, capped, str(usage["cappedAmount"]["currencyCode"]), str(usage.get("terms") or ""),
        returnUrl, bool(test), time.time(),
    )  # fmt: skip
    subscriptions(ctx.shop)[sub.gid] = sub
    return {"appSubscription": subscription_view(sub), "confirmationUrl": confirmation_url(ctx, sub), "userErrors": []}


def approve(shop: EmuShop, sub: EmuSubscription, *, accept: bool = True) -> None:
    """The merchant's click on the admin's approval page."""
    if sub.status != "PENDING":
        return
    if not accept:
        sub.status = "DECLINED"
        return
    for other in subscriptions(shop).values():
        if other is not sub and other.status == "ACTIVE":
            other.status = "CANCELLED"
    sub.status, sub.activated_at = "ACTIVE", time.time()


def app_usage_record_create(
    ctx: Ctx, subscriptionLineItemId: str, price: dict[str, Any], description: str,  # noqa: N803
    idempotencyKey: str | None = None, **_: Any,  # noqa: N803
) -> dict[str, Any]:  # fmt: skip
    def refuse(message: str, fld: list[str]) -> dict[str, Any]:
        return {"appUsageRecord": None, "userErrors": [{"field": fld, "message": message}]}

    sub = next((s for s in subscriptions(ctx.shop).values() if s.line_item_gid == subscriptionLineItemId), None)
    if sub is None:
        return refuse("Subscription line item not found", ["subscriptionLineItemId"])
    if idempotencyKey:
        if len(idempotencyKey) > 255:
            return refuse("Idempotency key is too long (maximum is 255 characters)", ["idempotencyKey"])
        earlier = next((r for r in sub.records if r.idempotency_key == idempotencyKey), None)
        if earlier is not None:  # the same charge asked again: answered, not charged twice
            return {"appUsageRecord": record_view(sub, earlier), "userErrors": []}
    if sub.status != "ACTIVE":
        return refuse("The subscription is not active", ["subscriptionLineItemId"])
    amount = Decimal(str(price["amount"]))
    if str(price["currencyCode"]) != sub.currency:
        return refuse("Currency must match the capped amount's currency", ["price", "currencyCode"])
    if amount <= 0:
        return refuse("Price must be greater than 0", ["price", "amount"])
    if sub.balance_used() + amount > sub.capped_amount:
        return refuse("Total price exceeds balance remaining", ["price"])
    record = EmuUsageRecord(next_id(), amount, sub.currency, description, idempotencyKey, time.time())
    sub.records.append(record)
    return {"appUsageRecord": record_view(sub, record), "userErrors": []}


def current_app_installation(ctx: Ctx) -> dict[str, Any]:
    subs = list(subscriptions(ctx.shop).values())
    return {
        "__typename": "AppInstallation",
        "id": f"gid://shopify/AppInstallation/{ctx.shop.num}",
        "activeSubscriptions": [subscription_view(s) for s in subs if s.status == "ACTIVE"],
        "launchUrl": f"https://admin.shopify.com/store/{ctx.shop.domain.split('.')[0]}/apps",
    }
