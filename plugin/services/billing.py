"""Usage billing through Shopify (off unless POSE_STUDIO_BILLING=usage): one usage record per published image.

- **Plan**: `subscribe` creates a subscription with one usage line item (`appSubscriptionCreate` with
  `appUsagePricingDetails`, capped at POSE_STUDIO_BILLING_CAP per 30 days) and returns Shopify's confirmation URL;
  the merchant approves it in the admin, Shopify redirects to `/billing/return`, and `refresh` asks Shopify (never
  the redirect's query) whether the subscription is ACTIVE.
- **Charges**: `record_published` adds one `UsageCharge` per published image, keyed
  `pose-studio:<shop>:output:<output id>:seed:<seed>` (unique: a publish that runs again, or publishes the same
  image again, adds nothing); `send_pending` sends each pending one with `appUsageRecordCreate(idempotencyKey=key)`,
  so a resend after a timeout or a crash is answered with the first record, never charged twice. Pending charges go
  out with the shop's next publish.
- **Cap**: generation pauses (`ensure_can_generate`, HTTP 402) while the plan is not approved, or when Shopify's
  balance plus the charges not yet sent leave less than one image's price; it resumes with the next 30-day period.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from plugin.extensions import db, utcnow
from plugin.models.billing_plan import BillingPlan
from plugin.models.output import Output
from plugin.models.shop import Shop
from plugin.models.usage_charge import UsageCharge
from plugin.services.errors import Conflict, DailyLimitReached, InvalidRequest

log = logging.getLogger(__name__)

PLAN_NAME = "Pose Studio usage"
NOT_SUBSCRIBED = "Approve the Pose Studio plan to generate images (you are charged per published image)."
ACTIVE = "ACTIVE"


class GenerationPaused(DailyLimitReached):
    """Billing holds generation back (plan not approved, or the cap reached). A kind of DailyLimitReached so that
    every admission path (automation, bulk runs, on-demand, regenerate) treats it as the limit it is: nothing is
    created, the request says why."""

    code = "billing_cap_reached"
    status = 402


@dataclass(frozen=True)
class BillingStatus:
    enabled: bool
    state: str  # off | not_subscribed | pending | active | declined | cancelled | ...
    price_per_image: str
    currency: str
    capped_amount: str
    balance_used: str  # Shopify's balance plus charges not yet confirmed
    remaining: str
    paused: bool
    reason: str | None  # why generation is paused, in the merchant's words
    confirmation_url: str | None
    period_end: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def enabled() -> bool:
    return bool(current_app.config.get("POSE_STUDIO_BILLING"))


def _price() -> Decimal:
    return Decimal(current_app.config["POSE_STUDIO_BILLING_PRICE"])


def _cap() -> Decimal:
    return Decimal(current_app.config["POSE_STUDIO_BILLING_CAP"])


def _currency() -> str:
    return str(current_app.config["POSE_STUDIO_BILLING_CURRENCY"])


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def plan_of(shop: Shop) -> BillingPlan | None:
    return db.session.get(BillingPlan, shop.id)


def _unconfirmed(shop: Shop) -> Decimal:
    total = db.session.scalar(
        select(func.coalesce(func.sum(UsageCharge.amount), 0)).where(
            UsageCharge.shop_id == shop.id, UsageCharge.status == "pending"
        )
    )
    return Decimal(str(total or 0))


def status(shop: Shop) -> BillingStatus:
    price, currency = _price(), _currency()
    if not enabled():
        return BillingStatus(False, "off", _money(price), currency, _money(_cap()), "0.00", _money(_cap()), False,
                             None, None, None)  # fmt: skip
    plan = plan_of(shop)
    if plan is None:
        return BillingStatus(True, "not_subscribed", _money(price), currency, _money(_cap()), "0.00", _money(_cap()),
                             True, NOT_SUBSCRIBED, None, None)  # fmt: skip
    used = Decimal(plan.balance_used) + _unconfirmed(shop)
    cap = Decimal(plan.capped_amount)
    remaining = max(Decimal("0"), cap - used)
    state = plan.status.lower()
    reason: str | None = None
    period_end = plan.current_period_end.date().isoformat() if plan.current_period_end else None
    if plan.status != ACTIVE:
        reason = (
            "Approve the Pose Studio plan in Shopify to generate images."
            if plan.status == "PENDING"
            else "The Pose Studio plan is not active; approve it again to generate images."
        )
    elif remaining < Decimal(plan.price_per_image):
        reason = (
            f"Generation is paused: this period's usage ({_money(used)} {plan.currency}) reached the cap of "
            f"{_money(cap)} {plan.currency}."
            + (f" It resumes when the billing period renews on {period_end}." if period_end else "")
        )
    return BillingStatus(True, state, _money(Decimal(plan.price_per_image)), plan.currency, _money(cap), _money(used),
                         _money(remaining), reason is not None, reason,
                         plan.confirmation_url if plan.status == "PENDING" else None, period_end)  # fmt: skip


def ensure_can_generate(shop: Shop) -> None:
    """Raise GenerationPaused when billing is on and the shop may not start generating. Reads Shopify again when a
    paused shop's billing period has ended (its balance is then back to zero)."""
    if not enabled():
        return
    plan = plan_of(shop)
    if plan is not None and plan.status == ACTIVE and plan.current_period_end and plan.current_period_end < utcnow():
        try:
            refresh(shop)
        except Exception:  # Shopify unreachable: decide on what we know
            log.warning("billing: could not refresh the plan of %s", shop.domain, exc_info=True)
    current = status(shop)
    if current.paused:
        code = "billing_cap_reached" if current.state == "active" else "billing_approval_required"
        raise GenerationPaused(current.reason or "Generation is paused by billing.", code=code)


