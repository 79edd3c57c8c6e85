"""Web-side Celery tasks (`shopify` queue): each takes ids, re-reads the rows and calls one service. Thin on purpose.

Names come from gpu_worker.contract (reports from the GPU side, web-side steps) and plugin.task_names (webhooks).
Retries: only transient failures (Shopify throttling / 5xx, database or broker connection errors) are retried, with
backoff; a merchant-facing failure is written on the job row instead.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from gpu_worker.contract import (
    AttemptStarted,
    GenerationDone,
    GenerationFailed,
    JobProgress,
    PoseExtracted,
    TaskName,
)
from plugin import task_names
from plugin.services import (
    automation,
    bulk,
    dispatch,
    generation,
    generation_results,
    pose_sets,
    publish,
    shop_data,
)

log = logging.getLogger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (OperationalError, ConnectionError, TimeoutError, publish.Transient)
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": 2, "retry_backoff_max": 120, "retry_jitter": True,
         "max_retries": 8}  # fmt: skip


# --- reports from the GPU worker ----------------------------------------------------------------------------------
@shared_task(name=TaskName.ATTEMPT_STARTED.value, **RETRY)
def attempt_started(**kwargs: Any) -> None:
    p = AttemptStarted.from_kwargs(kwargs)
    generation_results.record_attempt(p.job_id, p.attempt)


@shared_task(name=TaskName.JOB_PROGRESS.value, ignore_result=True)
def job_progress(**kwargs: Any) -> None:
    p = JobProgress.from_kwargs(kwargs)
    generation_results.record_progress(p.job_id, p.progress, p.stage)


@shared_task(name=TaskName.GENERATION_DONE.value, **RETRY)
def generation_done(**kwargs: Any) -> None:
    p = GenerationDone.from_kwargs(kwargs)
    generation_results.record_done(p.job_id, p.manifest_key)


@shared_task(name=TaskName.GENERATION_FAILED.value, **RETRY)
def generation_failed(**kwargs: Any) -> None:
    p = GenerationFailed.from_kwargs(kwargs)
    generation_results.record_failed(p.job_id, p.code, p.message, p.spec_key)


@shared_task(name=TaskName.POSE_EXTRACTED.value, **RETRY)
def pose_extracted(**kwargs: Any) -> None:
    p = PoseExtracted.from_kwargs(kwargs)
    pose_sets.record_extracted_pose(p.pose_set_row_id, p.pose, p.error)


# --- web-side steps of a job --------------------------------------------------------------------------------------
@shared_task(name=TaskName.FETCH_SOURCE.value, **RETRY)
def fetch_source(job_id: int) -> None:
    generation.run_fetch(job_id)


@shared_task(name=TaskName.PUBLISH_JOB.value, **RETRY)
def publish_job(job_id: int) -> None:
    publish.run_publish(job_id)


@shared_task(name=TaskName.DISPATCH.value, **RETRY)
def dispatch_jobs() -> int:
    return dispatch.dispatch()


@shared_task(name=TaskName.RECONCILE.value, **RETRY)
def reconcile_jobs() -> dict[str, int]:
    return dispatch.reconcile()


@shared_task(name=TaskName.START_BULK.value, **RETRY)
def start_bulk(bulk_id: int) -> None:
    bulk.run_bulk_listing(bulk_id)


# --- webhooks (plugin.task_names) ---------------------------------------------------------------------------------
@shared_task(name=task_names.PRODUCTS_CHANGED, **RETRY)
def products_changed(delivery_id: int) -> str:
    return automation.handle_product_delivery(delivery_id)


@shared_task(name=task_names.SHOP_UNINSTALLED, **RETRY)
def shop_uninstalled(shop_id: int, delivery_id: int | None = None) -> int:
    return shop_data.cancel_shop_work(shop_id)


@shared_task(name=task_names.SHOP_ERASE_STORAGE, **RETRY)
def shop_erase_storage(shop_domain: str, shop_id: int | None = None, delivery_id: int | None = None,
                       final: bool = False) -> int:  # fmt: skip
    return shop_data.erase_storage(shop_domain, final=final)


# Periodic work (celery beat): reconcile stale jobs. `pose-studio worker --beat` or a separate `celery beat`.
BEAT_SCHEDULE = {
    "reconcile-jobs": {"task": TaskName.RECONCILE.value, "schedule": 60.0, "options": {"queue": "shopify"}},
}
