"""The names of the web side's own Celery tasks (`shopify` queue), in one enum.

Tasks are enqueued by NAME (plugin.services.queue), so the sender never imports the code that runs them:
plugin.tasks registers each under the same name. Payloads carry ids only; the task re-reads the row. The names that
cross to or from the GPU workers (generate, the reports) are the contract's (gpu_worker.contract.TaskName), and so is
the queue name (SHOPIFY_QUEUE): the GPU side must know them, and must not know these.
"""

from __future__ import annotations

from enum import StrEnum


class WebTask(StrEnum):
    # a job's web-side steps: kwargs {"job_id": int}
    FETCH_SOURCE = "pose_studio.jobs.fetch_source"
    PUBLISH_JOB = "pose_studio.jobs.publish"
    # the fair dispatcher and the periodic reconcile: no kwargs
    DISPATCH = "pose_studio.jobs.dispatch"
    RECONCILE = "pose_studio.jobs.reconcile"
    # {"bulk_id": int}: list the products of a bulk run and admit their jobs
    START_BULK = "pose_studio.bulk.start"
    # {"delivery_id": int} -> a WebhookDelivery row with the products/* payload
    PRODUCTS_CHANGED = "pose_studio.products.changed"
    # {"shop_id": int, "delivery_id": int} -> cancel the shop's queued work; tokens are already deleted
    SHOP_UNINSTALLED = "pose_studio.shop.uninstalled"
    # {"delivery_id": int} -> a shop/redact delivery whose payload names the shop ({"shop_id", "shop_domain"}):
    # erase the shop's rows (if it is still uninstalled), then its stored objects
    SHOP_REDACT = "pose_studio.shop.redact"
    # {"shop_domain": str, "final": bool} -> erase the shop's objects in storage (the late sweep after a redact);
    # its database rows are already gone
    SHOP_ERASE_STORAGE = "pose_studio.shop.erase_storage"
