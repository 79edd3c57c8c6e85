"""A shop's lifecycle as the job layer sees it: app/uninstalled cancels queued work; shop/redact erases its objects.

The database rows of an erased shop are deleted by the webhook handler (plugin.shopify.webhooks.erase_shop, every
table with a shop_id); this module erases the storage side, which may still be written by a GPU worker that was
generating for the shop at that moment: a second sweep runs after the longest a generation can last.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from gpu_worker.contract import time_limits
from plugin.extensions import db
from plugin.models.bulk import BulkRun, BulkState
from plugin.models.job import ACTIVE_STATES, Job, JobState
from plugin.services import jobs
from plugin.storage import delete_shop, get_storage, keys
from plugin.task_names import SHOP_ERASE_STORAGE, SHOPIFY_QUEUE

log = logging.getLogger(__name__)


def delete_specs(job_list: list[Job]) -> None:
    """Remove the specs of cancelled jobs, so a `generate` still in the gpu queue finds nothing to do."""
    storage = get_storage()
    for job in job_list:
        if job.spec_key:
            storage.delete(job.spec_key)


def cancel_shop_work(shop_id: int) -> int:
    """Cancel every job of the shop that has not finished, and its running bulks. Commits; returns the count."""
    active = list(db.session.scalars(
        select(Job).where(Job.shop_id == shop_id, Job.state.in_([*ACTIVE_STATES, JobState.AWAITING_REVIEW]))
    ))  # fmt: skip
    cancelled = [j for j in active if jobs.cancel(j, "the app was uninstalled")]
    for run in db.session.scalars(select(BulkRun).where(BulkRun.shop_id == shop_id,
                                                        BulkRun.state.in_([BulkState.LISTING, BulkState.RUNNING]))):
        run.state = BulkState.CANCELLED
    db.session.commit()
    delete_specs(cancelled)
    return len(cancelled)


def erase_storage(shop_domain: str, *, final: bool = False) -> int:
    """Delete every stored object of the shop; schedules one final sweep for late GPU writes."""
    n = delete_shop(shop_domain)
    if not final:
        delay = time_limits().hard + 30
        current_app.extensions["celery"].send_task(
            SHOP_ERASE_STORAGE, kwargs={"shop_domain": shop_domain, "final": True}, queue=SHOPIFY_QUEUE,
            countdown=delay,
        )
    log.info("erased %d stored objects of %s (final=%s)", n, shop_domain, final)
    return n


def shop_storage_keys(shop_domain: str) -> list[str]:
    return get_storage().list(keys.shop_prefix(shop_domain))
