"""Web-side Celery tasks (`shopify` queue): each takes ids, re-reads the rows and calls one service. Thin on purpose.

Names come from gpu_worker.contract (reports from the GPU side, web-side steps) and plugin.task_names (webhooks).

Failures (docs/JOBS.md, "When a task fails"):
- transient (Shopify throttling / 5xx, database or broker connection errors, object storage refusing a write) are
  retried with exponential backoff and jitter, a bounded number of times (`MAX_RETRIES`; storage `STORAGE_RETRIES`);
- when the retries run out, or on any other exception (a bug), the task's safety net records a truthful outcome
  before the exception reaches Celery: the job fails (or goes back to review when it has images) with a reason that
  says what happened and what to do (`jobs.give_up`). No job is left in a working state without a reason.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from celery import Task, shared_task
from celery.exceptions import Retry
from sqlalchemy.exc import OperationalError

from gpu_worker.contract import (
    AttemptStarted,
    FailureCode,
    GenerationDone,
    GenerationFailed,
    JobProgress,
    PoseExtracted,
    TaskName,
)
from plugin import task_names
from plugin.celery_app import BEAT_SCHEDULE
from plugin.extensions import db
from plugin.services import (
    automation,
    bulk,
    dispatch,
    generation,
    generation_results,
    jobs,
    pose_sets,
    publish,
    shop_data,
)
from plugin.services.errors import StorageUnavailable
from plugin.shopify.errors import ShopifyUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["BEAT_SCHEDULE", "MAX_RETRIES", "STORAGE_RETRIES", "TRANSIENT"]

# ShopifyUnavailable: the Admin API client already retried (5xx, 429, timeouts) and gave up for now, e.g. while
# automation checks a product is the shop's; the task tries again later
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError, ConnectionError, TimeoutError, publish.Transient, StorageUnavailable, ShopifyUnavailable,
)  # fmt: skip
MAX_RETRIES = 8  # 2, 4, 8 … 120 s (full jitter): about 6 minutes at most
STORAGE_RETRIES = 5  # about a minute: a full disk or a read-only bucket rarely heals by itself
BACKOFF_BASE, BACKOFF_MAX = 2.0, 120.0
# Tasks without a job to protect: Celery's own autoretry of the transient errors.
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": BACKOFF_BASE, "retry_backoff_max": BACKOFF_MAX,
         "retry_jitter": True, "max_retries": MAX_RETRIES}  # fmt: skip


def backoff(retries: int) -> float:
    """Seconds before retry number `retries + 1`: exponential, capped, with jitter (never all at once)."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


def retry_limit(exc: BaseException) -> int:
    return STORAGE_RETRIES if isinstance(exc, StorageUnavailable) else MAX_RETRIES


def _explain(exc: BaseException, retried: int) -> tuple[str, str]:
    """(error code, merchant-readable message) for a task that gave up: what happened and what to do."""
    if isinstance(exc, StorageUnavailable):
        return "storage_unavailable", f"{exc.message} (gave up after {retried} retries)"
    if isinstance(exc, publish.Transient | ShopifyUnavailable):
        return "shopify_unavailable", (f"Shopify stayed unavailable after {retried} retries ({exc}); "
                                       "publish again later")  # fmt: skip
    if isinstance(exc, TRANSIENT):
        return FailureCode.ENGINE_ERROR.value, (
            f"an internal service (database or queue) was unavailable after {retried} retries "
            f"({type(exc).__name__}); this is a problem on our side: try again in a few minutes")  # fmt: skip
    return FailureCode.ENGINE_ERROR.value, (
        f"an unexpected error stopped this job on our side ({type(exc).__name__}); try again, and contact "
        "support with this job id if it happens again")  # fmt: skip


