"""Per-shop settings of the job layer: automation rules, default pose set, review mode, daily limit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db, utcnow


class Automation(StrEnum):
    OFF = "off"
    NEW_PRODUCTS = "new_products"  # products/create only
    NEW_AND_CHANGED = "new_and_changed"  # products/create and a changed source image on products/update


class ShopSettings(db.Model):  # type: ignore[name-defined]
    __tablename__ = "shop_settings"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    automation: Mapped[Automation] = mapped_column(
        Enum(Automation, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=Automation.OFF,
    )
    # filters: empty list = no filter on that field; all given filters must match
    product_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    collections: Mapped[list[str]] = mapped_column(JSON, default=list)  # collection GIDs
    default_pose_set: Mapped[str] = mapped_column(String(128), default="")
    mode: Mapped[str] = mapped_column(String(16), default="review")  # review | auto
    daily_limit: Mapped[int] = mapped_column(Integer, default=500)
    backend: Mapped[str] = mapped_column(String(32), default="warp")
    max_size: Mapped[int] = mapped_column(Integer, default=1024)  # output size: the long side, in pixels
    output_format: Mapped[str] = mapped_column(String(8), default="png", server_default="png")  # png | jpeg | webp
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
