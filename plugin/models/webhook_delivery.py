"""One accepted webhook delivery; the unique event id makes Shopify's at-least-once delivery idempotent."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db, utcnow


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # row committed, task not yet handed to the broker (a retry re-enqueues it)
    ENQUEUED = "enqueued"  # handed to Celery; the job layer takes it from here
    PROCESSING = "processing"  # claimed by one run of its task (a second copy of the task does nothing)
    PROCESSED = "processed"  # handled completely inside the request (compliance, uninstall, redact)
    IGNORED = "ignored"  # unknown topic or unknown shop: recorded, nothing to do
    FAILED = "failed"  # set by the job layer when it gives up


class WebhookDelivery(db.Model):  # type: ignore[name-defined]
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    # X-Shopify-Event-Id (or shopify-event-id): Shopify's documented duplicate key.
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    webhook_id: Mapped[str | None] = mapped_column(String(255))
    # NULL for a shop we do not know (a compliance webhook for a shop that never completed install) and for the
    # record of a shop/redact, which outlives the shop it erased.
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    api_version: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[Any | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    triggered_at: Mapped[datetime | None]
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=DeliveryStatus.RECEIVED,
    )

    def __repr__(self) -> str:
        return f"<WebhookDelivery {self.id} {self.topic} {self.shop_domain} {self.status}>"
