"""Enqueue Celery tasks by name (the one send helper of the web side), after the database transaction that wrote
their rows has committed.

A task that starts before its row is committed reads nothing (Celery's "Database transactions" section); so services
call `send_after_commit` inside the transaction, and the message leaves only when the session commits. A broker
outage at that moment is logged, not raised: the row is committed and `reconcile` re-sends stale work.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from gpu_worker.contract import queue_for
from plugin.extensions import db

log = logging.getLogger(__name__)
_KEY = "pose_studio_after_commit"


def send_now(name: str, *, countdown: float | None = None, **kwargs: Any) -> None:
    """Send task `name` with `kwargs` to its queue (gpu_worker.contract.queue_for) right away, optionally to run
    `countdown` seconds from now. The one send helper of the web side; raises when the broker cannot take it
    (a webhook then answers 503, and Shopify's retry sends it)."""
    celery_app = current_app.extensions["celery"]
    celery_app.send_task(name, kwargs=kwargs, queue=queue_for(name), countdown=countdown, retry=True,
                         retry_policy={"max_retries": 2})  # fmt: skip


def send_after_commit(name: str, **kwargs: Any) -> None:
    """Queue `name(**kwargs)` to be sent when the current session commits (dropped on rollback)."""
    session = db.session()
    session.info.setdefault(_KEY, []).append((name, kwargs))


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    pending = session.info.pop(_KEY, None)
    session.info.pop("pose_studio_dispatch_requested", None)
    if not pending or not has_app_context():
        return
    for name, kwargs in pending:
        try:
            send_now(name, **kwargs)
        except Exception:  # the broker is down: the committed row stays queued and reconcile re-sends it
            log.exception("could not enqueue %s %s; reconcile will retry", name, kwargs)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    if not session.in_transaction():
        session.info.pop(_KEY, None)
        session.info.pop("pose_studio_dispatch_requested", None)
