"""Jobs: idempotent creation, the state machine (conditional transitions), cancellation, and their JSON form.

State machine (docs/JOBS.md):

    queued → fetching → generating → checking → awaiting_review → publishing → published
       ╰──────────┴───────────┴───────────┴──────────────┴──────────────┴→ failed | cancelled

Every transition is one `UPDATE jobs SET state=:to … WHERE id=:id AND state IN (:from…)`; the caller learns whether
it won. Two deliveries of the same task race on that UPDATE and exactly one proceeds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from plugin.extensions import db, utcnow
from plugin.models.job import ACTIVE_STATES, Job, JobMode, JobOrigin, JobState
from plugin.models.output import Decision, Output
from plugin.models.shop import Shop

# Allowed moves (from → to); `transition` refuses anything else so a bug cannot jump the machine.
ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.FETCHING, JobState.GENERATING, JobState.FAILED, JobState.CANCELLED}),
    JobState.FETCHING: frozenset({JobState.QUEUED, JobState.GENERATING, JobState.FAILED, JobState.CANCELLED}),
    JobState.GENERATING: frozenset({JobState.CHECKING, JobState.QUEUED, JobState.AWAITING_REVIEW,
                                    JobState.FAILED, JobState.CANCELLED}),
    JobState.CHECKING: frozenset({JobState.AWAITING_REVIEW, JobState.PUBLISHING, JobState.FAILED,
                                  JobState.CANCELLED}),
    # → published: the last image waiting for review was rejected and the others are on the product already
    JobState.AWAITING_REVIEW: frozenset({JobState.PUBLISHING, JobState.GENERATING, JobState.PUBLISHED,
                                         JobState.CANCELLED}),
    JobState.PUBLISHING: frozenset({JobState.PUBLISHED, JobState.AWAITING_REVIEW, JobState.FAILED}),
    JobState.PUBLISHED: frozenset({JobState.PUBLISHING, JobState.GENERATING}),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}  # fmt: skip


class IllegalTransition(ValueError):
    pass


@dataclass(frozen=True)
class PoseSetRef:
    """A resolved pose set: its id, version (part of the idempotency key) and the whole document (snapshot)."""

    id: str
    version: str
    document: dict[str, Any]


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


def find_live(key_column: Any, key: str) -> Job | None:
    return db.session.scalars(
        select(Job).where(key_column == key, Job.state.not_in([JobState.FAILED, JobState.CANCELLED]))
    ).first()


def get_or_create_job(shop: Shop, req: JobRequest) -> tuple[Job, bool]:
    """The live job for this request if there is one (same key), else a new `queued` job. Does not commit.

    Race-safe: the partial unique indexes on the keys make a concurrent duplicate insert fail; we then return the
    winner's row.
    """
    rkey = request_key(shop.id, req)
    ckey = (
        content_key(shop.id, req.product_id, req.variant_id, req.source_hash, req.pose_set.id, req.pose_set.version,
                    req.poses)
        if req.source_hash else None
    )  # fmt: skip
    # when the pixels are known they decide alone; the request key stands in for them only before the download
    existing = find_live(Job.content_key, ckey) if ckey else find_live(Job.request_key, rkey)
    if existing is not None:
        return existing, False
    job = Job(
        shop_id=shop.id, bulk_id=req.bulk_id, origin=req.origin, mode=req.mode,
        product_id=req.product_id, variant_id=req.variant_id, product_title=req.product_title[:512],
        source_url=req.source_url, source_media_id=req.source_media_id,
        source_hash=req.source_hash, source_key=req.source_key,
        pose_set_id=req.pose_set.id, pose_set_version=req.pose_set.version, pose_set=req.pose_set.document,
        poses=list(req.poses) if req.poses else None, backend=req.backend, seed=req.seed, max_size=req.max_size,
        request_key=rkey, content_key=ckey, state=JobState.QUEUED, progress=0, stage="queued",
    )  # fmt: skip
    try:
        with db.session.begin_nested():
            db.session.add(job)
    except IntegrityError:
        winner = (find_live(Job.content_key, ckey) if ckey else None) or find_live(Job.request_key, rkey)
        if winner is None:
            raise
        return winner, False
    return job, True


def transition(job_id: int, to: JobState, *, from_states: Iterable[JobState], **values: Any) -> bool:
    """Move job `job_id` to `to` if it is in one of `from_states`; True when this caller won. Does not commit.

    The row is locked (SELECT … FOR UPDATE) to learn which state it leaves, then moved by a conditional UPDATE on
    exactly that state: a concurrent caller waits for the lock and then finds the new state. The winner logs the
    change (`event=job.transition`, the transitions counter), frees its shop's in-flight slot, and gives the daily
    limit unit back when the job ends failed or cancelled without any image (docs/JOBS.md, "Daily limit").
    """
    sources = [JobState(s) for s in from_states]
    for s in sources:
        if to not in ALLOWED[s] and to != s:
            raise IllegalTransition(f"{s} → {to} is not a job transition")
    old = db.session.scalar(select(Job.state).where(Job.id == job_id).with_for_update())
    if old is None or JobState(old) not in sources:
        return False
    old = JobState(old)
    if to.is_terminal and "finished_at" not in values:
        values["finished_at"] = utcnow()
    result = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == old)
        .values(state=to, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    won = result.rowcount == 1
    if won:
        job = db.session.get(Job, job_id)
        if job is not None:
            db.session.refresh(job)
            _after_transition(job, old, to)
        if old in ACTIVE_STATES and to not in ACTIVE_STATES:
            request_dispatch()  # a slot of this shop's in-flight quota is free
    return won


def _after_transition(job: Job, old: JobState, to: JobState) -> None:
    from plugin.observability.logging import log_job_transition

    log_job_transition(job, old, to)
    if to in (JobState.FAILED, JobState.CANCELLED) and not _has_outputs(job.id):
        # the unit reserved when the job was asked for: nothing was generated, so nothing is charged
        from plugin.services import limits

        limits.refund(job.shop_id, job.created_at.date(), 1)


def _has_outputs(job_id: int) -> bool:
    return db.session.scalar(select(Output.id).where(Output.job_id == job_id).limit(1)) is not None


def give_up(job_id: int, code: str, message: str) -> str | None:
    """A task gave up on this job (an unexpected error, or retries exhausted): leave the job in a state that says
    so, never in a working state without a reason. Returns the new state's name, or None when the job had moved on
    (finished, cancelled) and nothing was changed. Does not commit.

    Before any image exists the job fails; with images it goes back to review (the images stay usable and the
    merchant can regenerate or publish again); a publish that cannot go on goes back to review too.
    """
    job = db.session.get(Job, job_id)
    if job is None:
        return None
    state = job.state
    if state in (JobState.QUEUED, JobState.FETCHING) or (
        state in (JobState.GENERATING, JobState.CHECKING) and not _has_outputs(job_id)
    ):
        return JobState.FAILED.value if fail(job_id, code, message, from_states=[state]) else None
    if state in (JobState.GENERATING, JobState.CHECKING, JobState.PUBLISHING):
        db.session.execute(
            update(Output).where(Output.job_id == job_id, Output.regenerating.is_(True)).values(regenerating=False)
        )
        moved = transition(job_id, JobState.AWAITING_REVIEW, from_states=[state], pending_runs=0,
                           error_code=code, error_message=message, stage="waiting for review")  # fmt: skip
        return JobState.AWAITING_REVIEW.value if moved else None
    return None


def request_dispatch() -> None:
    """Ask the fair dispatcher to run once after this transaction commits (at most one message per commit)."""
    from gpu_worker.contract import TaskName
    from plugin.services.queue import send_after_commit

    session = db.session()
    if not session.info.get("pose_studio_dispatch_requested"):
        session.info["pose_studio_dispatch_requested"] = True
        send_after_commit(TaskName.DISPATCH)


def fail(job_id: int, code: str, message: str, *, from_states: Iterable[JobState] | None = None) -> bool:
    states = from_states or [s for s in JobState if JobState.FAILED in ALLOWED[s]]
    return transition(job_id, JobState.FAILED, from_states=states, error_code=code, error_message=message,
                      stage="failed")  # fmt: skip


def cancel(job: Job, reason: str = "cancelled by the merchant") -> bool:
    """Cancel a job whose work has not finished (queued … checking, or awaiting review). Does not commit.

    The GPU task of a cancelled job finds its spec gone (deleted here after commit by the caller) or its report
    refused by the state check, so a cancelled job never publishes.
    """
    return transition(
        job.id, JobState.CANCELLED,
        from_states=[*ACTIVE_STATES, JobState.AWAITING_REVIEW],
        error_code="cancelled", error_message=reason, stage="cancelled",
    )  # fmt: skip


def jobs_for_shop(shop: Shop, *, state: str | None = None, limit: int = 100, before_id: int | None = None) -> list[Job]:
    q = select(Job).where(Job.shop_id == shop.id)
    if state:
        q = q.where(Job.state.in_([JobState(s) for s in state.split(",")]))
    if before_id:
        q = q.where(Job.id < before_id)
    return list(db.session.scalars(q.order_by(Job.id.desc()).limit(min(limit, 500))))


def needs_review(job: Job) -> int:
    """How many images of the job wait for the merchant's decision (not approved, not rejected, not regenerating).
    An `auto` job whose passing images were published while others failed the check stays `awaiting_review`
    with this count (docs/JOBS.md)."""
    return int(db.session.scalar(
        select(func.count()).select_from(Output)
        .where(Output.job_id == job.id, Output.decision == Decision.PENDING, Output.regenerating.is_(False))
    ) or 0)  # fmt: skip


def outputs_of(job: Job) -> list[Output]:
    return list(db.session.scalars(select(Output).where(Output.job_id == job.id).order_by(Output.position)))


def output_to_dict(o: Output) -> dict[str, Any]:
    return {
        "id": o.id, "job_id": o.job_id, "pose_id": o.pose_id, "pose_name": o.pose_name, "position": o.position,
        "seed": o.seed, "width": o.width, "height": o.height,
        "scores": {"oks": o.oks, "pck": o.pck}, "passed": o.passed, "reasons": o.reasons or [],
        "decision": o.decision.value, "regenerating": o.regenerating, "variant_id": o.variant_id,
        "shopify_media_id": o.shopify_media_id, "published": o.published_at is not None,
        "image_url": f"/api/outputs/{o.id}/image",
    }  # fmt: skip


def job_to_dict(job: Job, *, with_outputs: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id, "state": job.state.value, "progress": job.progress, "stage": job.stage,
        "mode": job.mode.value, "origin": job.origin.value, "bulk_id": job.bulk_id,
        "product_id": job.product_id, "variant_id": job.variant_id, "product_title": job.product_title,
        "pose_set": {"id": job.pose_set_id, "version": job.pose_set_version}, "poses": job.poses,
        "backend": job.backend, "attempts": job.attempts, "duplicate_of": job.duplicate_of_id,
        "error": {"code": job.error_code, "message": job.error_message} if job.error_message else None,
        "needs_review": needs_review(job),
        "created_at": job.created_at.isoformat(), "updated_at": job.updated_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }  # fmt: skip
    if with_outputs:
        data["outputs"] = [output_to_dict(o) for o in outputs_of(job)]
    return data
