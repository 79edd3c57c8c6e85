"""Webhook intake, the Shopify half: verify the HMAC and read the headers. Nothing slow here (Shopify waits 5 s at
most); what happens to the delivery next (dedupe, record, enqueue, finish) is plugin.services.deliveries.

HMAC verification is `shopify_app.verify_webhook_req` (current and previous secret, constant-time, both header
sets).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from werkzeug.datastructures import Headers

from plugin.security.shop_domain import is_valid_shop_domain

log = logging.getLogger(__name__)

CUSTOMER_PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact"})


class WebhookRejected(Exception):
    """The request is not an acceptable webhook; `status` says how to answer (nothing was stored)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


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


