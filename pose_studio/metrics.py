"""Prometheus metrics of the web app and the workers, safe under gunicorn's and Celery's forked processes.

Multi-process: when PROMETHEUS_MULTIPROC_DIR is set *before* prometheus_client is first imported
(gunicorn_conf and `pose-studio worker` do it), each process writes its samples to mmap files there and
whoever serves /metrics (the web app, or the worker's exporter in the Celery parent) adds them up.
Without it (tests, a plain `flask run`) the process's own default registry is served.

Two kinds of figures:
- recorded as things happen (counters, histograms): the `record_*` / `observe_*` functions below;
- read at scrape time from the source of truth (jobs by state from PostgreSQL, queue depth from the broker):
  `scrape_time_families`, so a number is never "what one process last saw".

Names are prefixed `pose_studio_`. Label values are bounded sets (route templates, not paths; states; queues).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_QUEUES: tuple[str, ...] = ("gpu", "shopify")

# Webhook answers must stay far below Shopify's ~5 s delivery timeout: buckets resolve 5 ms .. 5 s.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# One pose on a GPU: seconds to minutes (CPU warp is sub-second, diffusion 5-60 s).
_GENERATION_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
_WAIT_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60)

HTTP_REQUEST_SECONDS = Histogram(
    "pose_studio_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status class.",
    ["route", "method", "status"],
    buckets=_HTTP_BUCKETS,
)
WEBHOOKS = Counter(
    "pose_studio_webhooks_total",
    "Webhook deliveries by topic and outcome (accepted, duplicate, rejected).",
    ["topic", "outcome"],
)
JOB_TRANSITIONS = Counter(
    "pose_studio_job_transitions_total",
    "Job state changes (from -> to).",
    ["from_state", "to_state"],
)
GENERATION_SECONDS = Histogram(
    "pose_studio_generation_seconds",
    "Time to generate one pose image, by pose and backend (warp, diffusion).",
    ["pose", "backend"],
    buckets=_GENERATION_BUCKETS,
)
GPU_MEMORY_BYTES = Gauge(
    "pose_studio_gpu_memory_bytes",
    "GPU memory held by live worker processes, by device and kind (allocated, reserved).",
    ["device", "kind"],
    multiprocess_mode="livesum",
)
SHOPIFY_QUERY_COST = Counter(
    "pose_studio_shopify_query_cost_points_total",
    "GraphQL Admin API cost points actually spent, by operation.",
    ["operation"],
)
SHOPIFY_REQUESTS = Counter(
    "pose_studio_shopify_requests_total",
    "GraphQL Admin API requests by operation and outcome (ok, throttled, error).",
    ["operation", "outcome"],
)
SHOPIFY_THROTTLE_WAIT_SECONDS = Histogram(
    "pose_studio_shopify_throttle_wait_seconds",
    "Time spent waiting for the Admin API leaky bucket to refill before a request.",
    buckets=_WAIT_BUCKETS,
)
WRITEBACK_RETRIES = Counter(
    "pose_studio_writeback_retries_total",
    "Retries of the media write-back (publish) to Shopify, by reason.",
    ["reason"],
)
TASK_SECONDS = Histogram(
    "pose_studio_task_duration_seconds",
    "Celery task run time by task name and outcome.",
    ["task", "outcome"],
    buckets=_GENERATION_BUCKETS,
)

# ---------------------------------------------------------------------------------------------- recorders


def status_class(status_code: int) -> str:
    return f"{status_code // 100}xx"


def observe_request(route: str, method: str, status_code: int, seconds: float) -> None:
    HTTP_REQUEST_SECONDS.labels(route, method, status_class(status_code)).observe(seconds)


def record_webhook(outcome: str, topic: str = "unknown") -> None:
    """outcome: `accepted` (new delivery recorded), `duplicate` (event id seen before), `rejected` (bad HMAC,
    bad body, unknown shop)."""
    WEBHOOKS.labels(topic or "unknown", outcome).inc()


def record_job_transition(old: str | None, new: str | None) -> None:
    JOB_TRANSITIONS.labels(old or "none", new or "none").inc()


def observe_generation(pose: str, backend: str, seconds: float) -> None:
    GENERATION_SECONDS.labels(pose, backend).observe(seconds)


def set_gpu_memory(device: str | int, allocated_bytes: float, reserved_bytes: float | None = None) -> None:
    GPU_MEMORY_BYTES.labels(str(device), "allocated").set(allocated_bytes)
    if reserved_bytes is not None:
        GPU_MEMORY_BYTES.labels(str(device), "reserved").set(reserved_bytes)


def sample_gpu_memory() -> None:
    """Record torch's view of GPU memory, only if this process has already imported torch and initialised
    CUDA: importing or initialising it here would break the prefork rule (the parent never touches CUDA)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        if not torch.cuda.is_initialized():
            return
        for index in range(torch.cuda.device_count()):
            set_gpu_memory(index, torch.cuda.memory_allocated(index), torch.cuda.memory_reserved(index))
    except Exception:  # metrics must never fail a task
        log.debug("GPU memory sample failed", exc_info=True)


