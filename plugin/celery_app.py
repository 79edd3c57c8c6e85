"""Celery for the web side, after Flask's examples/celery: tasks run inside the app context.

The broker is REDIS_URL, or an embedded SQLite broker (`sqla+sqlite:///instance/celery-broker.sqlite`) when
REDIS_URL is unset, so a laptop needs no Redis. The shared settings of `gpu_worker/contract.py` (late ack, reject on
worker lost, prefetch 1, time limits below the visibility timeout, transport options) are applied here, so every way
of running this app (`pose-studio worker`, `celery -A`, a test) gets them; and the beat schedule (`reconcile`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery, Task
from flask import Flask

from gpu_worker.contract import SHOPIFY_QUEUE, TimeLimits, celery_settings, time_limits
from plugin.task_names import WebTask

# Periodic work, run by the one worker started with `pose-studio worker --queues shopify --beat` (celery -B).
# `reconcile` re-sends the message of any job stuck in a state (lost with a broker, a killed worker): docs/JOBS.md.
RECONCILE_INTERVAL_SECONDS = 60.0
BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "reconcile-jobs": {"task": WebTask.RECONCILE.value, "schedule": RECONCILE_INTERVAL_SECONDS,
                       "options": {"queue": SHOPIFY_QUEUE}},
}  # fmt: skip


def broker_url(app: Flask) -> str:
    if app.config.get("REDIS_URL"):
        return str(app.config["REDIS_URL"])
    return f"sqla+sqlite:///{Path(app.instance_path).resolve() / 'celery-broker.sqlite'}"


def embedded_broker_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """kombu's SQLAlchemy transport hands its transport options to create_engine(), which refuses
    `visibility_timeout`; the embedded broker has no visibility timeout anyway (dev only)."""
    return {k: v for k, v in (options or {}).items() if k != "visibility_timeout"}


def apply_contract_settings(celery_app: Celery, *, visibility_timeout: int | None = None) -> None:
    """The shared settings of gpu_worker/contract.py, for every key the app did not set itself (dict-valued keys
    such as broker_transport_options are merged: the app's entries win, the contract adds visibility_timeout).
    Idempotent."""
    # the app's POSE_STUDIO_VISIBILITY_TIMEOUT, else the environment's (what a GPU worker reads), else 3600
    limits = TimeLimits.from_visibility_timeout(int(visibility_timeout)) if visibility_timeout else time_limits()
    # table(with_defaults=False) is what the app set itself (`conf.changes` also holds finalized defaults)
    changed = dict(celery_app.conf.table(with_defaults=False))
    updates: dict[str, Any] = {}
    for key, value in celery_settings(str(celery_app.conf.broker_url), limits=limits).items():
        if key not in changed:
            updates[key] = value
        elif isinstance(value, dict) and isinstance(changed[key], dict):
            updates[key] = {**value, **changed[key]}
    celery_app.conf.update(updates)
    if str(celery_app.conf.broker_url).startswith("sqla+"):
        celery_app.conf.broker_transport_options = embedded_broker_options(celery_app.conf.broker_transport_options)


class AppContextTask(Task):
    """A task that runs inside the app context of the Flask app its Celery app was made for (Flask's
    examples/celery); plugin.tasks declares the retry policy on a subclass."""

    def flask_app(self) -> Flask:
        flask_app: Flask = self.app.flask_app  # set by celery_init_app
        return flask_app

    def __call__(self, *args: object, **kwargs: object) -> object:
        with self.flask_app().app_context():
            return self.run(*args, **kwargs)


def celery_init_app(app: Flask) -> Celery:
    celery_app = Celery(app.name, task_cls=AppContextTask)
    celery_app.flask_app = app  # read by AppContextTask
    celery_app.conf.update(
        broker_url=broker_url(app),
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # Enqueueing happens inside a webhook request that must answer within 5 s: fail fast, Shopify retries.
        broker_transport_options={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        beat_schedule=BEAT_SCHEDULE,
    )
    celery_app.conf.update(app.config.get("CELERY", {}))
    apply_contract_settings(celery_app, visibility_timeout=app.config.get("POSE_STUDIO_VISIBILITY_TIMEOUT"))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
