"""One generation job: one source image of one product (or variant) × one pose set. The row is the truth.

Tasks get only the id and re-read the row; every state change is a conditional UPDATE (`services.jobs.transition`),
so a duplicate or late task delivery finds the job already past its state and does nothing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db, utcnow


def _enum(cls: type[StrEnum], length: int = 20) -> Enum:
    return Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class JobState(StrEnum):
    QUEUED = "queued"
    FETCHING = "fetching"
    GENERATING = "generating"
    CHECKING = "checking"
    AWAITING_REVIEW = "awaiting_review"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_active(self) -> bool:
        """Work is queued or running for it (cancellable, counted against a shop's in-flight slots)."""
        return self in ACTIVE_STATES


TERMINAL_STATES = frozenset({JobState.PUBLISHED, JobState.FAILED, JobState.CANCELLED})
ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.FETCHING, JobState.GENERATING, JobState.CHECKING})
# A failed or cancelled job frees its idempotency key: asking again makes a fresh job.
_LIVE = "state NOT IN ('failed', 'cancelled')"


class JobMode(StrEnum):
    REVIEW = "review"  # every output waits for the merchant's approval
    AUTO = "auto"  # outputs that pass the quality check are published; the rest wait for review


class JobOrigin(StrEnum):
    ON_DEMAND = "on_demand"
    AUTOMATION = "automation"
    BULK = "bulk"


class Job(db.Model):  # type: ignore[name-defined]
    __tablename__ = "jobs"
    __table_args__ = (
        # The idempotency keys (services.jobs.request_key / content_key): at most one live job per key.
        Index("uq_jobs_request_key_live", "request_key", unique=True,
              postgresql_where=text(_LIVE), sqlite_where=text(_LIVE)),
        Index("uq_jobs_content_key_live", "content_key", unique=True,
              postgresql_where=text(_LIVE), sqlite_where=text(_LIVE)),
        Index("ix_jobs_dispatch", "state", "dispatched_at", "shop_id"),
        Index("ix_jobs_shop_product", "shop_id", "product_id"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    bulk_id: Mapped[int | None] = mapped_column(ForeignKey("bulk_runs.id", ondelete="CASCADE"), index=True)
    origin: Mapped[JobOrigin] = mapped_column(_enum(JobOrigin), default=JobOrigin.ON_DEMAND)
    mode: Mapped[JobMode] = mapped_column(_enum(JobMode), default=JobMode.REVIEW)

    # what: product (GID), optional variant (GID), its source image
    product_id: Mapped[str] = mapped_column(String(255))
    variant_id: Mapped[str | None] = mapped_column(String(255))
    product_title: Mapped[str] = mapped_column(String(512), default="")
    source_url: Mapped[str | None] = mapped_column(Text)
    source_media_id: Mapped[str | None] = mapped_column(String(255))
    source_hash: Mapped[str | None] = mapped_column(String(64))
    source_key: Mapped[str | None] = mapped_column(String(512))
    # how: the pose set is snapshotted so a later edit of a custom set does not change a running job
    pose_set_id: Mapped[str] = mapped_column(String(128))
    pose_set_version: Mapped[str] = mapped_column(String(64))
    pose_set: Mapped[dict[str, Any]] = mapped_column(JSON)
    poses: Mapped[list[str] | None] = mapped_column(JSON)
    backend: Mapped[str] = mapped_column(String(32), default="warp")
    seed: Mapped[int] = mapped_column(Integer, default=0)
    max_size: Mapped[int] = mapped_column(Integer, default=2048)

    # idempotency: request_key before the source is fetched (source URL), content_key after (pixels' hash)
    request_key: Mapped[str] = mapped_column(String(64))
    content_key: Mapped[str | None] = mapped_column(String(64))
    duplicate_of_id: Mapped[int | None] = mapped_column(Integer)

    # progress
    state: Mapped[JobState] = mapped_column(_enum(JobState), default=JobState.QUEUED)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    spec_key: Mapped[str | None] = mapped_column(String(512))
    # runs of the GPU task still expected (main run + regenerations in flight)
    pending_runs: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    dispatched_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Job {self.id} shop={self.shop_id} {self.product_id} {self.state}>"
