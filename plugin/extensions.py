"""Extensions created unbound (flaskr style) and bound to an app in `create_app`.

`db` is Flask-SQLAlchemy over a typed `DeclarativeBase`; models import `db.Model`. The Redis client is made
per
app from REDIS_URL and cached on `app.extensions`, so tests with different Redis databases never share one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import redis
from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData
from sqlalchemy.engine import CursorResult, Dialect, Result
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

# Stable constraint names: Alembic autogenerate and SQLite batch migrations need every constraint named.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the offset; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # One registry carries both the naming convention and the annotation map (SQLAlchemy 2.1 with
    # Flask-SQLAlchemy refuses a per-base type_annotation_map next to the registry it creates).
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(UTC)


def init_redis(app: Flask) -> None:
    """Bind a Redis client to the app when REDIS_URL is set (None otherwise: laptop mode)."""
    url = app.config.get("REDIS_URL") or ""
    app.extensions["pose_studio_redis"] = redis.Redis.from_url(url) if url else None


def get_redis() -> redis.Redis | None:
    """The current app's Redis client, or None when REDIS_URL is unset."""
    return current_app.extensions.get("pose_studio_redis")


def rows_matched(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched: its cursor's rowcount (`Session.execute` is typed as returning a
    plain Result, which has none)."""
    return cast(CursorResult[Any], result).rowcount
