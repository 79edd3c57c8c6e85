"""A shop's own pose set (library poses, poses read from a reference photo, or hand-placed skeletons)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db, utcnow


class CustomPoseSet(db.Model):  # type: ignore[name-defined]
    __tablename__ = "custom_pose_sets"
    __table_args__ = (UniqueConstraint("shop_id", "set_id", name="uq_custom_pose_sets_shop_id_set_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    set_id: Mapped[str] = mapped_column(String(128))  # "custom-<slug>"
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped on every edit: part of the idempotency key
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # "ready", or "extracting" while a GPU worker reads the pose of a reference photo, or "failed" (see error)
    status: Mapped[str] = mapped_column(String(16), default="ready")
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
