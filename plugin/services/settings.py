"""Per-shop settings of the job layer: read with defaults, validated update."""

from __future__ import annotations

from typing import Any

from gpu_worker.contract import OUTPUT_FORMATS  # what Shopify media accepts and the GPU worker encodes
from plugin.extensions import db
from plugin.models.shop import Shop
from plugin.models.shop_settings import Automation, ShopSettings
from plugin.services.errors import InvalidRequest
from plugin.services.pose_sets import resolve
from plugin.shopify.gid import Gid

DEFAULT_POSE_SET = "catalog-basics"
MAX_DAILY_LIMIT = 100_000
BACKENDS = ("warp", "diffusion")


def get_settings(shop: Shop) -> ShopSettings:
    """The shop's settings row (created with defaults on first read; flushed, not committed)."""
    row = db.session.get(ShopSettings, shop.id)
    if row is None:
        row = ShopSettings(
            shop_id=shop.id, automation=Automation.OFF, product_types=[], tags=[], collections=[],
            default_pose_set=DEFAULT_POSE_SET, mode="review", daily_limit=500, backend="warp", max_size=1024,
            output_format="png",
        )  # fmt: skip
        db.session.add(row)
        db.session.flush()
    return row


def settings_to_dict(s: ShopSettings) -> dict[str, Any]:
    return {
        "automation": s.automation.value,
        "filters": {"product_types": s.product_types or [], "tags": s.tags or [], "collections": s.collections or []},
        "default_pose_set": s.default_pose_set or DEFAULT_POSE_SET,
        "mode": s.mode, "daily_limit": s.daily_limit, "backend": s.backend, "max_size": s.max_size,
        "output_format": s.output_format or "png",
    }  # fmt: skip


def _str_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 255 for v in value):
        raise InvalidRequest(f"{name} must be a list of non-empty strings", code="invalid_settings")
    if len(value) > 100:
        raise InvalidRequest(f"{name} can hold at most 100 values", code="invalid_settings")
    return [v.strip() for v in value]


def update_settings(shop: Shop, data: dict[str, Any]) -> ShopSettings:
    """Apply the keys present in `data` (a partial update), validating each. Commits."""
    if not isinstance(data, dict):
        raise InvalidRequest("send a JSON object of settings", code="invalid_settings")
    s = get_settings(shop)
    if "automation" in data:
        try:
            s.automation = Automation(data["automation"])
        except ValueError:
            raise InvalidRequest(
                f"automation must be one of {', '.join(a.value for a in Automation)}", code="invalid_settings"
            ) from None
    filters = data.get("filters", {})
    if not isinstance(filters, dict):
        raise InvalidRequest("filters must be an object", code="invalid_settings")
    if "product_types" in filters:
        s.product_types = _str_list(filters["product_types"], "filters.product_types")
    if "tags" in filters:
        s.tags = _str_list(filters["tags"], "filters.tags")
    if "collections" in filters:
        cols = _str_list(filters["collections"], "filters.collections")
        if any(not (c.startswith("gid://") and Gid.is_valid(c, "Collection")) for c in cols):
            raise InvalidRequest("filters.collections must be collection GIDs (gid://shopify/Collection/…)",
                                 code="invalid_settings")  # fmt: skip
        s.collections = cols
    if "default_pose_set" in data:
        s.default_pose_set = resolve(shop, data["default_pose_set"]).id
    if "mode" in data:
        if data["mode"] not in ("review", "auto"):
            raise InvalidRequest("mode must be 'review' or 'auto'", code="invalid_settings")
        s.mode = data["mode"]
    if "daily_limit" in data:
        limit = data["daily_limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_DAILY_LIMIT:
            raise InvalidRequest(f"daily_limit must be an integer 0..{MAX_DAILY_LIMIT}", code="invalid_settings")
        s.daily_limit = limit
    if "backend" in data:
        if data["backend"] not in BACKENDS:
            raise InvalidRequest(f"backend must be one of {', '.join(BACKENDS)}", code="invalid_settings")
        s.backend = data["backend"]
    if "max_size" in data:
        size = data["max_size"]
        if isinstance(size, bool) or not isinstance(size, int) or not 128 <= size <= 4096:
            raise InvalidRequest("max_size must be an integer 128..4096 (pixels, long side)", code="invalid_settings")
        s.max_size = size
    if "output_format" in data:
        fmt = data["output_format"]
        if fmt not in OUTPUT_FORMATS:
            raise InvalidRequest(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}", code="invalid_settings")
        s.output_format = fmt
    db.session.commit()
    return s
