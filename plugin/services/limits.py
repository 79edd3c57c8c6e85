"""Daily per-shop generation limit (ASVS 2.4.1 anti-automation; a GPU minute costs money).

A generation run (a new job, or one regenerated output) reserves one unit of the shop's UTC day when it is asked
for. The reservation is one conditional UPDATE, so two concurrent requests cannot both take the last unit. A job
that ends failed or cancelled before any image was made, and a regeneration that failed, give their unit back
(`refund`, called by the state machine in plugin.services.jobs).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from plugin.extensions import db, rows_matched
from plugin.models.shop import Shop
from plugin.models.usage import DailyUsage
from plugin.services import billing
from plugin.services.errors import DailyLimitReached
from plugin.services.settings import get_settings


def today() -> date:
    return datetime.now(UTC).date()


def used_today(shop: Shop) -> int:
    row = db.session.get(DailyUsage, (shop.id, today()))
    return row.generations if row else 0


def remaining_today(shop: Shop) -> int:
    return max(0, get_settings(shop).daily_limit - used_today(shop))


def reserve(shop: Shop, n: int = 1) -> None:
    """Take `n` units of today's allowance or raise DailyLimitReached (HTTP 429). Does not commit."""
    if n <= 0:
        return
    billing.ensure_can_generate(shop)  # usage billing on: plan approved and under its cap, else GenerationPaused
    limit = get_settings(shop).daily_limit
    day = today()
    if db.session.get(DailyUsage, (shop.id, day)) is None:
        try:
            with db.session.begin_nested():
                db.session.add(DailyUsage(shop_id=shop.id, day=day, generations=0))
        except IntegrityError:
            pass  # another request created today's row first
    result = db.session.execute(
        update(DailyUsage)
        .where(DailyUsage.shop_id == shop.id, DailyUsage.day == day, DailyUsage.generations + n <= limit)
        .values(generations=DailyUsage.generations + n)
        .execution_options(synchronize_session=False)
    )
    if rows_matched(result) != 1:
        used = db.session.scalar(
            select(DailyUsage.generations).where(DailyUsage.shop_id == shop.id, DailyUsage.day == day)
        )
        left = max(0, limit - (used or 0))
        raise DailyLimitReached(
            f"this shop's daily limit of {limit} generations is reached ({left} left today, {n} asked); "
            "try again tomorrow (UTC) or raise the limit in Settings"
        )


def refund(shop_id: int, day: date, n: int = 1) -> None:
    """Give back `n` units of `day` (a job or a regeneration that failed or was cancelled before any image was
    made: the merchant is charged only for work that happened). Never below zero. Does not commit."""
    if n <= 0:
        return
    db.session.execute(
        update(DailyUsage)
        .where(DailyUsage.shop_id == shop_id, DailyUsage.day == day)
        .values(generations=func.greatest(DailyUsage.generations - n, 0)
                if db.session.get_bind().dialect.name == "postgresql"
                else func.max(DailyUsage.generations - n, 0))
        .execution_options(synchronize_session=False)
    )  # fmt: skip
