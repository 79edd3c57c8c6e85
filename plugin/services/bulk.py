"""Bulk runs: many products × one pose set, one record that aggregates its jobs' progress and can be cancelled.

POST /api/bulk (the admin action extension's call, or a collection / the whole catalog) writes a `listing` bulk row
and returns at once; the `start_bulk` task reads the products (Admin API: `nodes` for a selection, a Bulk Operations
query for a collection or the catalog), creates one job per product (idempotency key: a product already generated
with this pose set is counted, not redone) and hands them to the fair dispatcher, which releases at most K jobs per
shop at a time. Cancelling cancels the jobs still queued; jobs in flight finish, finished ones are kept.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select, update

from plugin.extensions import db, rows_matched, utcnow
from plugin.models.bulk import BulkRun, BulkState
from plugin.models.job import ACTIVE_STATES, Job, JobMode, JobOrigin, JobState
from plugin.models.shop import Shop
from plugin.services import jobs, limits, pose_sets
from plugin.services.admission import JobRequest, admit
from plugin.services.errors import Conflict, InvalidRequest
from plugin.services.products import ProductInfo, pick_source
from plugin.services.queue import send_after_commit
from plugin.services.settings import get_settings
from plugin.shopify.gid import Gid
from plugin.task_names import WebTask

log = logging.getLogger(__name__)

MAX_SELECTED = 250  # the admin's selection action sends at most a page of products; a catalog goes by scope
SCOPES = ("selection", "collection", "catalog")


def create_bulk(shop: Shop, data: dict[str, Any]) -> BulkRun:
    """Validate a bulk request and write its row; listing runs in a task after commit. Commits."""
    scope = data.get("scope") or ("selection" if "selected" in data else "")
    if scope not in SCOPES:
        raise InvalidRequest("send selected: [product GIDs], or scope: 'collection' with collection_id, "
                             "or scope: 'catalog'", code="invalid_bulk")  # fmt: skip
    selected = data.get("selected") or []
    if scope == "selection":
        if (not isinstance(selected, list) or not selected or len(selected) > MAX_SELECTED
                or not all(isinstance(s, str) and Gid.is_valid(s, "Product") and s.startswith("gid://")
                           for s in selected)):
            raise InvalidRequest(f"selected must be 1..{MAX_SELECTED} product GIDs (gid://shopify/Product/…)",
                                 code="invalid_bulk")  # fmt: skip
        selected = list(dict.fromkeys(selected))
    collection_id = data.get("collection_id")
    if scope == "collection" and not (isinstance(collection_id, str) and collection_id.startswith("gid://")
                                      and Gid.is_valid(collection_id, "Collection")):
        raise InvalidRequest("collection_id must be a collection GID", code="invalid_bulk")  # fmt: skip
    settings = get_settings(shop)
    pose_set = pose_sets.resolve(shop, data.get("pose_set") or settings.default_pose_set, data.get("poses"))
    mode = data.get("mode") or settings.mode
    if mode not in ("review", "auto"):
        raise InvalidRequest("mode must be 'review' or 'auto'", code="invalid_mode")
    if limits.remaining_today(shop) <= 0:
        limits.reserve(shop, 1)  # raises DailyLimitReached with the standard message
    run = BulkRun(
        shop_id=shop.id, state=BulkState.LISTING, scope=scope,
        scope_ref=collection_id if scope == "collection" else None,
        selected=selected if scope == "selection" else [], pose_set_id=pose_set.id,
        options={"mode": mode, "poses": data.get("poses")},
    )  # fmt: skip
    db.session.add(run)
    db.session.flush()
    send_after_commit(WebTask.START_BULK, bulk_id=run.id)
    db.session.commit()
    return run


def list_products(shop: Shop, run: BulkRun) -> list[ProductInfo]:
    from plugin.services import shopify_reads

    if run.scope == "selection":
        return shopify_reads.products_by_ids(shop, run.selected, variant_ids=[])  # a bulk run uses no variant
    return shopify_reads.catalog_products(shop, collection_id=run.scope_ref)


def run_bulk_listing(bulk_id: int) -> None:
    """The start_bulk task: list the products, create the jobs, dispatch. Commits."""
    run = db.session.get(BulkRun, bulk_id)
    if run is None or run.state != BulkState.LISTING:
        return
    shop = db.session.get(Shop, run.shop_id)
    assert shop is not None
    products = list_products(shop, run)
    create_bulk_jobs(shop, run, products)


def give_up_listing(bulk_id: int, message: str) -> None:
    """The start_bulk task gave up (Shopify unavailable, a bug): the run fails with the reason instead of staying
    `listing` forever. Does not commit."""
    db.session.execute(
        update(BulkRun).where(BulkRun.id == bulk_id, BulkRun.state == BulkState.LISTING)
        .values(state=BulkState.FAILED, error_message=f"listing the products failed: {message}",
                finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )  # fmt: skip


def create_bulk_jobs(shop: Shop, run: BulkRun, products: list[ProductInfo]) -> None:
    """One job per product with a source image, within today's limit; the rest is reported on the run. Commits."""
    settings = get_settings(shop)
    pose_set = pose_sets.resolve(shop, run.pose_set_id, run.options.get("poses"))
    requests: list[JobRequest] = []
    for product in products:
        source = pick_source(product)
        if source is None:
            continue
        requests.append(JobRequest(
            product_id=product.id, pose_set=pose_set, product_title=product.title, source_url=source.url,
            source_media_id=source.media_id, poses=run.options.get("poses"), mode=JobMode(run.options["mode"]),
            origin=JobOrigin.BULK, backend=settings.backend, max_size=settings.max_size, bulk_id=run.id,
        ))  # fmt: skip
    skipped_no_image = len(products) - len(requests)
    # each product takes its own unit: when the limit is reached the rest of the run waits for another day
    admitted = admit(shop, requests, partial=True)
    created, existing, skipped_limit = admitted.created, admitted.existing, admitted.refused
    # The merchant may have cancelled while we were listing: claim the listing → running move conditionally.
    target = BulkState.RUNNING if created else BulkState.FINISHED
    moved = rows_matched(db.session.execute(
        update(BulkRun).where(BulkRun.id == run.id, BulkRun.state == BulkState.LISTING).values(state=target)
        .execution_options(synchronize_session=False)
    )) == 1  # fmt: skip
    db.session.refresh(run)
    if not moved:
        for job in db.session.scalars(select(Job).where(Job.bulk_id == run.id, Job.state == JobState.QUEUED)):
            jobs.cancel(job, f"bulk {run.id} was cancelled")
    run.total = created
    run.options = {**run.options, "existing": existing, "skipped_no_image": skipped_no_image,
                   "skipped_limit": skipped_limit}  # fmt: skip
    if skipped_limit:
        run.error_message = (f"{skipped_limit} product(s) were not queued: the daily limit is reached; start the "
                             "bulk again tomorrow (finished products are skipped)")  # fmt: skip
    if target == BulkState.FINISHED and moved:
        run.finished_at = utcnow()
    db.session.commit()


