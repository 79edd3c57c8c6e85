"""Webhook deliveries from record to finish: the one owner of a `webhook_deliveries` row's status.

received/enqueued → processing → processed | failed | ignored. The request records the delivery (the unique
`event_id` is the dedupe), applies the few in-request effects (forgetting a revoked token), commits, then enqueues the
follow-up task by name. The task claims the delivery (exactly one run processes it), runs its handler, and finishes
it here. Verification and header reading stay in plugin.shopify.webhooks.

Enqueued exactly once: the row is committed already marked `enqueued` (one transaction per delivery: the insert is
the only write on the request path), then the task is sent. If the send fails the row goes back to `received` and
the request answers 503; Shopify's retry (a duplicate) then takes the row from `received` to `enqueued` with one
conditional UPDATE and sends it, so two copies can never both send. A process that dies between the commit and the
send leaves an `enqueued` row with no message: reconcile re-sends it after PROCESSING_LEASE.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from plugin.extensions import db, rows_matched, utcnow
from plugin.models.shop import Shop
from plugin.models.webhook_delivery import DeliveryStatus, WebhookDelivery
from plugin.services import shop_lifecycle
from plugin.services.queue import send_now
from plugin.shopify import webhook_checks
from plugin.shopify.webhook_checks import APP_SCOPES_UPDATE, APP_UNINSTALLED, PRODUCT_TOPICS, SHOP_REDACT
from plugin.shopify.webhooks import WebhookMeta
from plugin.task_names import WebTask

log = logging.getLogger(__name__)

CUSTOMER_PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact"})


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    # the signed body does not belong to the header's shop (a replay with rewritten headers), or shop/redact for a
    # shop that is installed now: recorded as ignored, nothing changed
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class _Task:
    name: str
    kwargs: dict[str, Any]


def record_and_dispatch(meta: WebhookMeta, raw_body: bytes) -> Outcome:
    """Record the delivery (dedupe), check the body against the headers, commit, then enqueue follow-up work.

    Nothing is erased or cancelled here: the request only records and enqueues (Shopify waits 5 s at most, and an
    erasure that fails half-way must be retried, which a task does)."""
    shop = db.session.execute(select(Shop).where(Shop.domain == meta.shop_domain)).scalar_one_or_none()
    payload = _json_or_none(raw_body)
    reason = _refusal(meta, payload, shop)
    if reason is not None:
        status = DeliveryStatus.IGNORED
    elif meta.topic in PRODUCT_TOPICS and shop is not None:
        status = DeliveryStatus.ENQUEUED  # its task is sent right after the commit (the common case: one write)
    else:
        status = DeliveryStatus.RECEIVED
    delivery = WebhookDelivery(
        event_id=meta.event_id,
        webhook_id=meta.webhook_id,
        # a refused body is not the shop's: its row is kept only as the event id's record
        shop_id=shop.id if shop is not None and meta.topic != SHOP_REDACT and reason is None else None,
        shop_domain=meta.shop_domain,
        topic=meta.topic,
        api_version=meta.api_version,
        # Only product payloads are kept (the job layer reads them). Customer and shop payloads carry personal
        # data we have no use for, so they are never stored.
        payload=payload if meta.topic in PRODUCT_TOPICS and reason is None else None,
        triggered_at=meta.triggered_at,
        received_at=utcnow(),
        status=status,
    )
    db.session.add(delivery)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return _handle_duplicate(meta.event_id)

    if reason is not None:
        # An attacker learns nothing from the answer; the operator sees the reason (no payload: personal data).
        log.warning("webhook %s for %s (event %s) refused without effect: %s", meta.topic, meta.shop_domain,
                    meta.event_id, reason)
        db.session.commit()
        return Outcome.MISMATCH
    task = _apply(meta, delivery, shop, payload)
    if task is not None:
        delivery.status = DeliveryStatus.ENQUEUED  # committed with the row; the send follows at once
    # read before the commit expires the row: reading it after would cost a second connection checkout and query
    delivery_id, ignored = delivery.id, delivery.status is DeliveryStatus.IGNORED
    db.session.commit()
    if task is None:
        return Outcome.IGNORED if ignored else Outcome.ACCEPTED
    _send(delivery_id, task)
    return Outcome.ACCEPTED


def _refusal(meta: WebhookMeta, payload: Any, shop: Shop | None) -> str | None:
    """Why this delivery must not change anything (None: go ahead)."""
    if shop is None:
        return None  # nothing of ours to change; recorded as ignored/processed by _apply
    if meta.topic == SHOP_REDACT and shop.is_installed:
        # Shopify sends shop/redact 48 h after an uninstall; for a shop that uses the app now it is a replay.
        return "shop/redact for a shop that is installed"
    known_id = _shopify_shop_id(shop.id) if meta.topic == SHOP_REDACT else None
    return webhook_checks.mismatch(meta.topic, meta.shop_domain, payload, known_id)


def _shopify_shop_id(shop_id: int) -> int | None:
    """The Shopify shop id a verified app/uninstalled of this shop reported (kept in that delivery's payload)."""
    recorded = db.session.scalars(
        select(WebhookDelivery.payload)
        .where(WebhookDelivery.shop_id == shop_id, WebhookDelivery.topic == APP_UNINSTALLED,
               WebhookDelivery.status != DeliveryStatus.IGNORED)
        .order_by(WebhookDelivery.id.desc()).limit(1)
    ).first()  # fmt: skip
    value = recorded.get("shopify_shop_id") if isinstance(recorded, dict) else None
    return value if isinstance(value, int) else None


def _apply(meta: WebhookMeta, delivery: WebhookDelivery, shop: Shop | None, payload: Any) -> _Task | None:
    """In-request effects inside the delivery's transaction (token removal only); returns the task to send after
    commit."""
    topic = meta.topic
    if topic in CUSTOMER_PRIVACY_TOPICS:
        # We store no customer data (product images only): answering and recording is the whole duty.
        delivery.status = DeliveryStatus.PROCESSED
        return None
    if topic == SHOP_REDACT:
        if shop is not None:
            # The record outlives the shop: it keeps which shop to erase, so the task (and a re-send when
            # Shopify retries after a failed enqueue) knows what to do once the rows are gone.
            delivery.payload = {"shop_id": shop.id, "shop_domain": shop.domain}
            return _Task(WebTask.SHOP_REDACT, {"delivery_id": delivery.id})
        delivery.status = DeliveryStatus.PROCESSED
        return None
    if shop is None:
        delivery.status = DeliveryStatus.IGNORED
        return None
    if topic in (APP_UNINSTALLED, APP_SCOPES_UPDATE) and _before_install(meta, shop):
        # Shopify does not order deliveries and retries for 4 h: this one is about an installation that has
        # since been replaced by a reinstall; applying it would wipe the fresh one.
        log.warning("webhook %s for %s triggered at %s, before the current installation (%s): ignored",
                    topic, shop.domain, meta.triggered_at, shop.installed_at)
        delivery.status = DeliveryStatus.IGNORED
        return None
    if topic == APP_SCOPES_UPDATE:
        # The granted scopes are informational here (nothing is authorised by them; the next token refresh stores
        # Shopify's own list again), so the body's `current` list is taken as it is.
        shop.scopes = ",".join(payload["current"])[:1024]
        delivery.status = DeliveryStatus.PROCESSED
        return None
    if topic == APP_UNINSTALLED:
        shop_lifecycle.mark_uninstalled(shop.id)
        # only the shop's Shopify id is kept (to check a later shop/redact); the rest is personal data
        shopify_id = webhook_checks.shopify_shop_id(payload)
        delivery.payload = {"shopify_shop_id": shopify_id} if shopify_id is not None else None
        return _Task(WebTask.SHOP_UNINSTALLED, {"shop_id": shop.id, "delivery_id": delivery.id})
    if topic in PRODUCT_TOPICS:
        return _Task(WebTask.PRODUCTS_CHANGED, {"delivery_id": delivery.id})
    delivery.status = DeliveryStatus.IGNORED
    return None


def _before_install(meta: WebhookMeta, shop: Shop) -> bool:
    """Whether the event happened before the shop's current installation (a late or out-of-order delivery)."""
    if meta.triggered_at is None or shop.installed_at is None:
        return False
    installed = shop.installed_at if shop.installed_at.tzinfo else shop.installed_at.replace(tzinfo=UTC)
    return meta.triggered_at < installed


def _send(delivery_id: int, task: _Task) -> None:
    """Send the task of a delivery this request marked `enqueued`; on failure hand the row back (`received`) so that
    Shopify's retry sends it, and raise (the request answers 503)."""
    try:
        send_now(task.name, **task.kwargs)
    except Exception:
        db.session.rollback()
        db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.ENQUEUED)
            .values(status=DeliveryStatus.RECEIVED)
        )
        db.session.commit()
        raise


