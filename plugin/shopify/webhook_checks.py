"""Does a verified webhook's body agree with its headers? Checked before any topic that changes or deletes data.

Shopify's HMAC covers the body only; topic, shop domain, event id and triggered-at travel in headers that are not
signed. A body signed for one shop and topic can therefore be replayed with rewritten headers (another installed
shop's domain, `shop/redact`). So every data-changing topic carries, in its signed body, something that names the
shop, and we compare it with the header before acting:

- `shop/redact`: `shop_domain` equals the header shop; `shop_id` is a positive integer and, when we learnt the
  shop's Shopify id from a verified `app/uninstalled`, equal to it. (The shop must also be uninstalled: checked by
  the caller, which has the row.)
- `app/uninstalled`: the shop object's `myshopify_domain` (or `domain` when Shopify leaves the former out) equals
  the header shop.
- `app/scopes_update`: its body names no shop; it must carry a `current` list of scope names (what we store is
  informational only, and the next token refresh overwrites it with Shopify's own list).
- `products/*`: the body names the product only; that the product belongs to the shop is confirmed against the
  Admin API by the task (plugin.services.automation) before any work starts. Here: the body has a product id.

A mismatch returns its reason; the caller logs it and answers 200 without effect (a forged request gets nothing,
and a genuine but odd delivery is not retried forever).
"""

from __future__ import annotations

import re
from typing import Any

PRODUCT_TOPICS = frozenset({"products/create", "products/update", "products/delete"})
APP_UNINSTALLED = "app/uninstalled"
APP_SCOPES_UPDATE = "app/scopes_update"
SHOP_REDACT = "shop/redact"
_SCOPE = re.compile(r"[a-z_]{1,64}")


def _same_domain(value: Any, shop_domain: str) -> bool:
    return isinstance(value, str) and value.strip().lower() == shop_domain.lower()


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def mismatch(topic: str, shop_domain: str, payload: Any, known_shopify_id: int | None = None) -> str | None:
    """Why the body of `topic` does not belong to `shop_domain` (None: it does, or the topic changes nothing)."""
    if topic == SHOP_REDACT:
        if not isinstance(payload, dict) or not _same_domain(payload.get("shop_domain"), shop_domain):
            return "shop/redact body names another shop_domain"
        if not _positive_int(payload.get("shop_id")):
            return "shop/redact body has no valid shop_id"
        if known_shopify_id is not None and payload["shop_id"] != known_shopify_id:
            return "shop/redact body names another shop_id"
        return None
    if topic == APP_UNINSTALLED:
        if not isinstance(payload, dict):
            return "app/uninstalled body is not a shop object"
        # myshopify_domain is the permanent one; `domain` may be a custom domain when both are present
        named = payload.get("myshopify_domain") or payload.get("domain")
        if not _same_domain(named, shop_domain):
            return "app/uninstalled body names another shop"
        return None
    if topic == APP_SCOPES_UPDATE:
        current = payload.get("current") if isinstance(payload, dict) else None
        if not isinstance(current, list) or len(current) > 100 \
                or not all(isinstance(s, str) and _SCOPE.fullmatch(s) for s in current):
            return "app/scopes_update body has no current scopes list"
        return None
    if topic in PRODUCT_TOPICS:
        if not isinstance(payload, dict) or not _positive_int(payload.get("id")):
            return f"{topic} body has no product id"
        return None
    return None


def shopify_shop_id(payload: Any) -> int | None:
    """The Shopify shop id in an (already matched) app/uninstalled body, kept to check a later shop/redact."""
    if isinstance(payload, dict) and _positive_int(payload.get("id")):
        return int(payload["id"])
    return None
