"""Hand a job to the GPU side: fetch its source image into storage, write the job spec, send `generate`.

The GPU side gets only (job id, spec key); the spec document in storage carries everything else, so the GPU worker
never reads our database and never talks to Shopify.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gpu_worker.contract import GenerateRequest, JobSpec, TaskName
from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.product_source import ProductSource
from plugin.models.shop import Shop
from plugin.security.safe_fetch import FetchedImage, FetchPolicy, FetchRejected, HostNotAllowed, fetch_source_image
from plugin.services import admission, jobs
from plugin.services.errors import StorageUnavailable, storage_errors
from plugin.services.queue import send_after_commit
from plugin.services.settings import get_settings
from plugin.storage import get_storage, keys

log = logging.getLogger(__name__)
FETCH_TRIES = 3


def fetch_policy(shop: Shop) -> FetchPolicy:
    # The emulator origin is refused by plugin.config in production, so it never widens the allowlist there.
    return FetchPolicy(shop_domain=shop.domain, emulator_origin=current_app.config.get("SHOPIFY_ADMIN_ORIGIN") or None)


def fetch_to_storage(shop: Shop, url: str) -> tuple[FetchedImage, str]:
    """Download `url` (Shopify CDN only), re-encode, store under the shop's sources; transient errors are retried."""
    policy = fetch_policy(shop)
    for attempt in range(FETCH_TRIES):
        try:
            image = fetch_source_image(url, policy)
            break
        except HostNotAllowed:
            raise
        except FetchRejected as exc:
            if attempt == FETCH_TRIES - 1 or "try again" not in str(exc):
                raise
            time.sleep(0.5 * 2**attempt)
    key = keys.source(shop.domain, image.content_hash)
    storage = get_storage()
    try:
        if not storage.exists(key):
            storage.put(key, image.png, "image/png")
    except storage_errors() as exc:
        raise StorageUnavailable.from_error(exc, "saving the product's source image") from exc
    return image, key


def _put(key: str, data: bytes, content_type: str, doing: str) -> None:
    try:
        get_storage().put(key, data, content_type)
    except storage_errors() as exc:
        raise StorageUnavailable.from_error(exc, doing) from exc


def run_fetch(job_id: int, *, resume: bool = False) -> None:
    """The `fetch_source` task: queued → fetching → (source in storage, content key set) → generating. Commits.

    `resume`: a retry of this task after a transient error (storage, database) may take the job over from
    `fetching`, where the failed attempt left it; a first delivery claims only a `queued` job. Raises
    StorageUnavailable (transient) when storage refuses a write; the task retries, then gives up on the job.
    """
    claim_from = [JobState.QUEUED, JobState.FETCHING] if resume else [JobState.QUEUED]
    if not jobs.transition(job_id, JobState.FETCHING, from_states=claim_from, progress=2, stage="fetching"):
        db.session.rollback()
        return  # a duplicate delivery, or the job was cancelled meanwhile
    db.session.commit()
    job = db.session.get(Job, job_id)
    assert job is not None
    shop = db.session.get(Shop, job.shop_id)
    assert shop is not None
    try:
        if not job.source_key:
            if not job.source_url:
                raise FetchRejected("the product has no image to start from; add a product image in Shopify")
            image, key = fetch_to_storage(shop, job.source_url)
            job.source_hash, job.source_key = image.content_hash, key
    except FetchRejected as exc:
        jobs.fail(job_id, "source_rejected", str(exc))
        db.session.commit()
        return
    ckey = admission.content_key_of(job)
    duplicate = admission.live_job_with(Job.content_key, ckey, other_than=job.id)
    if duplicate is None:
        try:
            with db.session.begin_nested():
                job.content_key = ckey
                db.session.flush()
        except IntegrityError:
            job.content_key = None
            duplicate = db.session.scalars(select(Job).where(Job.content_key == ckey)).first()
    if duplicate is not None:
        # Same pixels, same pose set: the work exists already (idempotency key). Point at it instead of redoing it.
        jobs.transition(job_id, JobState.CANCELLED, from_states=[JobState.FETCHING], duplicate_of_id=duplicate.id,
                        error_code="duplicate",
                        error_message=f"this image was already generated with this pose set in job {duplicate.id}; "
                        "open that job")  # fmt: skip
        db.session.commit()
        return
    start_generation(job, shop, from_states=[JobState.FETCHING])
    db.session.commit()


def start_generation(
    job: Job, shop: Shop, *, from_states: list[JobState], run: str = "main", poses: list[str] | None = None,
    seed: int | None = None,
) -> bool:  # fmt: skip
    """Write the spec for `run` and move the job to `generating`; `generate` is sent after commit. Does not commit."""
    assert job.source_key is not None
    skeleton = db.session.scalars(
        select(ProductSource.source_skeleton).where(ProductSource.shop_id == shop.id,
                                                    ProductSource.product_id == job.product_id)
    ).first()  # fmt: skip
    spec = JobSpec(
        job_id=job.id, shop=shop.domain, source_key=job.source_key, pose_set=job.pose_set,
        poses=poses if poses is not None else job.poses, backend=job.backend,
        seed=job.seed if seed is None else seed, max_size=job.max_size, source_skeleton=skeleton, run=run,
        output_format=get_settings(shop).output_format or "png",
    )  # fmt: skip
    spec_key = keys.spec(shop.domain, job.id, run)
    _put(spec_key, json.dumps(spec.to_kwargs()).encode(), "application/json", "saving the job's instructions")
    values: dict[str, Any] = {"stage": "waiting for a GPU" if run == "main" else f"regenerating ({run})",
              "pending_runs": job.pending_runs + 1}  # fmt: skip
    if run == "main":
        values.update(spec_key=spec_key, progress=10, pending_runs=1)
    moved = jobs.transition(job.id, JobState.GENERATING, from_states=from_states, **values)
    if moved:
        send_after_commit(TaskName.GENERATE, **GenerateRequest(job_id=job.id, spec_key=spec_key).to_kwargs())
    return moved
