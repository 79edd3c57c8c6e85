"""SQLAlchemy 2.0 models, one module per table.

Adding a table: create `plugin/models/<table>.py`, import its class here (Alembic's env.py and the test
cleanup
see only what this package imports), then `alembic revision --autogenerate` (see docs/SHOPIFY.md) and review
it.
Every tenant table has `shop_id = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)`:
`shop/redact` erases a shop by deleting from every table that has a `shop_id` column.
"""

from plugin.extensions import Base, db
from plugin.models.billing_plan import BillingPlan

# The job layer's tables (issue 4); bulk before job (jobs.bulk_id references bulk_runs).
from plugin.models.bulk import BulkRun  # noqa: E402,I001
from plugin.models.custom_pose_set import CustomPoseSet
from plugin.models.job import Job, JobState
from plugin.models.output import Output
from plugin.models.product_source import ProductSource
from plugin.models.shop import Shop
from plugin.models.shop_settings import ShopSettings
from plugin.models.usage import DailyUsage
from plugin.models.usage_charge import UsageCharge
from plugin.models.webhook_delivery import DeliveryStatus, WebhookDelivery

__all__ = ["Base", "BillingPlan", "BulkRun", "CustomPoseSet", "DailyUsage", "DeliveryStatus", "Job", "JobState",
           "Output", "ProductSource", "Shop", "ShopSettings", "UsageCharge", "WebhookDelivery", "db"]