def _guarded(task: Task, run: Callable[[], T], *, give_up: Callable[[str, str], Any], what: str,
             on_retry: Callable[[BaseException], Any] | None = None) -> T:  # fmt: skip
    """Run `run()`. A transient error is retried (bounded, with backoff); when retries run out, or on any other
    exception, `give_up(code, message)` records the outcome on our rows (committed) before the error propagates."""
    try:
        return run()
    except Retry:
        raise
    except Exception as exc:
        discard_failed_transaction(what)
        retried = task.request.retries or 0
        if isinstance(exc, TRANSIENT) and retried < retry_limit(exc) and not task.request.called_directly:
            countdown = backoff(retried)
            log.warning("%s: %s; retry %d/%d in %.1f s", what, exc, retried + 1, retry_limit(exc), countdown)
            if on_retry is not None:
                _best_effort(partial(on_retry, exc), what)
            raise task.retry(exc=exc, countdown=countdown, max_retries=retry_limit(exc)) from exc
        if not isinstance(exc, TRANSIENT):
            log.exception("%s failed", what)
        code, message = _explain(exc, retried)
        _best_effort(lambda: give_up(code, message), what)
        raise


def discard_failed_transaction(what: str) -> None:
    """Roll the session back after a failed task body. When the connection died under it (PostgreSQL restarted,
    the backend terminated, a network cut while the task waited on Shopify), the rollback itself raises: then the
    session and its connection are thrown away instead, so the retry or the failure record that follows gets a new
    connection (pool_pre_ping) rather than the same dead one."""
    try:
        db.session.rollback()
    except Exception as exc:
        log.warning("%s: the database connection is gone (%s); discarding it", what, type(exc).__name__)
        try:
            db.session.invalidate()  # closes the session; its connections are dropped, not returned to the pool
        except Exception:  # noqa: S110 - already dead; remove() below still resets the scoped session
            pass
        db.session.remove()


def _best_effort(fn: Callable[[], Any], what: str) -> None:
    """Record an outcome; if even that fails (the database is down), log it: reconcile picks the job up later."""
    try:
        fn()
        db.session.commit()
    except Exception:
        discard_failed_transaction(what)
        log.exception("%s: could not record the failure; reconcile will pick it up", what)


def _give_up_on_job(job_id: int) -> Callable[[str, str], Any]:
    return lambda code, message: jobs.give_up(job_id, code, message)


# --- reports from the GPU worker ----------------------------------------------------------------------------------
@shared_task(name=TaskName.ATTEMPT_STARTED.value, **RETRY)
def attempt_started(**kwargs: Any) -> None:
    p = AttemptStarted.from_kwargs(kwargs)
    generation_results.record_attempt(p.job_id, p.attempt)


@shared_task(name=TaskName.JOB_PROGRESS.value, ignore_result=True)
def job_progress(**kwargs: Any) -> None:
    p = JobProgress.from_kwargs(kwargs)
    generation_results.record_progress(p.job_id, p.progress, p.stage)


@shared_task(name=TaskName.GENERATION_DONE.value, bind=True)
def generation_done(self: Task, **kwargs: Any) -> None:
    p = GenerationDone.from_kwargs(kwargs)
    _guarded(self, lambda: generation_results.record_done(p.job_id, p.manifest_key),
             give_up=_give_up_on_job(p.job_id), what=f"job {p.job_id}: recording the generated images")  # fmt: skip


@shared_task(name=TaskName.GENERATION_FAILED.value, bind=True)
def generation_failed(self: Task, **kwargs: Any) -> None:
    p = GenerationFailed.from_kwargs(kwargs)
    # if recording the GPU's reason fails for good, the GPU's own reason is still the truthful one
    _guarded(self, lambda: generation_results.record_failed(p.job_id, p.code, p.message, p.spec_key),
             give_up=lambda code, message: jobs.give_up(p.job_id, p.code, p.message),
             what=f"job {p.job_id}: recording a failed generation")  # fmt: skip


@shared_task(name=TaskName.POSE_EXTRACTED.value, bind=True)
def pose_extracted(self: Task, **kwargs: Any) -> None:
    p = PoseExtracted.from_kwargs(kwargs)
    _guarded(self, lambda: pose_sets.record_extracted_pose(p.pose_set_row_id, p.pose, p.error),
             give_up=lambda code, message: pose_sets.record_extracted_pose(p.pose_set_row_id, None, message),
             what=f"custom pose set {p.pose_set_row_id}: recording the extracted pose")  # fmt: skip


