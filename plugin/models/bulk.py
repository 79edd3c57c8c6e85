"""A bulk run: many products (a selection, a collection, the whole catalog) × one pose set; aggregates its jobs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db, utcnow


class BulkState(StrEnum):
    LISTING = "listing"  # reading the catalog (Bulk Operations query) before the jobs exist
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


class BulkRun(db.Model):  # type: ignore[name-defined]
    __tablename__ = "bulk_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    state: Mapped[BulkState] = mapped_column(
        Enum(BulkState, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=BulkState.RUNNING,
    )
    scope: Mapped[str] = mapped_column(String(32), default="selection")  # selection | collection | catalog
    scope_ref: Mapped[str | None] = mapped_column(String(255))  # collection GID
    selected: Mapped[list[str]] = mapped_column(JSON, default=list)
    pose_set_id: Mapped[str] = mapped_column(String(128))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]
