"""Apply what the GPU worker reports (attempt started, progress, done, failed) to the job row.

Every report may arrive twice or late (at-least-once delivery, a worker killed after sending): each handler is a
conditional update that does nothing when the job is no longer in the state the report is about.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import func, select, update

from gpu_worker.contract import FailureCode, OutputRecord, ResultManifest
from plugin.extensions import db, rows_matched, utcnow
from plugin.models.job import Job, JobState
from plugin.models.output import Decision, Output
from plugin.services import jobs, limits
from plugin.storage import KeyMissing, get_storage

log = logging.getLogger(__name__)

GENERATION_SHARE = (10, 90)  # the generation step moves the job's progress from 10 to 90


def _run_of(spec_key: str) -> str:
    name = spec_key.rpartition("/")[2]
    return name.removeprefix("spec-").removesuffix(".json") or "main"


def record_attempt(job_id: int, attempt: int) -> bool:
    """The GPU worker started delivery number `attempt` of a run: record it on the row (never decreasing)."""
    result = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.GENERATING)
        .values(attempts=func.greatest(Job.attempts, attempt) if _pg() else attempt, stage="generating",
                updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    db.session.commit()
    return rows_matched(result) == 1


def _pg() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def record_progress(job_id: int, progress: int, stage: str) -> None:
    lo, hi = GENERATION_SHARE
    value = lo + (hi - lo) * max(0, min(100, progress)) // 100
    db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.GENERATING, Job.progress <= value)
        .values(progress=value, stage=stage[:64], updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def record_done(job_id: int, manifest_key: str) -> None:
    """Outputs of one run are in storage: upsert their rows; when no run is pending, check → review or publish."""
    job = db.session.scalars(select(Job).where(Job.id == job_id).with_for_update()).first()
    if job is None or job.state != JobState.GENERATING:
        db.session.rollback()
        return  # a duplicate report, or the job was cancelled / redacted meanwhile
    try:
        manifest = ResultManifest.from_kwargs(json.loads(get_storage().get(manifest_key)))
    except KeyMissing:
        jobs.fail(job_id, FailureCode.ENGINE_ERROR, "the generated images went missing from storage; regenerate")
        db.session.commit()
        return
    existing = {o.pose_id: o for o in db.session.scalars(select(Output).where(Output.job_id == job.id))}
    order = [p["id"] for p in job.pose_set.get("poses", [])]
    records = manifest.output_records()
    _observe(manifest.backend, records, manifest.seconds)
    for rec in records:
        out = existing.get(rec.pose_id)
        if out is None:
            out = Output(shop_id=job.shop_id, job_id=job.id, pose_id=rec.pose_id, variant_id=job.variant_id,
                         position=order.index(rec.pose_id) if rec.pose_id in order else len(order))  # fmt: skip
            db.session.add(out)
        elif manifest.run != "main" and not out.regenerating:
            continue  # a late duplicate of a regeneration already applied
        elif manifest.run == "main" and out.shopify_media_id:
            continue  # already published from an earlier delivery; never replace it silently
        out.pose_name = rec.pose_name
        # an existing output keeps its position: the merchant may have moved it (approve {position})
        out.storage_key, out.seed, out.width, out.height = rec.key, rec.seed, rec.width, rec.height
        out.oks, out.pck, out.passed, out.reasons = rec.oks, rec.pck, rec.passed, list(rec.reasons)
        out.decision, out.regenerating = Decision.PENDING, False
    pending = max(0, job.pending_runs - 1)
    if pending:
        job.pending_runs = pending
        db.session.commit()
        return
    job.pending_runs = 0
    if jobs.transition(job.id, JobState.CHECKING, from_states=[JobState.GENERATING], progress=90, stage="checking"):
        jobs.settle(job)
    db.session.commit()


def _observe(backend: str, records: list[OutputRecord], total_seconds: float) -> None:
    """`pose_studio_generation_seconds{pose,backend}`: each pose's own time, or an even share of the run's total
    (a manifest from an older worker). Recorded where the outcome is recorded, so a redelivered report that is
    refused above does not count twice."""
    from pose_studio import metrics

    share = total_seconds / max(1, len(records))
    for rec in records:
        metrics.observe_generation(rec.pose_id, backend or "unknown",
                                   rec.seconds if rec.seconds is not None else share)  # fmt: skip


def record_failed(job_id: int, code: str, message: str, spec_key: str = "") -> None:
    run = _run_of(spec_key) if spec_key else "main"
    job = db.session.scalars(select(Job).where(Job.id == job_id).with_for_update()).first()
    if job is None or job.state != JobState.GENERATING:
        db.session.rollback()
        return
    if run != "main":
        # A failed regeneration keeps the job and its other images; the output goes back to review as it was.
        output_id = int(run.split("-")[1]) if run.count("-") >= 2 else None
        out = db.session.get(Output, output_id) if output_id else None
        if out is not None and out.job_id == job.id:
            out.regenerating = False
        job.error_code, job.error_message = code, f"regenerating one image failed: {message}"
        job.pending_runs = max(0, job.pending_runs - 1)
        limits.refund(job.shop_id, limits.today(), 1)  # the regeneration was charged when asked for; none came
        if job.pending_runs == 0 and jobs.transition(
            job.id, JobState.CHECKING, from_states=[JobState.GENERATING], stage="checking"
        ):
            jobs.settle(job)
        db.session.commit()
        return
    jobs.fail(job_id, code, message, from_states=[JobState.GENERATING])
    db.session.commit()