def counts(run: BulkRun) -> dict[str, int]:
    rows = db.session.execute(
        select(Job.state, func.count()).where(Job.bulk_id == run.id).group_by(Job.state)
    ).all()
    return {JobState(state).value: n for state, n in rows}


def refresh_state(run: BulkRun) -> None:
    """A running bulk whose jobs have all left the active states is finished."""
    if run.state != BulkState.RUNNING:
        return
    c = counts(run)
    if not any(c.get(s.value, 0) for s in ACTIVE_STATES):
        run.state, run.finished_at = BulkState.FINISHED, utcnow()
        db.session.commit()


def bulk_to_dict(run: BulkRun) -> dict[str, Any]:
    refresh_state(run)
    c = counts(run)
    done = sum(c.get(s, 0) for s in ("awaiting_review", "publishing", "published", "failed", "cancelled"))
    return {
        "id": run.id, "state": run.state.value, "scope": run.scope, "collection_id": run.scope_ref,
        "pose_set": run.pose_set_id, "total": run.total, "counts": c,
        "progress": round(100 * done / run.total) if run.total else (100 if run.state != BulkState.LISTING else 0),
        "existing": run.options.get("existing", 0), "skipped_no_image": run.options.get("skipped_no_image", 0),
        "skipped_limit": run.options.get("skipped_limit", 0),
        "error": {"code": "bulk_incomplete", "message": run.error_message} if run.error_message else None,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }  # fmt: skip


def cancel_bulk(run: BulkRun) -> dict[str, int]:
    """Cancel a bulk: queued jobs are cancelled; jobs in flight finish; finished jobs are kept. Commits."""
    if run.state not in (BulkState.LISTING, BulkState.RUNNING):
        raise Conflict(f"bulk {run.id} is {run.state.value}; only a running bulk can be cancelled",
                       code="bulk_not_running")  # fmt: skip
    queued = list(db.session.scalars(select(Job).where(Job.bulk_id == run.id, Job.state == JobState.QUEUED)))
    cancelled = sum(1 for j in queued if jobs.cancel(j, f"bulk {run.id} was cancelled"))
    run.state, run.finished_at = BulkState.CANCELLED, utcnow()
    db.session.commit()
    return {"cancelled": cancelled}
