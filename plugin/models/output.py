"""One generated image of a job: one pose, its quality scores, the merchant's decision, where it went on Shopify."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Enum, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db, utcnow


class Decision(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Output(db.Model):  # type: ignore[name-defined]
    __tablename__ = "outputs"
    __table_args__ = (UniqueConstraint("job_id", "pose_id", name="uq_outputs_job_id_pose_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    pose_id: Mapped[str] = mapped_column(String(128))
    pose_name: Mapped[str] = mapped_column(String(255), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)  # order within the job's carousel
    storage_key: Mapped[str] = mapped_column(String(512))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    oks: Mapped[float | None] = mapped_column(Float)
    pck: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(default=False)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision: Mapped[Decision] = mapped_column(
        Enum(Decision, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=Decision.PENDING,
    )
    regenerating: Mapped[bool] = mapped_column(default=False)
    variant_id: Mapped[str | None] = mapped_column(String(255))
    shopify_media_id: Mapped[str | None] = mapped_column(String(255))
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Output {self.id} job={self.job_id} {self.pose_id} {self.decision}>"
