"""The Home page's summary in one cheap call: jobs by state, images published this week, today's usage against the
daily limit, and whether workers are there to take the work (GET /api/overview, polled by the page).

Counting is two GROUP BY queries on indexed columns. Worker health asks Celery which workers consume which queue
(`inspect().active_queues()`, one broadcast answered within WORKER_TIMEOUT_S); the answer is cached in Redis for
WORKER_CACHE_S for every shop, so however many merchants keep Home open, the broker sees at most one broadcast per
WORKER_CACHE_S. Queue lengths are LLEN on the broker's Redis lists (kombu's Redis transport: one list per queue and
priority step).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from gpu_worker.contract import GPU_QUEUE, SHOPIFY_QUEUE
from plugin.extensions import db, utcnow
from plugin.models.job import Job, JobState
from plugin.models.output import Output
from plugin.models.shop import Shop
from plugin.services import limits
from plugin.services.settings import get_settings

log = logging.getLogger(__name__)

QUEUES = (GPU_QUEUE, SHOPIFY_QUEUE)
WORKER_TIMEOUT_S = 0.5
WORKER_CACHE_S = 15
CACHE_KEY = "pose_studio:overview:workers"
# kombu's Redis transport keeps priority steps 0/3/6/9 as `queue`, `queue\x06\x163`, … (Channel.sep = "\x06\x16")
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def overview(shop: Shop) -> dict[str, Any]:
    settings = get_settings(shop)
    by_state = {s.value: 0 for s in JobState}
    for state, n in db.session.execute(
        select(Job.state, func.count()).where(Job.shop_id == shop.id).group_by(Job.state)
    ).all():
        by_state[JobState(state).value] = n
    week_ago = utcnow() - timedelta(days=7)
    published = db.session.scalar(
        select(func.count()).select_from(Output)
        .where(Output.shop_id == shop.id, Output.published_at.is_not(None), Output.published_at >= week_ago)
    )  # fmt: skip
    used = limits.used_today(shop)
    return {
        "jobs_by_state": by_state,
        "total_jobs": sum(by_state.values()),
        "published_this_week": int(published or 0),
        "usage": {"used": used, "limit": settings.daily_limit, "remaining": max(0, settings.daily_limit - used),
                  "day": limits.today().isoformat()},
        "workers": worker_health(),
    }  # fmt: skip


def worker_health() -> dict[str, Any]:
    """{online, status: ok|no_workers|no_gpu_worker|no_shopify_worker|unknown, workers, queues: {name: {workers,
    length}}, checked_at}: cached for WORKER_CACHE_S."""
    redis = _redis()
    try:
        if redis is not None:
            try:
                cached = redis.get(CACHE_KEY)
                if cached:
                    return dict(json.loads(cached))
            except Exception as exc:  # Redis trouble must not break Home: ask Celery directly
                log.warning("overview: worker cache unreadable: %s", exc)
        health = _ask_workers(redis)
        if redis is not None:
            try:
                redis.set(CACHE_KEY, json.dumps(health), ex=WORKER_CACHE_S)
            except Exception as exc:
                log.warning("overview: worker cache not written: %s", exc)
        return health
    finally:
        if redis is not None:
            redis.close()


def _ask_workers(redis: Any) -> dict[str, Any]:
    lengths = {q: _queue_length(redis, q) for q in QUEUES}
    consumers: dict[str, int] = dict.fromkeys(QUEUES, 0)
    started = time.monotonic()
    try:
        celery = current_app.extensions["celery"]
        answers = celery.control.inspect(timeout=WORKER_TIMEOUT_S).active_queues() or {}
    except Exception as exc:  # no broker, or a transport without broadcast (the SQLite dev broker)
        log.info("overview: workers could not be asked: %s", exc)
        return {"online": None, "status": "unknown", "workers": None, "checked_at": utcnow().isoformat(),
                "queues": {q: {"workers": None, "length": lengths[q]} for q in QUEUES}}  # fmt: skip
    for queues in answers.values():
        for name in {q.get("name") for q in queues or []}:
            if name in consumers:
                consumers[name] += 1
    if not answers:
        status = "no_workers"
    elif not consumers[GPU_QUEUE]:
        status = "no_gpu_worker"
    elif not consumers[SHOPIFY_QUEUE]:
        status = "no_shopify_worker"
    else:
        status = "ok"
    return {
        "online": status == "ok", "status": status, "workers": len(answers), "checked_at": utcnow().isoformat(),
        "asked_in_ms": round(1000 * (time.monotonic() - started)),
        "queues": {q: {"workers": consumers[q], "length": lengths[q]} for q in QUEUES},
    }  # fmt: skip


def _redis() -> Any:
    """A client on the broker's Redis (None for another broker): the queues are lists there."""
    import redis as redis_lib

    url = str(getattr(current_app.extensions.get("celery"), "conf", {}).get("broker_url") or "")
    if not url.startswith(("redis://", "rediss://")):
        return None
    return redis_lib.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def _queue_length(redis: Any, queue: str) -> int | None:
    if redis is None:
        return None
    try:
        return int(sum(redis.llen(queue + suffix) for suffix in PRIORITY_SUFFIXES))
    except Exception as exc:
        log.warning("overview: length of queue %s unknown: %s", queue, exc)
        return None