def _claim_send(delivery_id: int) -> bool:
    """`received` → `enqueued` in one conditional UPDATE, committed: only the request that wins sends the task."""
    won = rows_matched(db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.RECEIVED)
        .values(status=DeliveryStatus.ENQUEUED)
        .execution_options(synchronize_session=False)
    )) == 1  # fmt: skip
    db.session.commit()
    return won


def _handle_duplicate(event_id: str) -> Outcome:
    existing = db.session.execute(
        select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
    ).scalar_one_or_none()
    if existing is not None and existing.status is DeliveryStatus.RECEIVED:
        # The first copy's send failed (broker down): this retry is our chance to send it, if no other copy of
        # this retry claims it first.
        task = _task_for_recorded(existing)
        if task is not None and _claim_send(existing.id):
            _send(existing.id, task)
    return Outcome.DUPLICATE


# --- the task side: exactly one run processes a delivery -----------------------------------------------------------
# A delivery `processing` for longer than this since it was received lost its worker (killed mid-task): the
# redelivered message, or reconcile, may take it over. Handling one delivery takes seconds.
PROCESSING_LEASE = timedelta(minutes=15)


def claim_delivery(delivery_id: int) -> bool:
    """Take a delivery for processing: `received`/`enqueued` → `processing` in one conditional UPDATE, committed.
    Only the winner processes; a second copy of the task (re-sent by a duplicate webhook, or by reconcile) finds
    it `processing` or `processed` and does nothing. A `processing` claim older than PROCESSING_LEASE (its worker
    died) can be taken over."""
    won = rows_matched(db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id,
               WebhookDelivery.status.in_([DeliveryStatus.RECEIVED, DeliveryStatus.ENQUEUED])
               | ((WebhookDelivery.status == DeliveryStatus.PROCESSING)
                  & (WebhookDelivery.received_at < utcnow() - PROCESSING_LEASE)))
        .values(status=DeliveryStatus.PROCESSING)
        .execution_options(synchronize_session=False)
    )) == 1  # fmt: skip
    db.session.commit()
    return won


