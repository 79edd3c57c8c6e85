"""Tenant-scoped lookups (redash's get_by_id_and_org): every lookup of tenant data takes the shop."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort
from sqlalchemy import select

from plugin.extensions import db
from plugin.models.shop import Shop

ModelT = TypeVar("ModelT")


def get_for_shop_or_404(model: type[ModelT], id_: Any, shop: Shop) -> ModelT:
    """Row `id_` of `model` if it belongs to `shop`; 404 otherwise.

    A foreign id answers exactly like a missing one, so ids of other shops cannot be probed.
    """
    statement = select(model).where(model.id == id_, model.shop_id == shop.id)  # type: ignore[attr-defined]
    row = db.session.execute(statement).scalar_one_or_none()
    if row is None:
        abort(404)
    return row
