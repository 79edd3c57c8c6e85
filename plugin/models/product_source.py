"""What the job layer knows about one product: its last source image, last webhook seen, merchant-placed skeleton.

Automation compares a products/update webhook against this row: the source image's content hash (our own media
writes don't change it) and the payload's `updated_at`, then X-Shopify-Triggered-At within the same second (older
deliveries are stale).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db, utcnow


class ProductSource(db.Model):  # type: ignore[name-defined]
    __tablename__ = "product_sources"
    __table_args__ = (UniqueConstraint("shop_id", "product_id", name="uq_product_sources_shop_id_product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[str] = mapped_column(String(255))
    source_hash: Mapped[str | None] = mapped_column(String(64))
    source_url: Mapped[str | None] = mapped_column(String(2048))
    last_event_at: Mapped[datetime | None]  # product updated_at of the newest webhook applied
    # X-Shopify-Triggered-At of that webhook (sub-second): orders two edits made within the same second of updated_at
    last_triggered_at: Mapped[datetime | None]
    source_skeleton: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
