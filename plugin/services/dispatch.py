"""Fair release of queued jobs to the workers, and reconciliation of work whose message was lost.

Fairness: a job is created `queued` and *undispatched*; `dispatch()` releases jobs shop by shop so that each shop has
at most `POSE_STUDIO_SHOP_INFLIGHT` (default 4) jobs dispatched and not yet finished. A shop's 5,000-product bulk thus
occupies at most K places in the `gpu` queue, and another shop's single job waits behind at most K jobs of each busy
shop, never behind the whole bulk. Within a shop, on-demand and automatic jobs go before bulk ones.

Reconciliation: the job row is the truth, the broker is a cache of intentions. A job that sits in a state longer than
it should (its message lost with a Redis that restarted without persistence, or a worker killed before it acked) is
sent again. Every step is idempotent (conditional transitions, deterministic storage keys, idempotent publish), so a
redundant message costs time, never a duplicate.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import case, func, select, text, update

from gpu_worker.contract import GenerateRequest, TaskName
from plugin import config
from plugin.extensions import db, utcnow
from plugin.models.job import ACTIVE_STATES, Job, JobOrigin, JobState
from plugin.models.output import Output
from plugin.services import deliveries, jobs
from plugin.services.queue import send_after_commit
from plugin.task_names import WebTask

log = logging.getLogger(__name__)

DEFAULT_SHOP_INFLIGHT = config.DEFAULT_SHOP_INFLIGHT
_DISPATCH_LOCK = 0x5053_4431  # pg advisory lock id ("PSD1")


def shop_inflight_limit() -> int:
    value = current_app.config.get("POSE_STUDIO_SHOP_INFLIGHT") or os.environ.get("POSE_STUDIO_SHOP_INFLIGHT")
    return int(value or DEFAULT_SHOP_INFLIGHT)


def _lock() -> None:
    # One dispatcher at a time: two concurrent ones would both see a free slot and overfill it.
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DISPATCH_LOCK})


def dispatch() -> int:
    """Release undispatched queued jobs within each shop's in-flight quota; returns how many. Commits."""
    _lock()
    k = shop_inflight_limit()
    active = [s.value for s in ACTIVE_STATES]
    inflight = dict(
        db.session.execute(
            select(Job.shop_id, func.count())
            .where(Job.dispatched_at.is_not(None), Job.state.in_(active))
            .group_by(Job.shop_id)
        ).all()
    )
    waiting_shops = db.session.scalars(
        select(Job.shop_id).where(Job.state == JobState.QUEUED, Job.dispatched_at.is_(None)).distinct()
    ).all()
    released = 0
    now = utcnow()
    for shop_id in waiting_shops:
        free = k - inflight.get(shop_id, 0)
        if free <= 0:
            continue
        bulk_last = case((Job.origin == JobOrigin.BULK, 1), else_=0)
        ids = db.session.scalars(
            select(Job.id)
            .where(Job.shop_id == shop_id, Job.state == JobState.QUEUED, Job.dispatched_at.is_(None))
            .order_by(bulk_last, Job.id)
            .limit(free)
        ).all()
        if not ids:
            continue
        db.session.execute(
            update(Job).where(Job.id.in_(ids)).values(dispatched_at=now, updated_at=now, stage="waiting for a worker")
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        for job_id in ids:
            send_after_commit(WebTask.FETCH_SOURCE, job_id=job_id)
        released += len(ids)
    db.session.commit()
    return released


def _resend_stale_deliveries() -> int:
    """products/* and shop/redact deliveries whose task was never sent (broker down at the webhook) or whose worker
    died."""
    stale = deliveries.stale_deliveries()
    for delivery_id, task_name in stale:
        send_after_commit(task_name, delivery_id=delivery_id)
    return len(stale)


@dataclass(frozen=True)
class StaleAfter:
    """How long a job may sit in a state before its message is considered lost."""

    queued: timedelta = timedelta(minutes=5)
    fetching: timedelta = timedelta(minutes=5)
    generating: timedelta = timedelta(hours=1)  # may wait behind other shops' jobs in the gpu queue
    publishing: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls) -> StaleAfter:
        seconds = current_app.config.get("POSE_STUDIO_RECONCILE_AFTER_SECONDS") or os.environ.get(
            "POSE_STUDIO_RECONCILE_AFTER_SECONDS"
        )
        if seconds:
            d = timedelta(seconds=float(seconds))
            return cls(queued=d, fetching=d, generating=d, publishing=d)
        return cls()


def reconcile(stale: StaleAfter | None = None) -> dict[str, int]:
    """Re-send the message of every job stuck longer than `stale` in a state; then dispatch. Commits."""
    stale = stale or StaleAfter.from_config()
    now = utcnow()
    counts = {"queued": 0, "fetching": 0, "generating": 0, "publishing": 0}

    def stuck(state: JobState, age: timedelta) -> list[Job]:
        return list(
            db.session.scalars(
                select(Job).where(Job.state == state, Job.updated_at < now - age).with_for_update(skip_locked=True)
            )
        )

    for job in stuck(JobState.QUEUED, stale.queued):
        if job.dispatched_at is not None:
            job.updated_at = now
            send_after_commit(WebTask.FETCH_SOURCE, job_id=job.id)
            counts["queued"] += 1
    for job in stuck(JobState.FETCHING, stale.fetching):
        # the fetch task died after claiming: put it back and send it again
        if jobs.requeue_lost_fetch(job):
            send_after_commit(WebTask.FETCH_SOURCE, job_id=job.id)
            counts["fetching"] += 1
    for job in stuck(JobState.GENERATING, stale.generating):
        job.updated_at = now
        has_outputs = db.session.scalar(select(func.count()).where(Output.job_id == job.id))
        if job.spec_key and not has_outputs:
            send_after_commit(TaskName.GENERATE, **GenerateRequest(job_id=job.id, spec_key=job.spec_key).to_kwargs())
        else:
            jobs.abandon_lost_regeneration(job)
        counts["generating"] += 1
    for job in stuck(JobState.PUBLISHING, stale.publishing):
        job.updated_at = now
        send_after_commit(WebTask.PUBLISH_JOB, job_id=job.id)
        counts["publishing"] += 1
    counts["deliveries"] = _resend_stale_deliveries()
    db.session.commit()
    if any(counts.values()):
        log.warning("reconcile re-sent stale work: %s", counts)
    dispatch()
    return counts
