"""Generations used per shop per UTC day, for the daily limit (services.limits)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db


class DailyUsage(db.Model):  # type: ignore[name-defined]
    __tablename__ = "daily_usage"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    generations: Mapped[int] = mapped_column(Integer, default=0)