# -- Shopify ----------------------------------------------------------------------------------------------------
def _client(shop: Shop) -> Any:
    from plugin.services.shopify_reads import admin_client

    return admin_client(shop)


def _usage(line_item: dict[str, Any]) -> tuple[Decimal, Decimal] | None:
    details = ((line_item.get("plan") or {}).get("pricingDetails")) or {}
    if "cappedAmount" not in details:
        return None
    return Decimal(details["balanceUsed"]["amount"]), Decimal(details["cappedAmount"]["amount"])


def subscribe(shop: Shop) -> str:
    """Create the usage plan in Shopify; the confirmation URL the merchant must open (top level) to approve it."""
    from plugin.shopify.billing_operations import SUBSCRIPTION_CREATE
    from plugin.shopify.errors import ShopifyUserError

    if not enabled():
        raise InvalidRequest("billing is not enabled on this Pose Studio server", code="billing_off")
    plan = plan_of(shop)
    if plan is not None and plan.status == ACTIVE and Decimal(plan.capped_amount) == _cap():
        raise Conflict("the Pose Studio plan is already active", code="billing_active")
    price, cap, currency = _price(), _cap(), _currency()
    app_url = current_app.config["SHOPIFY_APP_URL"]
    variables = {
        "name": PLAN_NAME,
        "returnUrl": f"{app_url}/billing/return?shop={shop.domain}",
        "test": bool(current_app.config.get("POSE_STUDIO_BILLING_TEST")),
        "cap": {"amount": _money(cap), "currencyCode": currency},
        "terms": f"{_money(price)} {currency} per published image, at most {_money(cap)} {currency} per 30 days",
    }
    try:
        result = _client(shop).execute(SUBSCRIPTION_CREATE, variables).raise_for_user_errors("appSubscriptionCreate")
    except ShopifyUserError as exc:
        raise InvalidRequest(f"Shopify refused the plan: {exc}", code="billing_refused") from exc
    payload = result.fields["appSubscriptionCreate"]
    subscription = payload["appSubscription"]
    if plan is None:
        plan = BillingPlan(shop_id=shop.id, capped_amount=cap, currency=currency, price_per_image=price,
                           balance_used=Decimal("0"))  # fmt: skip
        db.session.add(plan)
    if plan.status != ACTIVE:  # an active plan keeps charging until the new one is approved
        plan.subscription_id = subscription["id"]
        plan.line_item_id = subscription["lineItems"][0]["id"]
        plan.status = subscription["status"]
        plan.capped_amount, plan.currency, plan.price_per_image = cap, currency, price
    plan.confirmation_url = payload["confirmationUrl"]
    db.session.commit()
    return str(payload["confirmationUrl"])