# --- web-side steps of a job --------------------------------------------------------------------------------------
@shared_task(name=TaskName.FETCH_SOURCE.value, bind=True)
def fetch_source(self: Task, job_id: int) -> None:
    # a retry resumes the job from `fetching`, where the failed attempt left it
    resume = bool(self.request.retries)
    _guarded(self, lambda: generation.run_fetch(job_id, resume=resume), give_up=_give_up_on_job(job_id),
             what=f"job {job_id}: fetching the source")  # fmt: skip


@shared_task(name=TaskName.PUBLISH_JOB.value, bind=True)
def publish_job(self: Task, job_id: int) -> None:
    from plugin.observability import metrics

    def on_retry(exc: BaseException) -> None:
        metrics.record_writeback_retry("shopify_unavailable" if isinstance(exc, publish.Transient)
                                       else type(exc).__name__)  # fmt: skip

    _guarded(self, lambda: publish.run_publish(job_id), give_up=_give_up_on_job(job_id), on_retry=on_retry,
             what=f"job {job_id}: publishing")  # fmt: skip


@shared_task(name=TaskName.DISPATCH.value, **RETRY)
def dispatch_jobs() -> int:
    return dispatch.dispatch()


@shared_task(name=TaskName.RECONCILE.value, **RETRY)
def reconcile_jobs() -> dict[str, int]:
    return dispatch.reconcile()


@shared_task(name=TaskName.START_BULK.value, bind=True)
def start_bulk(self: Task, bulk_id: int) -> None:
    _guarded(self, lambda: bulk.run_bulk_listing(bulk_id),
             give_up=lambda code, message: bulk.give_up_listing(bulk_id, message),
             what=f"bulk {bulk_id}: listing the products")  # fmt: skip


# --- webhooks (plugin.task_names) ---------------------------------------------------------------------------------
@shared_task(name=task_names.PRODUCTS_CHANGED, bind=True)
def products_changed(self: Task, delivery_id: int) -> str:
    from plugin.models.webhook_delivery import DeliveryStatus
    from plugin.shopify.webhooks import claim_delivery, finish_delivery, release_delivery

    # exactly one run handles a delivery, however many copies of this task were sent (a duplicate webhook that
    # re-sent it, reconcile): the conditional claim decides
    if not claim_delivery(delivery_id):
        log.info("delivery %s is already being processed or was processed; skipping", delivery_id)
        return "already_claimed"
    outcome = _guarded(self, lambda: automation.handle_product_delivery(delivery_id),
                       give_up=lambda code, message: finish_delivery(delivery_id, DeliveryStatus.FAILED),
                       on_retry=lambda exc: release_delivery(delivery_id),
                       what=f"webhook delivery {delivery_id}")  # fmt: skip
    finish_delivery(delivery_id)
    return str(outcome)


@shared_task(name=task_names.SHOP_UNINSTALLED, **RETRY)
def shop_uninstalled(shop_id: int, delivery_id: int | None = None) -> int:
    return shop_data.cancel_shop_work(shop_id)


@shared_task(name=task_names.SHOP_REDACT_TASK, bind=True)
def shop_redact(self: Task, delivery_id: int) -> str:
    from plugin.models.webhook_delivery import DeliveryStatus
    from plugin.shopify.webhooks import claim_delivery, finish_delivery, release_delivery

    # one run erases, however many copies were sent (a duplicate webhook, reconcile)
    if not claim_delivery(delivery_id):
        return "already_claimed"
    outcome = _guarded(self, lambda: shop_data.redact_shop(delivery_id),
                       give_up=lambda code, message: finish_delivery(delivery_id, DeliveryStatus.FAILED),
                       on_retry=lambda exc: release_delivery(delivery_id),
                       what=f"shop/redact delivery {delivery_id}")  # fmt: skip
    finish_delivery(delivery_id)
    return outcome


@shared_task(name=task_names.SHOP_ERASE_STORAGE, **RETRY)
def shop_erase_storage(shop_domain: str, shop_id: int | None = None, delivery_id: int | None = None,
                       final: bool = False) -> int:  # fmt: skip
    return shop_data.erase_storage(shop_domain, final=final)
