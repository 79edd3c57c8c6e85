"""Readiness checks: can this process do useful work right now?

Each check answers in at most `timeout` seconds (a black-holed PostgreSQL must not hang the probe that
would take the instance out of the load balancer), runs in parallel with the others, and says what is wrong
in words.

- database: `SELECT 1` through the app's engine
- migrations: the database's Alembic revision is the head of migrations/ (new code, old schema: not ready)
- broker: a connection to the Celery broker (Redis, or the embedded SQLite transport in dev)
- storage: the object storage answers (local: the directory exists and is writable; S3: a HEAD round trip)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from typing import Any

from flask import Flask

DEFAULT_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CheckFailed(Exception):
    """Raised by a check with the sentence the operator will read."""


def check_database(app: Flask) -> str:
    from sqlalchemy import text

    from plugin.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        return db.engine.dialect.name


def check_migrations(app: Flask) -> str:
    from alembic.runtime.migration import MigrationContext

    from plugin.extensions import db
    from plugin.schema import heads as schema_heads

    heads = set(schema_heads())
    with app.app_context(), db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != heads:
        raise CheckFailed(
            f"database at revision {sorted(current) or 'none'}, code expects {sorted(heads)}: "
            "run `pose-studio migrate`"
        )
    return ",".join(sorted(heads))


def broker_url_for(app: Flask) -> str:
    """The broker this app sends tasks to: the bound Celery app's, else the shared contract's rule."""
    celery = app.extensions.get("celery")
    url = getattr(getattr(celery, "conf", None), "broker_url", None)
    if url:
        return str(url)
    if app.config.get("CELERY_BROKER_URL"):
        return str(app.config["CELERY_BROKER_URL"])
    from gpu_worker.contract import broker_url_from_env

    return broker_url_from_env()


def check_broker(app: Flask, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    from kombu import Connection

    url = broker_url_for(app)
    with Connection(url, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        transport = conn.transport_cls
    return str(transport)


def check_storage(app: Flask) -> str:
    from gpu_worker.storage import LocalStorage, storage_from_url

    storage = storage_from_url(app.config.get("POSE_STUDIO_STORAGE_URL") or None)
    if isinstance(storage, LocalStorage):
        root = storage.root
        if not root.is_dir():
            raise CheckFailed(
                f"storage directory {root} does not exist: create it or fix POSE_STUDIO_STORAGE_URL"
            )
        if not os.access(root, os.W_OK | os.X_OK):
            raise CheckFailed(f"storage directory {root} is not writable by uid {os.getuid()}")
        return "local"
    storage.exists("healthcheck/probe")  # a network round trip; raises when the bucket is unreachable
    return "remote"


READINESS_CHECKS: dict[str, Callable[[Flask], str]] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "storage": check_storage,
}


def run_checks(
    app: Flask,
    checks: dict[str, Callable[[Flask], str]] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[CheckResult]:
    """Run every check in parallel; a check that raises or outlives `timeout` fails with the reason."""
    checks = checks or READINESS_CHECKS
    results: list[CheckResult] = []
    # Not a `with` block: its exit would wait for a hung check, which is exactly what must not happen.
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readyz")
    try:
        started = time.perf_counter()
        futures = {name: pool.submit(_timed, fn, app) for name, fn in checks.items()}
        for name, future in futures.items():
            remaining = max(0.05, timeout - (time.perf_counter() - started))
            try:
                detail, seconds = future.result(timeout=remaining)
                results.append(CheckResult(name, True, detail, round(seconds, 4)))
            except FutureTimeout:
                results.append(CheckResult(name, False, f"no answer within {timeout:.0f} s", timeout))
            except CheckFailed as exc:
                results.append(CheckResult(name, False, str(exc), 0.0))
            except Exception as exc:
                results.append(CheckResult(name, False, _describe(exc), 0.0))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def _timed(fn: Callable[[Flask], str], app: Flask) -> tuple[str, float]:
    start = time.perf_counter()
    detail = fn(app)
    return detail, time.perf_counter() - start


def _describe(exc: BaseException) -> str:
    from pose_studio.logging import redact_text

    # Driver errors can quote the connection URL; the probe output is public to whoever reaches /readyz.
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    return redact_text(text)[:300]


def jobs_by_state(session: Any) -> dict[str, int]:
    """Count jobs per state with one GROUP BY on the jobs table (the /metrics scrape's `pose_studio_jobs`)."""
    from sqlalchemy import func, select

    from plugin.models.job import Job, JobState

    counts = {state.value: 0 for state in JobState}  # every state present, so `== 0` alerts can fire
    for state, count in session.execute(select(Job.state, func.count()).group_by(Job.state)).all():
        counts[str(getattr(state, "value", state))] = int(count)
    return counts
