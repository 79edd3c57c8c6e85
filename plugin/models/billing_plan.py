"""A shop's usage-billing plan on Shopify (plugin.services.billing): the subscription the merchant approved, its usage
line item, and what Shopify last said about the balance."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db, utcnow


class BillingPlan(db.Model):  # type: ignore[name-defined]
    __tablename__ = "billing_plans"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    subscription_id: Mapped[str | None] = mapped_column(String(255))  # gid://shopify/AppSubscription/…
    line_item_id: Mapped[str | None] = mapped_column(String(255))  # the usage line item charges go to
    # Shopify's AppSubscriptionStatus (PENDING until the merchant approves, then ACTIVE; DECLINED, CANCELLED, ...)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    capped_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    balance_used: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3))
    price_per_image: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    confirmation_url: Mapped[str | None] = mapped_column(Text)
    current_period_end: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
