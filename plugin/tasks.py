"""Web-side Celery tasks (`shopify` queue): each takes ids, re-reads the rows and calls one service. Thin on purpose.

Names come from gpu_worker.contract (the reports of the GPU side) and plugin.task_names.WebTask (the web side's own).

Failures (docs/JOBS.md, "When a task fails"):
- transient (Shopify throttling / 5xx, database or broker connection errors, object storage refusing a write) are
  retried with exponential backoff and jitter, a bounded number of times (`MAX_RETRIES`; storage `STORAGE_RETRIES`);
- when the retries run out, or on any other exception (a bug), the task's give-up handler records a truthful outcome
  before the exception reaches Celery: the job fails (or goes back to review when it has images) with a reason that
  says what happened and what to do (`jobs.give_up`). No job is left in a working state without a reason.
The policy is declared once, on the task base class `GuardedTask` (Celery's `autoretry_for`, backoff, jitter, max
retries); the subclasses say what giving up means for their rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

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
from plugin.celery_app import BEAT_SCHEDULE, AppContextTask
from plugin.extensions import db
from plugin.models.webhook_delivery import DeliveryStatus
from plugin.services import (
    automation,
    bulk,
    deliveries,
    dispatch,
    gpu_handoff,
    gpu_reports,
    jobs,
    pose_sets,
    publish,
    shop_lifecycle,
)
from plugin.services.errors import StorageUnavailable
from plugin.shopify.errors import ShopifyUnavailable
from plugin.task_names import WebTask

log = logging.getLogger(__name__)

__all__ = ["BEAT_SCHEDULE", "MAX_RETRIES", "STORAGE_RETRIES", "TRANSIENT"]

# ShopifyUnavailable: the Admin API client already retried (5xx, 429, timeouts) and gave up for now, e.g. while
# automation checks a product is the shop's; the task tries again later
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError, ConnectionError, TimeoutError, publish.Transient, StorageUnavailable, ShopifyUnavailable,
)  # fmt: skip
MAX_RETRIES = 8  # 2, 4, 8 … 120 s (full jitter): about 6 minutes at most
STORAGE_RETRIES = 5  # about a minute: a full disk or a read-only bucket rarely heals by itself
BACKOFF_BASE, BACKOFF_MAX = 2.0, 120.0


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


class GuardedTask(AppContextTask):
    """The retry policy of every web-side task, declared once (Celery's own autoretry):

    - a transient error (`TRANSIENT`) is retried with exponential backoff and full jitter, `MAX_RETRIES` times
      (`STORAGE_RETRIES` for storage); before each retry the failed transaction is thrown away (a dead database
      connection included) and `before_retry` hands back what the run had claimed;
    - when the retries run out, or on any other exception (a bug), `give_up(kwargs, code, message)` records a
      truthful outcome on our rows (committed) inside the app context, before the exception reaches Celery.
    Subclasses say what giving up means for their rows; the default records nothing.
    """

    autoretry_for = TRANSIENT
    retry_backoff = BACKOFF_BASE
    retry_backoff_max = BACKOFF_MAX
    retry_jitter = True
    max_retries = MAX_RETRIES

    def give_up(self, kwargs: dict[str, Any], code: str, message: str) -> None:
        """Record on our rows that this run gave up (code, merchant-readable message). Need not commit."""

    def before_retry(self, kwargs: dict[str, Any], exc: BaseException) -> None:
        """Undo what this run claimed, so that the retry can claim it again. Need not commit."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.flask_app().app_context():
            try:
                return self.run(*args, **kwargs)
            except Retry:
                raise
            except Exception as exc:  # not transient, or out of retries (autoretry re-raised it)
                what = f"{self.name} {kwargs}"
                discard_failed_transaction(what)
                if not isinstance(exc, TRANSIENT):
                    log.exception("%s failed", what)
                code, message = _explain(exc, self.request.retries or 0)
                _best_effort(partial(self.give_up, kwargs, code, message), what)
                raise

    def retry(self, args: Any = None, kwargs: Any = None, exc: BaseException | None = None, throw: bool = True,
              eta: Any = None, countdown: float | None = None, max_retries: int | None = None,
              **options: Any) -> Any:  # fmt: skip
        if exc is not None:
            what = f"{self.name} {self.request.kwargs}"
            discard_failed_transaction(what)
            max_retries = retry_limit(exc) if max_retries is None else max_retries
            retried = self.request.retries or 0
            if retried < max_retries and not self.request.called_directly:
                log.warning("%s: %s; retry %d/%d in %.1f s", what, exc, retried + 1, max_retries, countdown or 0)
                _best_effort(partial(self.before_retry, dict(self.request.kwargs or {}), exc), what)
        return super().retry(args, kwargs, exc, throw, eta, countdown, max_retries, **options)


class JobTask(GuardedTask):
    """A step of one job (kwargs `job_id`): giving up leaves the job failed, or in review when it has images."""

    def give_up(self, kwargs: dict[str, Any], code: str, message: str) -> None:
        jobs.give_up(kwargs["job_id"], code, message)


class DeliveryTask(GuardedTask):
    """The processing of one webhook delivery (kwargs `delivery_id`), claimed by exactly one run."""

    def give_up(self, kwargs: dict[str, Any], code: str, message: str) -> None:
        deliveries.finish_delivery(kwargs["delivery_id"], DeliveryStatus.FAILED)

    def before_retry(self, kwargs: dict[str, Any], exc: BaseException) -> None:
        deliveries.release_delivery(kwargs["delivery_id"])


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
            db.session().invalidate()  # closes the session; its connections are dropped, not returned to the pool
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


# --- reports from the GPU worker ----------------------------------------------------------------------------------
@shared_task(name=TaskName.ATTEMPT_STARTED.value, base=GuardedTask)
def attempt_started(**kwargs: Any) -> None:
    p = AttemptStarted.from_kwargs(kwargs)
    gpu_reports.record_attempt(p.job_id, p.attempt)


# progress is advisory and frequent: a lost one is overtaken by the next, so it is not retried
@shared_task(name=TaskName.JOB_PROGRESS.value, ignore_result=True, base=GuardedTask, autoretry_for=())
def job_progress(**kwargs: Any) -> None:
    p = JobProgress.from_kwargs(kwargs)
    gpu_reports.record_progress(p.job_id, p.progress, p.stage)


@shared_task(name=TaskName.GENERATION_DONE.value, base=JobTask)
def generation_done(**kwargs: Any) -> None:
    p = GenerationDone.from_kwargs(kwargs)
    gpu_reports.record_done(p.job_id, p.manifest_key)


class GenerationFailedTask(JobTask):
    def give_up(self, kwargs: dict[str, Any], code: str, message: str) -> None:
        # if recording the GPU's reason fails for good, the GPU's own reason is still the truthful one
        p = GenerationFailed.from_kwargs(kwargs)
        jobs.give_up(p.job_id, p.code, p.message)


@shared_task(name=TaskName.GENERATION_FAILED.value, base=GenerationFailedTask)
def generation_failed(**kwargs: Any) -> None:
    p = GenerationFailed.from_kwargs(kwargs)
    gpu_reports.record_failed(p.job_id, p.code, p.message, p.spec_key)


class PoseExtractedTask(GuardedTask):
    def give_up(self, kwargs: dict[str, Any], code: str, message: str) -> None:
        pose_sets.record_extracted_pose(PoseExtracted.from_kwargs(kwargs).pose_set_row_id, None, message)


@shared_task(name=TaskName.POSE_EXTRACTED.value, base=PoseExtractedTask)
def pose_extracted(**kwargs: Any) -> None:
    p = PoseExtracted.from_kwargs(kwargs)
    pose_sets.record_extracted_pose(p.pose_set_row_id, p.pose, p.error)


# --- web-side steps of a job --------------------------------------------------------------------------------------
@shared_task(name=WebTask.FETCH_SOURCE.value, bind=True, base=JobTask)
def fetch_source(self: Task, job_id: int) -> None:
    # a retry resumes the job from `fetching`, where the failed attempt left it
    gpu_handoff.run_fetch(job_id, resume=bool(self.request.retries))


class PublishTask(JobTask):
    def before_retry(self, kwargs: dict[str, Any], exc: BaseException) -> None:
        from pose_studio import metrics

        metrics.record_writeback_retry("shopify_unavailable" if isinstance(exc, publish.Transient)
                                       else type(exc).__name__)  # fmt: skip


@shared_task(name=WebTask.PUBLISH_JOB.value, base=PublishTask)
def publish_job(job_id: int) -> None:
    publish.run_publish(job_id)


@shared_task(name=WebTask.DISPATCH.value, base=GuardedTask)
def dispatch_jobs() -> int:
    return dispatch.dispatch()


@shared_task(name=WebTask.RECONCILE.value, base=GuardedTask)
def reconcile_jobs() -> dict[str, int]:
    return dispatch.reconcile()


class BulkListingTask(GuardedTask):
    def give_up(self, kwargs: dict[str, Any], code: str, message: str) -> None:
        bulk.give_up_listing(kwargs["bulk_id"], message)


@shared_task(name=WebTask.START_BULK.value, base=BulkListingTask)
def start_bulk(bulk_id: int) -> None:
    bulk.run_bulk_listing(bulk_id)


# --- webhooks -----------------------------------------------------------------------------------------------------
@shared_task(name=WebTask.PRODUCTS_CHANGED.value, base=DeliveryTask)
def products_changed(delivery_id: int) -> str:
    # exactly one run handles a delivery, however many copies of this task were sent (a duplicate webhook that
    # re-sent it, reconcile): the conditional claim decides
    return deliveries.process(delivery_id, automation.handle_product_delivery)


@shared_task(name=WebTask.SHOP_UNINSTALLED.value, base=GuardedTask)
def shop_uninstalled(shop_id: int, delivery_id: int | None = None) -> int:
    return shop_lifecycle.cancel_shop_work(shop_id)


@shared_task(name=WebTask.SHOP_REDACT.value, base=DeliveryTask)
def shop_redact(delivery_id: int) -> str:
    # one run erases, however many copies were sent (a duplicate webhook, reconcile)
    return deliveries.process(delivery_id, shop_lifecycle.redact_shop)


@shared_task(name=WebTask.SHOP_ERASE_STORAGE.value, base=GuardedTask)
def shop_erase_storage(shop_domain: str, shop_id: int | None = None, delivery_id: int | None = None,
                       final: bool = False) -> int:  # fmt: skip
    return shop_lifecycle.erase_storage(shop_domain, final=final)
