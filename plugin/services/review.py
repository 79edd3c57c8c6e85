"""The merchant's review: approve / reject / regenerate one output, ask for a job's approved outputs to be published."""

from __future__ import annotations

from sqlalchemy import select

from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.output import Decision, Output
from plugin.models.shop import Shop
from plugin.services import jobs, limits
from plugin.services.errors import Conflict
from plugin.services.gpu_handoff import start_generation
from plugin.services.queue import send_after_commit
from plugin.task_names import WebTask

REVIEWABLE = (JobState.AWAITING_REVIEW, JobState.PUBLISHED)


def _job_of(output: Output) -> Job:
    job = db.session.get(Job, output.job_id)
    assert job is not None
    return job


def _check_reviewable(job: Job, output: Output) -> None:
    if job.state not in REVIEWABLE:
        raise Conflict(f"job {job.id} is {job.state.value}; images can be reviewed once it is awaiting review",
                       code="job_not_reviewable")  # fmt: skip
    if output.regenerating:
        raise Conflict("this image is being regenerated; review the new one when it is ready",
                       code="output_regenerating")  # fmt: skip


def decide(output: Output, decision: Decision) -> Output:
    """Approve or reject one output. Commits."""
    job = _job_of(output)
    _check_reviewable(job, output)
    if decision == Decision.REJECTED and output.shopify_media_id:
        raise Conflict("this image is already on the product; remove it in Shopify or regenerate it",
                       code="output_published")  # fmt: skip
    output.decision = decision
    db.session.flush()
    # the last waiting image decided with every approved one on the product already: the job is done
    jobs.settle(job)
    db.session.commit()
    return output


def regenerate(shop: Shop, output: Output) -> Output:
    """Generate this pose again with a new seed (counts against the daily limit). Commits."""
    job = _job_of(output)
    _check_reviewable(job, output)
    limits.reserve(shop, 1)
    seed = output.seed + 1
    output.regenerating = True
    output.decision = Decision.PENDING
    if not start_generation(job, shop, from_states=list(REVIEWABLE), run=f"regen-{output.id}-{seed}",
                            poses=[output.pose_id], seed=seed):  # fmt: skip
        db.session.rollback()
        raise Conflict("the job changed meanwhile; reload it and try again", code="job_changed")
    db.session.commit()
    return output


def request_publish(job: Job) -> Job:
    """Publish the job's approved, not yet published outputs. Commits; the publish task runs after commit."""
    todo = db.session.scalars(
        select(Output.id).where(Output.job_id == job.id, Output.decision == Decision.APPROVED,
                                Output.shopify_media_id.is_(None))
    ).all()  # fmt: skip
    if not todo:
        raise Conflict("no approved image is waiting to be published; approve at least one first",
                       code="nothing_to_publish")  # fmt: skip
    if not jobs.transition(job.id, JobState.PUBLISHING, from_states=list(REVIEWABLE), stage="publishing"):
        db.session.rollback()
        raise Conflict(f"job {job.id} is {job.state.value}; it can be published once it is awaiting review",
                       code="job_not_reviewable")  # fmt: skip
    send_after_commit(WebTask.PUBLISH_JOB, job_id=job.id)
    db.session.commit()
    return job
