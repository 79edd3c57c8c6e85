"""Automatic generation per SKU from products/create and products/update webhooks.

A delivery starts work only when all of these hold (each a reason in the returned outcome, for logs and tests):
1. the shop is installed and its automation setting covers the topic (off / new products / new and changed images);
2. the delivery is not older than what we already applied (`updated_at` ordering; Shopify does not order webhooks);
3. the product matches the shop's filters (product type, tag, collection);
4. its source image (first gallery image the app did not make) changed: same media id and URL → unchanged without a
   download; else the image is fetched and its *pixel hash* compared. Our own media writes fire products/update too,
   but they never change the source image, so they never start work (no loops).
Duplicate deliveries are already dropped by event id in the webhook receiver; a duplicate that slips through finds
the same hash (step 4) or the same idempotency key (the job exists) and does nothing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plugin.extensions import db
from plugin.models.job import Job, JobMode, JobOrigin
from plugin.models.product_source import ProductSource
from plugin.models.shop import Shop
from plugin.models.shop_settings import Automation, ShopSettings
from plugin.models.webhook_delivery import WebhookDelivery
from plugin.security.safe_fetch import FetchRejected
from plugin.services import jobs, pose_sets
from plugin.services.admission import JobRequest, admit
from plugin.services.errors import JobLayerError
from plugin.services.gpu_handoff import fetch_to_storage
from plugin.services.products import ProductInfo, from_webhook, pick_source
from plugin.services.settings import get_settings

log = logging.getLogger(__name__)

CREATE, UPDATE, DELETE = "products/create", "products/update", "products/delete"


class Outcome(StrEnum):
    STARTED = "started"
    EXISTING = "existing_job"
    NOT_INSTALLED = "shop_not_installed"
    AUTOMATION_OFF = "automation_off"
    STALE = "stale_delivery"
    FILTERED = "filtered_out"
    NO_IMAGE = "no_source_image"
    UNCHANGED = "source_unchanged"
    LIMIT = "daily_limit_reached"
    DELETED = "product_deleted"
    REJECTED = "source_rejected"
    MISSING = "delivery_missing"
    FOREIGN = "product_not_in_shop"


def matches_filters(settings: ShopSettings, product: ProductInfo, collections: list[str] | None = None) -> bool:
    """All configured filters must match; within one filter any value matches (case-insensitive)."""
    if settings.product_types:
        wanted = {t.lower() for t in settings.product_types}
        if product.product_type.lower() not in wanted:
            return False
    if settings.tags:
        wanted = {t.lower() for t in settings.tags}
        if not wanted & {t.lower() for t in product.tags}:
            return False
    if settings.collections:
        if collections is None or not set(settings.collections) & set(collections):
            return False
    return True


def covers(automation: Automation, topic: str) -> bool:
    if automation == Automation.OFF:
        return False
    if topic == CREATE:
        return True
    return topic == UPDATE and automation == Automation.NEW_AND_CHANGED


def _product_source(shop: Shop, product_id: str) -> ProductSource:
    row = db.session.scalars(
        select(ProductSource).where(ProductSource.shop_id == shop.id, ProductSource.product_id == product_id)
        .with_for_update()
    ).first()  # fmt: skip
    if row is None:
        try:
            with db.session.begin_nested():
                row = ProductSource(shop_id=shop.id, product_id=product_id)
                db.session.add(row)
        except IntegrityError:
            row = db.session.scalars(
                select(ProductSource).where(ProductSource.shop_id == shop.id, ProductSource.product_id == product_id)
                .with_for_update()
            ).one()  # fmt: skip
    return row


def product_belongs(shop: Shop, product_id: str) -> bool:
    """The Admin API confirms the product is the shop's (asked only when work would start)."""
    from plugin.services.shopify_reads import product_in_shop

    return product_in_shop(shop, product_id)


def product_collections(shop: Shop, product_id: str) -> list[str] | None:
    """The product's collection GIDs from the Admin API (only asked when a collection filter is set)."""
    from plugin.services.shopify_reads import collections_of

    return collections_of(shop, product_id)


