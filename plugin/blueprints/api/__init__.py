"""JSON API of the embedded admin and the admin action extension: parse → authorize → service → JSON.

One module per resource (products, pose_sets, jobs, outputs, bulk, shop), all on the one blueprint of `common`.
Every route needs an App Bridge session token (`@require_session` sets `g.shop`) and every lookup takes the shop
(`get_for_shop_or_404`): another shop's id answers 404, exactly like a missing one. Errors are
`{"error": {"code", "message"}}`; the message says what was wrong and what to do.
"""

from __future__ import annotations

from plugin.blueprints.api import bulk, jobs, outputs, pose_sets, products, shop
from plugin.blueprints.api.common import bp

__all__ = ["bp", "bulk", "jobs", "outputs", "pose_sets", "products", "shop"]
