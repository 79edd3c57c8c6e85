"""Jobs: the state machine. The only module that writes `Job.state` (admission creates a job through `new_job`;
every later move, reconcile's included, is a `transition` here), and the one `settle` decision of what comes next
once a job's images exist.

State machine (docs/JOBS.md):

    queued → fetching → generating → checking → awaiting_review → publishing → published
       ╰──────────┴───────────┴───────────┴──────────────┴──────────────┴→ failed | cancelled

Every transition is one `UPDATE jobs SET state=:to … WHERE id=:id AND state IN (:from…)`; the caller learns whether
it won. Two deliveries of the same task race on that UPDATE and exactly one proceeds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update

from plugin.extensions import db, rows_matched, utcnow
from plugin.models.job import ACTIVE_STATES, Job, JobMode, JobState
from plugin.models.output import Decision, Output
from plugin.models.shop import Shop
from plugin.services import limits
from plugin.services.queue import send_after_commit
from plugin.task_names import WebTask
from pose_studio.logging import log_job_transition

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


def new_job(**columns: Any) -> Job:
    """A job row in the machine's first state (`queued`), not yet added to the session (admission adds it)."""
    return Job(**columns, state=JobState.QUEUED, progress=0, stage="queued")


def transition(
    job_id: int, to: JobState, *, from_states: Iterable[JobState], reason: str | None = None, **values: Any
) -> bool:
    """Move job `job_id` to `to` if it is in one of `from_states`; True when this caller won. Does not commit.

    The row is locked (SELECT … FOR UPDATE) to learn which state it leaves, then moved by a conditional UPDATE on
    exactly that state: a concurrent caller waits for the lock and then finds the new state. The winner logs the
    change (`event=job.transition`, the transitions counter), frees its shop's in-flight slot, and gives the daily
    limit unit back when the job ends failed or cancelled without any image (docs/JOBS.md, "Daily limit").
    `reason` goes into the transition's log line.
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
    won = rows_matched(result) == 1
    if won:
        job = db.session.get(Job, job_id)
        if job is not None:
            db.session.refresh(job)
            _after_transition(job, old, to, reason)
        if old in ACTIVE_STATES and to not in ACTIVE_STATES:
            request_dispatch()  # a slot of this shop's in-flight quota is free
    return won


def _after_transition(job: Job, old: JobState, to: JobState, reason: str | None) -> None:
    log_job_transition(job, old, to, reason=reason)
    if to in (JobState.FAILED, JobState.CANCELLED) and not _has_outputs(job.id):
        # the unit reserved when the job was asked for: nothing was generated, so nothing is charged
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
    session = db.session()
    if not session.info.get("pose_studio_dispatch_requested"):
        session.info["pose_studio_dispatch_requested"] = True
        send_after_commit(WebTask.DISPATCH)


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


# --- what comes next once the images exist ----------------------------------------------------------------------


def settle(job: Job, *, on_product: int | None = None) -> None:
    """The one decision of what a job does once its images exist. Does not commit.

    - `checking` (every run of a generation reported): in `auto` mode the gate's clean passes are approved and, if
      any is not on the product yet, the job goes `publishing` (the publish task is sent after commit); otherwise
      it waits for the merchant in `awaiting_review`.
    - `publishing` (a publish finished, `on_product` images on the product): `published` when no image waits for
      the merchant; else back to `awaiting_review` with the published ones marked (an `auto` job whose other
      images failed the check must not look finished while those wait).
    - `awaiting_review` (the merchant decided an image): `published` once nothing waits and every approved image is
      on the product already; else it keeps waiting.
    """
    if job.state == JobState.CHECKING:
        _settle_checked(job)
    elif job.state == JobState.PUBLISHING:
        _settle_published(job, on_product)
    elif job.state == JobState.AWAITING_REVIEW and not needs_review(job) and _all_approved_published(job):
        _settle_published(job, on_product)


def _settle_checked(job: Job) -> None:
    outputs = outputs_of(job)
    if job.mode == JobMode.AUTO:
        # only gate passes go live unseen, and only those without a note: a passed output's reasons are notes that
        # hold it for a person (a warp of a photograph, gpu_worker.tasks.photo_warp_hold)
        for o in outputs:
            if o.passed and not o.reasons and o.decision == Decision.PENDING:
                o.decision = Decision.APPROVED
    to_publish = [o for o in outputs if o.decision == Decision.APPROVED and not o.shopify_media_id]
    if job.mode == JobMode.AUTO and to_publish:
        if transition(job.id, JobState.PUBLISHING, from_states=[JobState.CHECKING], progress=95, stage="publishing"):
            send_after_commit(WebTask.PUBLISH_JOB, job_id=job.id)
    else:
        held = sum(1 for o in outputs if o.decision == Decision.PENDING)
        transition(job.id, JobState.AWAITING_REVIEW, from_states=[JobState.CHECKING], progress=100,
                   stage=f"{held} image(s) waiting for review")  # fmt: skip


def _settle_published(job: Job, on_product: int | None) -> None:
    waiting = needs_review(job)
    if on_product is None:
        on_product = db.session.scalar(
            select(func.count()).select_from(Output)
            .where(Output.job_id == job.id, Output.shopify_media_id.is_not(None))
        ) or 0  # fmt: skip
    if waiting:
        transition(job.id, JobState.AWAITING_REVIEW, from_states=[job.state], progress=100,
                   stage=f"{on_product} image(s) on the product, {waiting} waiting for review",
                   error_code=None, error_message=None)  # fmt: skip
    else:
        transition(job.id, JobState.PUBLISHED, from_states=[job.state], progress=100,
                   stage=f"{on_product} image(s) on the product", error_code=None, error_message=None)  # fmt: skip


def _all_approved_published(job: Job) -> bool:
    approved = [o for o in outputs_of(job) if o.decision == Decision.APPROVED]
    return bool(approved) and all(o.shopify_media_id for o in approved)


# --- reconcile's moves (plugin.services.dispatch finds the stuck jobs; the moves are the machine's) ----------------


def requeue_lost_fetch(job: Job) -> bool:
    """A fetch task died after claiming the job: back to `queued` (still dispatched) so the fetch is sent again.
    Does not commit."""
    return transition(job.id, JobState.QUEUED, from_states=[JobState.FETCHING],
                      reason="reconcile: the fetch was lost")  # fmt: skip


def abandon_lost_regeneration(job: Job) -> bool:
    """A regeneration whose message was lost: give the images back to review rather than guess its spec. Does not
    commit."""
    db.session.execute(update(Output).where(Output.job_id == job.id).values(regenerating=False))
    message = "a regeneration was interrupted; ask for it again"
    return transition(job.id, JobState.AWAITING_REVIEW, from_states=[JobState.GENERATING], pending_runs=0,
                      error_message=message, reason=message)  # fmt: skip
