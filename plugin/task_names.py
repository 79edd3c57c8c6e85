"""Celery task and queue names the web side sends to, in one place.

Tasks are enqueued by NAME (`send_task`), so the sender never imports the code that runs them: the jobs layer
registers a task under the same name. Payloads carry ids only; the task re-reads the row.
"""

from __future__ import annotations

SHOPIFY_QUEUE = "shopify"

# kwargs: {"delivery_id": int} -> a WebhookDelivery row with the products/* payload
PRODUCTS_CHANGED = "pose_studio.products.changed"
# kwargs: {"shop_id": int, "delivery_id": int} -> cancel the shop's queued work; tokens are already deleted
SHOP_UNINSTALLED = "pose_studio.shop.uninstalled"
# kwargs: {"delivery_id": int} -> a shop/redact delivery whose payload names the shop ({"shop_id", "shop_domain"}):
# erase the shop's rows (if it is still uninstalled), then its stored objects
SHOP_REDACT_TASK = "pose_studio.shop.redact"
# kwargs: {"shop_domain": str, "final": bool} -> erase the shop's objects in storage (the late sweep after a
# redact); its database rows are already gone
SHOP_ERASE_STORAGE = "pose_studio.shop.erase_storage"
