"""One published image's charge (plugin.services.billing). The idempotency key is unique: an image is charged once,
however often its publish runs, and Shopify answers a resent key with the first record."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db, utcnow


class UsageCharge(db.Model):  # type: ignore[name-defined]
    __tablename__ = "usage_charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    output_id: Mapped[int | None] = mapped_column(Integer)  # kept when the output row goes: the charge is history
    job_id: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    # pending: not yet confirmed by Shopify (sent again later with the same key); recorded; refused: Shopify said no
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    shopify_record_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_at: Mapped[datetime | None] = mapped_column()