def record_shopify_request(operation: str, outcome: str, cost_points: float | None = None) -> None:
    SHOPIFY_REQUESTS.labels(operation or "unknown", outcome).inc()
    if cost_points:
        SHOPIFY_QUERY_COST.labels(operation or "unknown").inc(cost_points)


def observe_throttle_wait(seconds: float) -> None:
    SHOPIFY_THROTTLE_WAIT_SECONDS.observe(seconds)


def record_writeback_retry(reason: str) -> None:
    WRITEBACK_RETRIES.labels(reason).inc()


def observe_task(task: str, outcome: str, seconds: float) -> None:
    TASK_SECONDS.labels(task, outcome).observe(seconds)


# ---------------------------------------------------------------------------------------------- scrape time


def queue_names() -> tuple[str, ...]:
    """The queues of gpu_worker/contract.py when it names them, else the documented pair."""
    try:
        from gpu_worker import contract
    except ImportError:
        return DEFAULT_QUEUES
    names = [getattr(contract, attr) for attr in dir(contract) if attr.startswith("QUEUE_")]
    names = [n for n in names if isinstance(n, str)]
    return tuple(sorted(set(names))) or DEFAULT_QUEUES


def queue_depths(broker_url: str, queues: Sequence[str], timeout: float = 2.0) -> dict[str, int]:
    """Messages waiting per queue, through kombu: works for Redis and the embedded SQLite broker alike."""
    from kombu import Connection

    depths: dict[str, int] = {}
    with Connection(broker_url, connect_timeout=timeout, transport_options={"max_retries": 0}) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        channel = conn.default_channel
        for name in queues:
            try:
                _, count, _ = channel.queue_declare(queue=name, passive=True)
            except Exception:  # a queue nobody declared yet holds nothing
                count = 0
            depths[name] = int(count)
    return depths


def scrape_time_families(
    *, job_counts: Callable[[], Mapping[str, int]] | None = None, on_job_count_error: Callable[[], Any] | None = None,
    broker_url: str | None = None, queues: Iterable[str] | None = None,
) -> list[Metric]:
    """Gauge families read now from the database (`job_counts`: jobs per state, given by the web app, which owns
    the database) and the broker; a source that fails is reported through `pose_studio_scrape_error` instead of
    failing the whole scrape (`on_job_count_error` then cleans up, e.g. rolls the session back)."""
    families: list[Metric] = []
    errors = GaugeMetricFamily(
        "pose_studio_scrape_error", "1 when a scrape-time source failed.", labels=["source"]
    )
    if job_counts is not None:
        jobs = GaugeMetricFamily("pose_studio_jobs", "Jobs by current state.", labels=["state"])
        try:
            for state, count in sorted(job_counts().items()):
                jobs.add_metric([state], count)
            errors.add_metric(["database"], 0)
        except Exception:
            log.warning("jobs-by-state scrape failed", exc_info=True)
            errors.add_metric(["database"], 1)
            if on_job_count_error is not None:
                on_job_count_error()
        families.append(jobs)
    if broker_url:
        depth = GaugeMetricFamily(
            "pose_studio_queue_depth", "Messages waiting per Celery queue.", labels=["queue"]
        )
        try:
            for name, count in queue_depths(broker_url, tuple(queues or queue_names())).items():
                depth.add_metric([name], count)
            errors.add_metric(["broker"], 0)
        except Exception:
            log.warning("queue-depth scrape failed", exc_info=True)
            errors.add_metric(["broker"], 1)
        families.append(depth)
    families.append(errors)
    return families


class _FamiliesCollector:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def process_registry() -> CollectorRegistry:
    """The registry holding every process's recorded samples: a MultiProcessCollector over
    PROMETHEUS_MULTIPROC_DIR when set, else this process's default registry."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    from prometheus_client import REGISTRY

    return REGISTRY


def render_metrics(extra_families: list[Metric] | None = None) -> tuple[bytes, str]:
    """Exposition text of every recorded sample plus `extra_families`; returns (body, content type)."""
    body = generate_latest(process_registry())
    if extra_families:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_FamiliesCollector(extra_families))
        body += generate_latest(registry)
    return body, CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live gauges (gunicorn child_exit, Celery child shutdown)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def prepare_multiproc_dir(path: str) -> str:
    """Create (or empty) the directory for multi-process samples; stale files from a previous run would be
    added to the new totals. Must run in the parent before any child starts."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.unlink(os.path.join(path, name))
    return path


def start_worker_exporter(port: int, addr: str = "0.0.0.0", broker_url: str | None = None,  # noqa: S104
                          queues: Iterable[str] | None = None) -> Any:
    """Serve /metrics for a Celery worker (its parent process) on `port`: the children's samples through the
    multi-process directory, plus queue depth when `broker_url` is given. Returns the server."""
    queue_list = tuple(queues) if queues else None

    def app(environ: Mapping[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        families = scrape_time_families(broker_url=broker_url, queues=queue_list) if broker_url else None
        body, content_type = render_metrics(families)
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]

    server = make_server(addr, port, app, _ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True)
    thread.start()
    return server


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        """Scrapes every 15 s would flood the worker log."""


class Timer:
    """`with Timer() as t: ...; t.seconds` — monotonic, for the observe_* calls."""

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
