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
# kwargs: {"shop_id": int, "shop_domain": str, "delivery_id": int} -> erase the shop's objects in storage;
# its database rows are already gone
SHOP_ERASE_STORAGE = "pose_studio.shop.erase_storage"
