"""Celery for the web side, after Flask's examples/celery: tasks run inside the app context.

The broker is REDIS_URL, or an embedded SQLite broker (`sqla+sqlite:///instance/celery-broker.sqlite`) when
REDIS_URL is unset, so a laptop needs no Redis. Shared worker settings move to gpu_worker.contract later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery, Task
from flask import Flask, current_app


def broker_url(app: Flask) -> str:
    if app.config.get("REDIS_URL"):
        return str(app.config["REDIS_URL"])
    return f"sqla+sqlite:///{Path(app.instance_path).resolve() / 'celery-broker.sqlite'}"


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=broker_url(app),
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # Enqueueing happens inside a webhook request that must answer within 5 s: fail fast, Shopify retries.
        broker_transport_options={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
    )
    celery_app.conf.update(app.config.get("CELERY", {}))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def send_task(name: str, *, kwargs: dict[str, Any], queue: str) -> None:
    """Enqueue task `name` for the current app; raises if the broker cannot take it."""
    celery_app: Celery = current_app.extensions["celery"]
    celery_app.send_task(name, kwargs=kwargs, queue=queue, retry=True, retry_policy={"max_retries": 2})
