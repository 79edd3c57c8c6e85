"""Gunicorn settings for `pose-studio serve` (`gunicorn -c python:plugin.gunicorn_conf`).

Every value can be overridden from the environment (GUNICORN_* below, or gunicorn's own GUNICORN_CMD_ARGS).
Why these numbers:
- workers = 2 x cores + 1, capped at 12: gunicorn's own rule of thumb for sync/gthread workers; each worker
  holds a SQLAlchemy pool, so the cap keeps PostgreSQL connections bounded (12 x (pool 5 + overflow 10)).
- gthread with 4 threads: requests spend their time waiting on PostgreSQL/Redis/Shopify, not on the CPU.
- timeout 30 s: Shopify gives a webhook ~5 s and our handler answers in milliseconds (verify, dedupe,
  enqueue); 30 s only bounds a stuck request before the worker is recycled.
- graceful_timeout 20 s: in-flight requests finish on SIGTERM during a deploy.
- max_requests 2000 + jitter 200: recycle workers slowly (bounded memory growth) without restarting all of
  them at the same moment.
- PROMETHEUS_MULTIPROC_DIR is set here, in the master, *before* any worker imports prometheus_client.
"""

from __future__ import annotations

import os
import tempfile

# --- metrics directory first: prometheus_client chooses its value class at import time
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="pose-studio-metrics-")


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def default_workers(cores: int | None = None) -> int:
    cores = cores or os.cpu_count() or 1
    return min(2 * cores + 1, 12)


bind = os.environ.get("GUNICORN_BIND") or "{}:{}".format(
    os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
)
workers = _int_env("GUNICORN_WORKERS", default_workers())
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = _int_env("GUNICORN_THREADS", 4)
timeout = _int_env("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _int_env("GUNICORN_KEEPALIVE", 5)
max_requests = _int_env("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int_env("GUNICORN_MAX_REQUESTS_JITTER", 200)
backlog = _int_env("GUNICORN_BACKLOG", 2048)
# create_app runs once per worker (after fork): each worker has its own DB pool and Redis client.
preload_app = False
# Forwarded headers are handled by ProxyFix with an explicit hop count (POSE_STUDIO_PROXY_HOPS), not here.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None  # the app logs one JSON line per request itself (with the request id and the route)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Request line and headers are bounded; bodies are bounded by the app (MAX_CONTENT_LENGTH / webhook cap).
limit_request_line = 8190
limit_request_fields = 100


def on_starting(server: object) -> None:
    from pose_studio.metrics import prepare_multiproc_dir

    prepare_multiproc_dir(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def post_fork(server: object, worker: object) -> None:
    from pose_studio.logging import configure_logging

    configure_logging()


def child_exit(server: object, worker: object) -> None:
    from pose_studio.metrics import mark_process_dead

    mark_process_dead(worker.pid)  # type: ignore[attr-defined]
