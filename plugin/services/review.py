"""The merchant's review: approve / reject / regenerate one output, ask for a job's approved outputs to be published."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.output import Decision, Output
from plugin.models.shop import Shop
from plugin.services import jobs, limits, shopify_reads
from plugin.services.errors import Conflict, InvalidRequest
from plugin.services.gpu_handoff import start_generation
from plugin.services.queue import send_after_commit
from plugin.shopify.gid import Gid, InvalidGid
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


def place(shop: Shop, output: Output, options: dict[str, Any]) -> None:
    """Approve's options: `position` (1 = first among the job's images in the carousel) and `variant_id` (the
    variant that shows the image; null: none). Validated and applied, not committed: `decide` commits, or the
    error rolls back."""
    job = _job_of(output)
    siblings = jobs.outputs_of(job)
    if options.get("position") is not None:
        _place_at(output, siblings, options["position"])
    if "variant_id" in options:
        _show_on_variant(shop, job, output, siblings, options["variant_id"])


def _place_at(output: Output, siblings: list[Output], position: Any) -> None:
    if isinstance(position, bool) or not isinstance(position, int) or not 1 <= position <= len(siblings):
        raise InvalidRequest(f"position must be a whole number from 1 to {len(siblings)} (this job's images)",
                             code="invalid_position")  # fmt: skip
    # move it and renumber the others, so the job's images keep one order without ties
    order = [o for o in sorted(siblings, key=lambda o: (o.position, o.id)) if o.id != output.id]
    order.insert(position - 1, output)
    for i, o in enumerate(order):
        o.position = i


def _show_on_variant(shop: Shop, job: Job, output: Output, siblings: list[Output], variant: Any) -> None:
    if variant in (None, ""):
        output.variant_id = None
        return
    try:
        gid = str(Gid.parse(variant, "ProductVariant"))
    except InvalidGid:
        raise InvalidRequest("variant_id must be a ProductVariant GID like gid://shopify/ProductVariant/123",
                             code="invalid_variant") from None  # fmt: skip
    if gid != job.variant_id:
        products = shopify_reads.products_by_ids(shop, [job.product_id], variant_ids=[gid])
        if not products:
            raise Conflict("the product of this job no longer exists in Shopify", code="unknown_product")
        if gid not in {v.id for v in products[0].variants}:
            raise InvalidRequest(f"variant {gid} is not a variant of '{products[0].title}'; choose one of "
                                 "its own variants", code="unknown_variant")  # fmt: skip
    # Shopify shows one image per variant: this output takes the variant from the job's other images
    for o in siblings:
        if o.id != output.id and o.variant_id == gid:
            o.variant_id = None
    output.variant_id = gid
