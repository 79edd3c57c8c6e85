"""Webhook intake: verify -> dedupe -> record -> enqueue. Nothing slow here (Shopify waits 5 s at most).

HMAC verification is `shopify_app.verify_webhook_req` (current and previous secret, constant-time, both header
sets). Dedupe is the unique `event_id` of `webhook_deliveries`: inserting the row is the dedupe check, so two
concurrent copies of one event cannot both pass. Work for the job layer is sent by task name only after the row is
committed.

Enqueued exactly once: the row is committed already marked `enqueued` (one transaction per delivery: the insert is
the only write on the request path), then the task is sent. If the send fails the row goes back to `received` and
the request answers 503; Shopify's retry (a duplicate) then takes the row from `received` to `enqueued` with one
conditional UPDATE and sends it, so two copies can never both send. A process that dies between the commit and the
send leaves an `enqueued` row with no message: reconcile re-sends it after PROCESSING_LEASE.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import Headers

from plugin.celery_app import send_task
from plugin.extensions import Base, db, utcnow
from plugin.models.shop import Shop
from plugin.models.webhook_delivery import DeliveryStatus, WebhookDelivery
from plugin.security.shop_domain import is_valid_shop_domain
from plugin.shopify import webhook_checks
from plugin.shopify.webhook_checks import APP_SCOPES_UPDATE, APP_UNINSTALLED, PRODUCT_TOPICS, SHOP_REDACT
from plugin.task_names import PRODUCTS_CHANGED, SHOP_REDACT_TASK, SHOP_UNINSTALLED, SHOPIFY_QUEUE

log = logging.getLogger(__name__)

CUSTOMER_PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact"})


class WebhookRejected(Exception):
    """The request is not an acceptable webhook; `status` says how to answer (nothing was stored)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    # the signed body does not belong to the header's shop (a replay with rewritten headers), or shop/redact for a
    # shop that is installed now: recorded as ignored, nothing changed
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class WebhookMeta:
    topic: str
    shop_domain: str
    event_id: str
    webhook_id: str | None
    api_version: str | None
    triggered_at: datetime | None


def _header(headers: Mapping[str, str] | Headers, name: str) -> str | None:
    """`X-Shopify-<Name>` or the newer `shopify-<name>` (Events delivery) header, whichever is present."""
    for key in (f"X-Shopify-{name}", f"shopify-{name.lower()}"):
        value = headers.get(key)
        if value:
            return value.strip()
    return None


def verify(raw_body: bytes, method: str, headers: Mapping[str, str] | Headers, url: str) -> None:
    """Raise WebhookRejected(401) unless the body's HMAC matches the current or previous app secret."""
    from plugin.shopify.auth import get_shopify_app

    try:
        body = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        # Shopify signs UTF-8 JSON; the library needs text, and text that is not UTF-8 was not signed by
        # Shopify.
        raise WebhookRejected(401, "body is not UTF-8") from None
    result = get_shopify_app().verify_webhook_req(
        {"method": method, "headers": dict(headers), "url": url, "body": body}
    )
    if not result.ok:
        # The library answers 400 for a missing HMAC header; Shopify's compliance review expects 401 for any
        # request that is not provably from Shopify.
        raise WebhookRejected(401 if result.response.status in (400, 401) else result.response.status,
                              result.log.code)


def read_meta(headers: Mapping[str, str] | Headers) -> WebhookMeta:
    topic = _header(headers, "Topic")
    shop_domain = _header(headers, "Shop-Domain")
    event_id = _header(headers, "Event-Id") or _header(headers, "Webhook-Id")
    if not topic:
        raise WebhookRejected(400, "missing topic header")
    if not is_valid_shop_domain(shop_domain):
        raise WebhookRejected(400, "missing or invalid shop domain header")
    if not event_id:
        raise WebhookRejected(400, "missing event id header")
    assert shop_domain is not None
    return WebhookMeta(
        topic=topic.lower(),
        shop_domain=shop_domain,
        event_id=event_id[:255],
        webhook_id=(_header(headers, "Webhook-Id") or None),
        api_version=_header(headers, "API-Version"),
        triggered_at=_parse_triggered_at(_header(headers, "Triggered-At")),
    )