def finish_delivery(delivery_id: int, status: DeliveryStatus = DeliveryStatus.PROCESSED) -> None:
    """Close a claimed delivery (`processed`, or `failed` when the task gave up). Commits."""
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.PROCESSING)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def stale_deliveries(older_than: timedelta = PROCESSING_LEASE,
                     newer_than: timedelta = timedelta(hours=24)) -> list[tuple[int, str]]:  # fmt: skip
    """(delivery id, task name) of product and shop/redact deliveries whose task never ran to the end: still
    `received` (the send failed and no duplicate came), `enqueued` with no run taking it (the process died between
    its commit and its send) or `processing` past the lease (the worker died). Within a day, so a delivery that kills
    its worker is not re-sent forever. For reconcile."""
    now = utcnow()
    rows = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.topic)
        .where(WebhookDelivery.topic.in_([*PRODUCT_TOPICS, SHOP_REDACT]),
               WebhookDelivery.status.in_([DeliveryStatus.RECEIVED, DeliveryStatus.ENQUEUED,
                                           DeliveryStatus.PROCESSING]),
               WebhookDelivery.received_at < now - older_than, WebhookDelivery.received_at > now - newer_than)
        .order_by(WebhookDelivery.id).limit(500)
    ).all()  # fmt: skip
    return [(row.id, WebTask.SHOP_REDACT if row.topic == SHOP_REDACT else WebTask.PRODUCTS_CHANGED) for row in rows]


def process(delivery_id: int, handle: Callable[[int], str]) -> str:
    """A delivery's task: claim it (exactly one run goes on), `handle(delivery_id)`, then finish it `processed`.
    Returns the handler's outcome, or "already_claimed". An exception propagates with the delivery still claimed:
    the task's retry policy releases it (`release_delivery`) or finishes it `failed`."""
    if not claim_delivery(delivery_id):
        log.info("delivery %s is already being processed or was processed; skipping", delivery_id)
        return "already_claimed"
    outcome = handle(delivery_id)
    finish_delivery(delivery_id)
    return str(outcome)


def release_delivery(delivery_id: int) -> None:
    """Hand a claimed delivery back (`enqueued`) before the task retries after a transient error. Commits."""
    finish_delivery(delivery_id, DeliveryStatus.ENQUEUED)


def _task_for_recorded(delivery: WebhookDelivery) -> _Task | None:
    if delivery.topic in PRODUCT_TOPICS:
        return _Task(WebTask.PRODUCTS_CHANGED, {"delivery_id": delivery.id})
    if delivery.topic == SHOP_REDACT and isinstance(delivery.payload, dict) and "shop_id" in delivery.payload:
        return _Task(WebTask.SHOP_REDACT, {"delivery_id": delivery.id})
    if delivery.topic == APP_UNINSTALLED and delivery.shop_id is not None:
        return _Task(WebTask.SHOP_UNINSTALLED, {"shop_id": delivery.shop_id, "delivery_id": delivery.id})
    return None


def _json_or_none(raw_body: bytes) -> Any | None:
    try:
        return json.loads(raw_body)
    except ValueError:
        return None
