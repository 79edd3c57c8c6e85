"""Publish a job's approved outputs to the product through the idempotent media write-back.

The write-back (plugin.shopify.media) matches the gallery by deterministic filename before creating anything, so a
publish task that is redelivered after a crash (acks_late) finishes the same publish instead of adding copies. The
filename carries the job, pose and seed: a regenerated image replaces the published one of the same pose.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from gpu_worker.contract import IMAGE_FORMATS, ImageFormat, image_format_of_key
from plugin.extensions import db, utcnow
from plugin.models.job import Job, JobState
from plugin.models.output import Decision, Output
from plugin.models.shop import Shop
from plugin.services import billing, jobs
from plugin.storage import get_storage

log = logging.getLogger(__name__)


class Transient(Exception):
    """Shopify is throttling or unavailable: the publish task retries with backoff."""


def output_format(out: Output) -> ImageFormat:
    """The stored image's format by its key (the GPU worker writes png, jpeg or webp; PNG when unknown): its
    extension names the published file, its MIME type is what Shopify is told."""
    return image_format_of_key(out.storage_key) or IMAGE_FORMATS["png"]


def output_filename(job: Job, out: Output) -> str:
    from plugin.shopify.media import deterministic_filename

    return deterministic_filename(job.id, f"{out.pose_id}-{out.seed}", ext=output_format(out).ext)


def variant_images(job: Job, approved: list[Output]) -> list[str | None]:
    """Each approved output's variant (chosen at approve, in `Output.variant_id`), in publish order, at most one
    image per variant (Shopify shows one): a later output naming a variant already taken gets none. When no output
    names a variant at all, the first image becomes the job's variant's image."""
    taken: set[str] = set()
    chosen: list[str | None] = []
    for o in approved:
        variant = o.variant_id if o.variant_id and o.variant_id not in taken else None
        if variant:
            taken.add(variant)
        chosen.append(variant)
    if chosen and not taken and job.variant_id:
        chosen[0] = job.variant_id
    return chosen


def _replace_previous(job: Job) -> bool:
    """Replace our earlier images of the product, unless another variant's job has images on it to keep."""
    other = db.session.scalar(
        select(Output.id).join(Job, Job.id == Output.job_id)
        .where(Job.shop_id == job.shop_id, Job.product_id == job.product_id, Job.id != job.id,
               Job.variant_id.is_distinct_from(job.variant_id), Output.shopify_media_id.is_not(None))
        .limit(1)
    )  # fmt: skip
    return other is None


def run_publish(job_id: int) -> None:
    """The publish task: approved outputs → product media (in pose order, alt text, variant image). Commits."""
    from plugin.errors import RefreshLockTimeout, ShopifyAuthError
    from plugin.services.shopify_reads import admin_client
    from plugin.shopify.errors import MediaError, ShopifyError, ShopifyUnavailable
    from plugin.shopify.media import ImageToPublish, MediaWriteBack, pose_alt_text

    job = db.session.get(Job, job_id)
    if job is None or job.state != JobState.PUBLISHING:
        return
    shop = db.session.get(Shop, job.shop_id)
    assert shop is not None
    approved = list(db.session.scalars(
        select(Output).where(Output.job_id == job.id, Output.decision == Decision.APPROVED).order_by(Output.position)
    ))  # fmt: skip
    storage = get_storage()
    images = [
        ImageToPublish(
            key=str(o.id), filename=output_filename(job, o), bytes=storage.get(o.storage_key),
            mime=output_format(o).mime,
            alt=pose_alt_text(job.product_title or "{product_title}", o.pose_name or o.pose_id),
            variant_id=variant,
        )
        for o, variant in zip(approved, variant_images(job, approved), strict=True)
    ]  # fmt: skip
    if not images:
        jobs.transition(job.id, JobState.AWAITING_REVIEW, from_states=[JobState.PUBLISHING], stage="nothing approved")
        db.session.commit()
        return
    try:
        published = MediaWriteBack(admin_client(shop)).publish(
            job.product_id, images, replace_previous=_replace_previous(job),
            owned_media_ids=[o.shopify_media_id for o in approved if o.shopify_media_id],
        )  # fmt: skip
    except (ShopifyUnavailable, RefreshLockTimeout) as exc:
        raise Transient(str(exc)) from exc  # the task retries it (pose_studio_writeback_retries_total)
    except ShopifyAuthError as exc:
        # the shop's token pair is gone or refused: only the merchant opening the app gets a new one
        log.warning("publishing job %s: no usable token: %s", job.id, exc)
        jobs.transition(job.id, JobState.AWAITING_REVIEW, from_states=[JobState.PUBLISHING],
                        error_code="shopify_token_rejected",
                        error_message="Shopify no longer accepts Pose Studio's access to your store; open Pose "
                        "Studio from the Shopify admin, then publish again")  # fmt: skip
        db.session.commit()
        return
    except (MediaError, ShopifyError) as exc:
        log.warning("publishing job %s failed: %s", job.id, exc)
        jobs.transition(job.id, JobState.AWAITING_REVIEW, from_states=[JobState.PUBLISHING],
                        error_code="publish_failed",
                        error_message=f"Shopify did not accept the images: {exc}")  # fmt: skip
        db.session.commit()
        return
    by_key = {p.key: p for p in published}
    now = utcnow()
    for o in approved:
        media = by_key.get(str(o.id))
        if media is not None:
            o.shopify_media_id = media.media_id
            o.published_at = o.published_at or now
    db.session.flush()
    billing.record_published(shop, approved)  # usage billing: one charge per image newly on the product
    jobs.settle(job, on_product=len(published))
    db.session.commit()
    _send_charges(shop)


def _send_charges(shop: Shop) -> None:
    """The charges go to Shopify after the publish is committed: a failure there never undoes a publish (the
    charges stay pending and go out, with the same idempotency keys, after the shop's next publish)."""
    try:
        billing.send_pending(shop)
    except Exception:
        db.session.rollback()
        log.warning("billing: sending the charges of %s failed; they stay pending", shop.domain, exc_info=True)
