"""A shop's life after install: uninstall (tokens forgotten in the request, queued work cancelled by a task), a
reinstall before that task ran (nothing cancelled), and shop/redact (every row, then every stored object, erased).

The install itself (and a reinstall's fresh tokens) is the token store's upsert (plugin.shopify.token_store). The
webhook request only records a shop/redact (after checking its body against its headers); `redact_shop`, run by a
task, deletes the rows (`erase_shop`, every table with a shop_id) and then the stored objects, which may still be
written by a GPU worker that was generating for the shop at that moment: a second sweep runs after the longest a
generation can last.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select, update

from gpu_worker.contract import time_limits
from plugin.extensions import Base, db, utcnow
from plugin.models.bulk import BulkRun, BulkState
from plugin.models.job import ACTIVE_STATES, Job, JobState
from plugin.models.shop import Shop
from plugin.models.webhook_delivery import WebhookDelivery
from plugin.services import jobs
from plugin.services.queue import send_now
from plugin.storage import delete_shop, get_storage, keys
from plugin.task_names import WebTask

log = logging.getLogger(__name__)


def mark_uninstalled(shop_id: int) -> None:
    """app/uninstalled, inside the delivery's transaction: Shopify has already revoked the token, so forget it now.
    The shop's data stays until shop/redact (48 h later). Does not commit."""
    db.session.execute(
        update(Shop).where(Shop.id == shop_id).values(
            access_token_encrypted=None, refresh_token_encrypted=None, access_token_expires_at=None,
            refresh_token_expires_at=None, uninstalled_at=utcnow(), updated_at=utcnow(),
        )
    )  # fmt: skip


def erase_shop(shop_id: int) -> None:
    """Delete every row of the shop: each table with a `shop_id` column (children first), then the shop. Does not
    commit."""
    for table in reversed(Base.metadata.sorted_tables):
        if "shop_id" in table.c and table.name != WebhookDelivery.__tablename__:
            db.session.execute(delete(table).where(table.c.shop_id == shop_id))
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.shop_id == shop_id))
    db.session.execute(delete(Shop).where(Shop.id == shop_id))


def delete_specs(job_list: list[Job]) -> None:
    """Remove the specs of cancelled jobs, so a `generate` still in the gpu queue finds nothing to do."""
    storage = get_storage()
    for job in job_list:
        if job.spec_key:
            storage.delete(job.spec_key)


def cancel_shop_work(shop_id: int) -> int:
    """Cancel every job of the shop that has not finished, and its running bulks. Commits; returns the count.
    Nothing when the shop is installed again by now (the merchant reinstalled before this task ran)."""
    shop = db.session.get(Shop, shop_id)
    if shop is None or shop.is_installed:
        log.info("shop %s is installed again (or gone): its work is not cancelled", shop_id)
        return 0
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


def redact_shop(delivery_id: int) -> str:
    """Erase the shop a recorded shop/redact delivery names: its rows, then its stored objects. Commits.

    Re-checked here, not only in the request: the merchant may have reinstalled between the webhook and this task,
    and then nothing is erased."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    named = delivery.payload if delivery is not None and isinstance(delivery.payload, dict) else {}
    shop_id, shop_domain = named.get("shop_id"), named.get("shop_domain")
    if not isinstance(shop_id, int) or not isinstance(shop_domain, str):
        return "nothing_to_erase"
    shop = db.session.get(Shop, shop_id)
    if shop is not None and (shop.domain != shop_domain or shop.is_installed):
        log.warning("shop/redact delivery %s: %s is installed again; nothing erased", delivery_id, shop_domain)
        return "installed_again"
    if shop is not None:
        erase_shop(shop_id)
        db.session.commit()
    erase_storage(shop_domain)
    log.info("shop/redact delivery %s: erased %s", delivery_id, shop_domain)
    return "erased"


def erase_storage(shop_domain: str, *, final: bool = False) -> int:
    """Delete every stored object of the shop; schedules one final sweep for late GPU writes."""
    n = delete_shop(shop_domain)
    if not final:
        delay = time_limits().hard + 30
        send_now(WebTask.SHOP_ERASE_STORAGE, countdown=delay, shop_domain=shop_domain, final=True)
    log.info("erased %d stored objects of %s (final=%s)", n, shop_domain, final)
    return n


def shop_storage_keys(shop_domain: str) -> list[str]:
    return get_storage().list(keys.shop_prefix(shop_domain))