def _parse_triggered_at(value: str | None) -> datetime | None:
    if not value:
        return None
    # Shopify sends up to nanoseconds ("…T01:02:03.123456789Z"); Python's parser takes microseconds.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


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
            return _Task(SHOP_REDACT_TASK, {"delivery_id": delivery.id})
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
        # Shopify has already revoked the token; forget it now. Data stays until shop/redact (48 h later).
        db.session.execute(
            update(Shop).where(Shop.id == shop.id).values(
                access_token_encrypted=None, refresh_token_encrypted=None, access_token_expires_at=None,
                refresh_token_expires_at=None, uninstalled_at=utcnow(), updated_at=utcnow(),
            )
        )
        # only the shop's Shopify id is kept (to check a later shop/redact); the rest is personal data
        shopify_id = webhook_checks.shopify_shop_id(payload)
        delivery.payload = {"shopify_shop_id": shopify_id} if shopify_id is not None else None
        return _Task(SHOP_UNINSTALLED, {"shop_id": shop.id, "delivery_id": delivery.id})
    if topic in PRODUCT_TOPICS:
        return _Task(PRODUCTS_CHANGED, {"delivery_id": delivery.id})
    delivery.status = DeliveryStatus.IGNORED
    return None


def _before_install(meta: WebhookMeta, shop: Shop) -> bool:
    """Whether the event happened before the shop's current installation (a late or out-of-order delivery)."""
    if meta.triggered_at is None or shop.installed_at is None:
        return False
    installed = shop.installed_at if shop.installed_at.tzinfo else shop.installed_at.replace(tzinfo=UTC)
    return meta.triggered_at < installed


def erase_shop(shop_id: int) -> None:
    """Delete every row of the shop: each table with a `shop_id` column (children first), then the shop."""
    for table in reversed(Base.metadata.sorted_tables):
        if "shop_id" in table.c and table.name != WebhookDelivery.__tablename__:
            db.session.execute(delete(table).where(table.c.shop_id == shop_id))
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.shop_id == shop_id))
    db.session.execute(delete(Shop).where(Shop.id == shop_id))


def _send(delivery_id: int, task: _Task) -> None:
    """Send the task of a delivery this request marked `enqueued`; on failure hand the row back (`received`) so that
    Shopify's retry sends it, and raise (the request answers 503)."""
    try:
        send_task(task.name, kwargs=task.kwargs, queue=SHOPIFY_QUEUE)
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
    won = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.RECEIVED)
        .values(status=DeliveryStatus.ENQUEUED)
        .execution_options(synchronize_session=False)
    ).rowcount == 1  # fmt: skip
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
    won = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id,
               WebhookDelivery.status.in_([DeliveryStatus.RECEIVED, DeliveryStatus.ENQUEUED])
               | ((WebhookDelivery.status == DeliveryStatus.PROCESSING)
                  & (WebhookDelivery.received_at < utcnow() - PROCESSING_LEASE)))
        .values(status=DeliveryStatus.PROCESSING)
        .execution_options(synchronize_session=False)
    ).rowcount == 1  # fmt: skip
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
    return [(row.id, SHOP_REDACT_TASK if row.topic == SHOP_REDACT else PRODUCTS_CHANGED) for row in rows]


def release_delivery(delivery_id: int) -> None:
    """Hand a claimed delivery back (`enqueued`) before the task retries after a transient error. Commits."""
    finish_delivery(delivery_id, DeliveryStatus.ENQUEUED)


def _task_for_recorded(delivery: WebhookDelivery) -> _Task | None:
    if delivery.topic in PRODUCT_TOPICS:
        return _Task(PRODUCTS_CHANGED, {"delivery_id": delivery.id})
    if delivery.topic == SHOP_REDACT and isinstance(delivery.payload, dict) and "shop_id" in delivery.payload:
        return _Task(SHOP_REDACT_TASK, {"delivery_id": delivery.id})
    if delivery.topic == APP_UNINSTALLED and delivery.shop_id is not None:
        return _Task(SHOP_UNINSTALLED, {"shop_id": delivery.shop_id, "delivery_id": delivery.id})
    return None


def _json_or_none(raw_body: bytes) -> Any | None:
    try:
        return json.loads(raw_body)
    except ValueError:
        return None