def refresh(shop: Shop, charge_id: str | None = None) -> BillingPlan | None:
    """Read the shop's active subscriptions from Shopify and store what they say. Commits."""
    from plugin.shopify.billing_operations import ACTIVE_SUBSCRIPTIONS

    plan = plan_of(shop)
    if plan is None:
        return None
    result = _client(shop).execute(ACTIVE_SUBSCRIPTIONS).raise_for_errors()
    active = (result.fields.get("currentAppInstallation") or {}).get("activeSubscriptions") or []
    ours = [s for s in active if s["name"] == PLAN_NAME]
    wanted = next((s for s in ours if charge_id and s["id"].rsplit("/", 1)[-1] == charge_id), None)
    found = wanted or next((s for s in ours if s["id"] == plan.subscription_id), None) or (ours[0] if ours else None)
    if found is None:
        if plan.status == ACTIVE or charge_id:
            plan.status = "DECLINED" if charge_id and plan.status == "PENDING" else "CANCELLED"
        db.session.commit()
        return plan
    line_item = next((li for li in found["lineItems"] if _usage(li) is not None), None)
    plan.subscription_id, plan.status = found["id"], found["status"]
    if line_item is not None:
        plan.line_item_id = line_item["id"]
        plan.balance_used, plan.capped_amount = _usage(line_item)  # type: ignore[misc]
    end = found.get("currentPeriodEnd")
    plan.current_period_end = datetime.fromisoformat(end.replace("Z", "+00:00")) if end else None
    plan.confirmation_url = None
    db.session.commit()
    return plan


def record_published(shop: Shop, outputs: list[Output]) -> int:
    """One pending charge per published output not charged before. Does not commit; returns how many are new."""
    if not enabled():
        return 0
    plan = plan_of(shop)
    if plan is None or plan.status != ACTIVE:
        return 0
    new = 0
    for out in outputs:
        if out.shopify_media_id is None:
            continue
        # the seed is part of the image: a regenerated image published in place of the old one is a new image
        key = f"pose-studio:{shop.id}:output:{out.id}:seed:{out.seed}"
        if db.session.scalar(select(UsageCharge.id).where(UsageCharge.idempotency_key == key)) is not None:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(UsageCharge(shop_id=shop.id, idempotency_key=key, output_id=out.id, job_id=out.job_id,
                                           amount=Decimal(plan.price_per_image), currency=plan.currency))  # fmt: skip
            new += 1
        except IntegrityError:
            pass  # a concurrent publish of the same output recorded it first
    return new


def send_pending(shop: Shop) -> int:
    """Send every pending charge of the shop to Shopify (same idempotency key on every try). Commits after each;
    returns how many Shopify confirmed now. A charge whose answer was lost stays pending and goes out again."""
    from plugin.shopify.billing_operations import USAGE_RECORD_CREATE
    from plugin.shopify.errors import ShopifyError

    plan = plan_of(shop)
    if not enabled() or plan is None or not plan.line_item_id:
        return 0
    pending = list(db.session.scalars(
        select(UsageCharge).where(UsageCharge.shop_id == shop.id, UsageCharge.status == "pending")
        .order_by(UsageCharge.id)
    ))  # fmt: skip
    if not pending:
        return 0
    confirmed = 0
    client = _client(shop)
    for charge in pending:
        variables = {
            "lineItemId": plan.line_item_id,
            "price": {"amount": _money(Decimal(charge.amount)), "currencyCode": charge.currency},
            "description": "Pose Studio: 1 published image",
            "key": charge.idempotency_key,
        }
        try:
            result = client.execute(USAGE_RECORD_CREATE, variables).raise_for_errors()
        except ShopifyError as exc:
            log.warning("billing: charge %s of %s not confirmed (%s); sent again later", charge.id, shop.domain, exc)
            db.session.rollback()
            break
        payload = result.fields.get("appUsageRecordCreate") or {}
        errors = payload.get("userErrors") or []
        record = payload.get("appUsageRecord")
        if record is None:
            charge.status, charge.error = "refused", "; ".join(str(e.get("message")) for e in errors) or "refused"
            log.warning("billing: Shopify refused charge %s of %s: %s", charge.id, shop.domain, charge.error)
        else:
            charge.status, charge.shopify_record_id, charge.recorded_at = "recorded", record["id"], utcnow()
            usage = _usage(record.get("subscriptionLineItem") or {})
            if usage is not None:
                plan.balance_used, plan.capped_amount = usage
            confirmed += 1
        db.session.commit()
    return confirmed
