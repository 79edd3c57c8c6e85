"""Admission: the one way a job comes into being, for on-demand requests, automation and bulk runs alike.

`admit(shop, requests)` does, for every request in order: the idempotency key (the request key before the source is
downloaded, the content key once its pixels are known), the live-job lookup under that key, the daily-limit
reservation for the requests that are new, the insert of a `queued` job (through the state machine's constructor),
and one request to the fair dispatcher when anything was created. Asking again for the same product, image and pose
set returns the existing job and does not count against the daily limit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plugin.extensions import db
from plugin.models.job import Job, JobMode, JobOrigin, JobState
from plugin.models.shop import Shop
from plugin.services import jobs, limits
from plugin.services.errors import DailyLimitReached
from plugin.services.pose_sets import PoseSetRef


@dataclass
class JobRequest:
    product_id: str
    pose_set: PoseSetRef
    variant_id: str | None = None
    product_title: str = ""
    source_url: str | None = None
    source_media_id: str | None = None
    source_hash: str | None = None  # known when automation fetched the image first
    source_key: str | None = None
    poses: list[str] | None = None
    mode: JobMode = JobMode.REVIEW
    origin: JobOrigin = JobOrigin.ON_DEMAND
    backend: str = "warp"
    seed: int = 0
    max_size: int = 1024
    bulk_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Admission:
    """What `admit` did: one entry per request, in request order (None where the daily limit refused it)."""

    jobs: list[Job | None]
    created: int = 0
    existing: int = 0
    refused: int = 0  # requests left out because the daily limit was reached (partial admission only)

    @property
    def admitted(self) -> list[Job]:
        return [j for j in self.jobs if j is not None]


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":"), default=str).encode()).hexdigest()


def _poses_part(poses: Sequence[str] | None) -> list[str] | None:
    return sorted(poses) if poses else None


def request_key(shop_id: int, req: JobRequest) -> str:
    """Idempotency key before the source is downloaded: the Shopify image (URL / media id) stands for its content."""
    return _digest(
        # media id AND URL: Shopify can replace a file's content under the same media id (the URL changes)
        "request", shop_id, req.product_id, req.variant_id or "", req.source_media_id or "", req.source_url or "",
        req.pose_set.id, req.pose_set.version, _poses_part(req.poses),
    )  # fmt: skip


def content_key(
    shop_id: int, product_id: str, variant_id: str | None, source_hash: str, pose_set_id: str,
    pose_set_version: str, poses: Sequence[str] | None,
) -> str:  # fmt: skip
    """The idempotency key proper: (shop, product/variant, source pixels' hash, pose set + version, poses)."""
    return _digest(
        "content", shop_id, product_id, variant_id or "", source_hash, pose_set_id, pose_set_version, _poses_part(poses)
    )


def content_key_of(job: Job) -> str:
    """The content key of a job whose source is in storage (`source_hash` set)."""
    assert job.source_hash is not None
    return content_key(job.shop_id, job.product_id, job.variant_id, job.source_hash, job.pose_set_id,
                       job.pose_set_version, job.poses)  # fmt: skip


def live_job_with(key_column: Any, key: str, *, other_than: int | None = None) -> Job | None:
    """The live (neither failed nor cancelled) job under an idempotency key."""
    q = select(Job).where(key_column == key, Job.state.not_in([JobState.FAILED, JobState.CANCELLED]))
    if other_than is not None:
        q = q.where(Job.id != other_than)
    return db.session.scalars(q).first()


def _keys(shop: Shop, req: JobRequest) -> tuple[str, str | None]:
    ckey = (
        content_key(shop.id, req.product_id, req.variant_id, req.source_hash, req.pose_set.id, req.pose_set.version,
                    req.poses)
        if req.source_hash else None
    )  # fmt: skip
    return request_key(shop.id, req), ckey


def live_job(shop: Shop, req: JobRequest) -> Job | None:
    """The live job this request would return: when the pixels are known they decide alone; the request key stands
    in for them only before the download."""
    rkey, ckey = _keys(shop, req)
    return live_job_with(Job.content_key, ckey) if ckey else live_job_with(Job.request_key, rkey)


def get_or_create_job(shop: Shop, req: JobRequest) -> tuple[Job, bool]:
    """The live job for this request if there is one (same key), else a new `queued` job. Does not commit; reserves
    nothing (`admit` does).

    Race-safe: the partial unique indexes on the keys make a concurrent duplicate insert fail; we then return the
    winner's row.
    """
    rkey, ckey = _keys(shop, req)
    existing = live_job(shop, req)
    if existing is not None:
        return existing, False
    job = jobs.new_job(
        shop_id=shop.id, bulk_id=req.bulk_id, origin=req.origin, mode=req.mode,
        product_id=req.product_id, variant_id=req.variant_id, product_title=req.product_title[:512],
        source_url=req.source_url, source_media_id=req.source_media_id,
        source_hash=req.source_hash, source_key=req.source_key,
        pose_set_id=req.pose_set.id, pose_set_version=req.pose_set.version, pose_set=req.pose_set.document,
        poses=list(req.poses) if req.poses else None, backend=req.backend, seed=req.seed, max_size=req.max_size,
        request_key=rkey, content_key=ckey,
    )  # fmt: skip
    try:
        with db.session.begin_nested():
            db.session.add(job)
    except IntegrityError:
        winner = (live_job_with(Job.content_key, ckey) if ckey else None) or live_job_with(Job.request_key, rkey)
        if winner is None:
            raise
        return winner, False
    return job, True


def admit(shop: Shop, requests: Sequence[JobRequest], *, partial: bool = False) -> Admission:
    """Admit `requests` for `shop`: existing live jobs are returned, new ones created `queued` within the daily
    limit and handed to the fair dispatcher after commit. Does not commit.

    `partial=False` (a merchant's request): all or nothing — DailyLimitReached (HTTP 429) when the new ones do not
    all fit, and nothing is created. `partial=True` (automation, bulk): each new request takes its own unit, and one
    the limit refuses is left out (`refused`, None in `jobs`) while the others go on.
    """
    is_new = [live_job(shop, r) is None for r in requests]
    if not partial:
        limits.reserve(shop, sum(is_new))
    result = Admission(jobs=[])
    for req, new in zip(requests, is_new, strict=True):
        if partial and new:
            try:
                limits.reserve(shop, 1)
            except DailyLimitReached:
                result.jobs.append(None)
                result.refused += 1
                continue
        job, created = get_or_create_job(shop, req)
        result.jobs.append(job)
        if created:
            result.created += 1
        else:
            result.existing += 1
    if result.created:
        jobs.request_dispatch()
    return result