def _is_stale(updated_at: datetime | None, triggered_at: datetime | None, state: ProductSource) -> bool:
    if not updated_at or not state.last_event_at:
        return False
    if updated_at != state.last_event_at:
        return updated_at < state.last_event_at
    return bool(triggered_at and state.last_triggered_at and triggered_at < state.last_triggered_at)


def handle_product_delivery(delivery_id: int) -> str:
    """The products_changed task. Commits; returns the Outcome (for logs and tests)."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.shop_id is None or not isinstance(delivery.payload, dict):
        return Outcome.MISSING
    shop = db.session.get(Shop, delivery.shop_id)
    if shop is None or not shop.is_installed:
        return Outcome.NOT_INSTALLED
    outcome = _handle(shop, delivery.topic, delivery.payload, delivery.triggered_at)
    db.session.commit()  # the delivery is finished by its task (plugin.services.deliveries.finish_delivery)
    log.info("%s for %s (delivery %s): %s", delivery.topic, shop.domain, delivery_id, outcome)
    return outcome


def _handle(shop: Shop, topic: str, payload: dict[str, Any], triggered_at: datetime | None = None) -> Outcome:
    product = from_webhook(payload)
    if not product.id:
        return Outcome.MISSING
    if topic == DELETE:
        for job in db.session.scalars(select(Job).where(Job.shop_id == shop.id, Job.product_id == product.id)):
            jobs.cancel(job, "the product was deleted in Shopify")
        return Outcome.DELETED
    settings = get_settings(shop)
    state = _product_source(shop, product.id)
    # 2. ordering: an older delivery than the newest applied one changes nothing. updated_at has whole seconds, so
    # within one second the event's own time (X-Shopify-Triggered-At) decides; equal on both: proceed
    if _is_stale(product.updated_at, triggered_at, state):
        return Outcome.STALE
    if product.updated_at:
        state.last_event_at, state.last_triggered_at = product.updated_at, triggered_at
    if not covers(settings.automation, topic):
        return Outcome.AUTOMATION_OFF
    # the body does not name its shop (its HMAC covers the body only; the shop header is unsigned): a body replayed
    # under another shop's header must not start work there (products/delete needs no check: it only cancels this
    # shop's own jobs of that product id, and product ids are unique across shops)
    if not product_belongs(shop, product.id):
        log.warning("automation: %s is not a product of %s; delivery ignored", product.id, shop.domain)
        return Outcome.FOREIGN
    collections = product_collections(shop, product.id) if settings.collections else None
    if not matches_filters(settings, product, collections):
        return Outcome.FILTERED
    source = pick_source(product)
    if source is None:
        return Outcome.NO_IMAGE
    # 4. did the source change? same image (media id + URL) → no download at all
    if state.source_hash and state.source_url == source.url:
        return Outcome.UNCHANGED
    try:
        image, key = fetch_to_storage(shop, source.url)
    except FetchRejected as exc:
        log.warning("automation: source of %s rejected: %s", product.id, exc)
        return Outcome.REJECTED
    if image.content_hash == state.source_hash:
        state.source_url = source.url
        return Outcome.UNCHANGED
    try:
        pose_set = pose_sets.resolve(shop, settings.default_pose_set or "catalog-basics")
    except JobLayerError as exc:
        log.warning("automation: %s", exc)
        return Outcome.FILTERED
    req = JobRequest(
        product_id=product.id, pose_set=pose_set, product_title=product.title, source_url=source.url,
        source_media_id=source.media_id, source_hash=image.content_hash, source_key=key,
        mode=JobMode(settings.mode), origin=JobOrigin.AUTOMATION, backend=settings.backend,
        max_size=settings.max_size,
    )  # fmt: skip
    admitted = admit(shop, [req], partial=True)
    if admitted.refused:
        # the source is not recorded as seen: the next change of this product tries again
        log.warning("automation for %s skipped: the daily limit is reached", shop.domain)
        return Outcome.LIMIT
    # recorded only now: a source we could not act on (limit, bad pose set) is retried on the next delivery
    state.source_url, state.source_hash = source.url, image.content_hash
    return Outcome.STARTED if admitted.created else Outcome.EXISTING
