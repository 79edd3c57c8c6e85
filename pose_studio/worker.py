"""`pose-studio worker`: one Celery worker process for one queue, with the shared settings of gpu_worker/contract.py.

Neutral ground on purpose: a `gpu` worker is prepared from gpu_worker's own Celery app and this package's logging
and metrics only, so it never loads Flask, SQLAlchemy or `plugin` (tests/architecture/test_boundaries.py); a
`shopify` worker loads the web app (its tasks run inside the Flask app context). The contract settings are applied
once, where each Celery app is made (gpu_worker.celery_app, plugin.celery_app); nothing here re-applies them.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import tempfile
from typing import Any

import click

DEFAULT_METRICS_PORTS = {"shopify": 9808, "gpu": 9809}


def visible_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """GPU ids this worker may use, without touching CUDA (the prefork parent must never initialise it):
    CUDA_VISIBLE_DEVICES when set (empty or -1 = none), else what `nvidia-smi -L` lists, else none."""
    env = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in env:
        ids = [d.strip() for d in env["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()]
        # CUDA stops at the first invalid id ("-1" hides every GPU).
        valid: list[str] = []
        for d in ids:
            if d.startswith("-"):
                break
            valid.append(d)
        return valid
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=True).stdout  # noqa: S603
    except (subprocess.SubprocessError, OSError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def default_concurrency(queue: str, environ: dict[str, str] | None = None) -> int:
    if queue == "gpu":
        return max(1, len(visible_gpus(environ)))
    # shopify tasks wait on HTTP (Shopify, CDN, storage): a few processes per core.
    return min(2 * (os.cpu_count() or 1), 8)


def _pin_child_to_gpu(**_: Any) -> None:
    """worker_process_init: give pool child N the N-th visible GPU, before anything imports torch.

    billiard numbers pool processes 0..concurrency-1 and a replacement child (max_tasks_per_child, crash)
    inherits the index of the one it replaces, so each GPU keeps exactly one process."""
    devices = [d for d in os.environ.get("POSE_STUDIO_GPU_DEVICES", "").split(",") if d]
    if not devices:
        return
    from billiard.process import current_process

    index = getattr(current_process(), "index", 0) or 0
    os.environ["CUDA_VISIBLE_DEVICES"] = devices[index % len(devices)]


def load_celery_app(queue: str) -> Any:
    """The Celery app that runs `queue`: the GPU worker's own app for `gpu` (never Flask), the web app's for
    `shopify` (tasks run inside the Flask app context). An explicit CELERY_BROKER_URL (the dev command's embedded
    broker) wins over the app's own choice: the GPU app reads it itself (contract.broker_url_from_env); the web app
    is given it as its Celery configuration, before its contract settings are applied."""
    if queue == "gpu":
        importlib.import_module("gpu_worker.tasks")  # registers the gpu-queue tasks
        from gpu_worker.celery_app import app as gpu_app

        return gpu_app
    from plugin import create_app
    from plugin.observability import init_observability

    explicit_broker = os.environ.get("CELERY_BROKER_URL", "").strip()
    flask_app = create_app({"CELERY": {"broker_url": explicit_broker}} if explicit_broker else None)
    init_observability(flask_app)
    importlib.import_module("plugin.tasks")  # registers the shopify-queue tasks
    return flask_app.extensions["celery"]


def prepare_worker(queue: str, *, metrics_port: int | None, loglevel: str) -> Any:
    """Everything `pose-studio worker` does before Celery's own loop: metrics directory, logging, GPU pinning, the
    Celery app, its signal hooks and the metrics exporter. Returns the Celery app."""
    # 1. metrics directory before prometheus_client is imported anywhere (children inherit it)
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix=f"pose-studio-{queue}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from pose_studio.logging import configure_logging
    from pose_studio.metrics import prepare_multiproc_dir, start_worker_exporter
    from pose_studio.worker_observability import init_worker_observability

    prepare_multiproc_dir(metrics_dir)
    configure_logging(loglevel)

    # 2. process shape
    if queue == "gpu":
        devices = visible_gpus()
        if devices:
            os.environ["POSE_STUDIO_GPU_DEVICES"] = ",".join(devices)
            from celery.signals import worker_process_init

            worker_process_init.connect(_pin_child_to_gpu, weak=False)

    # 3. app, signals, exporter
    celery = load_celery_app(queue)
    init_worker_observability()
    port = DEFAULT_METRICS_PORTS[queue] if metrics_port is None else metrics_port
    if port:
        start_worker_exporter(port, broker_url=str(celery.conf.broker_url))
    return celery


@click.command()
@click.option("--queues", "-Q", "queue", type=click.Choice(["gpu", "shopify"]), required=True,
              help="which queue this worker consumes")
@click.option("--concurrency", "-c", type=click.IntRange(1, 256),
              help="processes (gpu: one per visible GPU; shopify: 2 x cores, max 8)")
@click.option("--hostname", "-n", help="Celery node name (default queue@host)")
@click.option("--metrics-port", type=click.IntRange(0, 65535), envvar="POSE_STUDIO_WORKER_METRICS_PORT",
              help="Prometheus exporter port (default 9808 shopify / 9809 gpu; 0 = off)")
@click.option("--loglevel", "-l", default=lambda: os.environ.get("LOG_LEVEL", "INFO"), show_default="INFO")
@click.option("--pool", "-P", type=click.Choice(["prefork", "solo", "threads"]), default="prefork",
              show_default=True, help="prefork in production (time limits, child recycling); solo for dev")
@click.option("--beat", is_flag=True, default=False,
              help="shopify queue only: also run the periodic schedule (reconcile every 60 s) in this worker "
              "(celery -B). Run EXACTLY ONE such worker in the whole deployment: two would double the schedule, "
              "none would leave lost messages unrecovered.")
@click.option("--beat-schedule", type=click.Path(dir_okay=False), envvar="POSE_STUDIO_BEAT_SCHEDULE",
              help="with --beat: where beat keeps its last-run times (default: a file in the temp directory)")
def worker(queue: str, concurrency: int | None, hostname: str | None, metrics_port: int | None, loglevel: str,
           pool: str, beat: bool, beat_schedule: str | None) -> None:  # fmt: skip
    """Run a Celery worker for one queue with the shared settings of gpu_worker/contract.py."""
    if beat and queue != "shopify":
        raise click.UsageError("--beat belongs on the shopify worker (it schedules `reconcile`, a shopify task); "
                               "start the gpu worker without it")  # fmt: skip
    celery = prepare_worker(queue, metrics_port=metrics_port, loglevel=loglevel)
    concurrency = concurrency or default_concurrency(queue)
    celery.worker_main(argv=worker_argv(queue, concurrency=concurrency, pool=pool, loglevel=loglevel,
                                        hostname=hostname, beat=beat, beat_schedule=beat_schedule))  # fmt: skip


def worker_argv(queue: str, *, concurrency: int, pool: str, loglevel: str, hostname: str | None = None,
                beat: bool = False, beat_schedule: str | None = None) -> list[str]:  # fmt: skip
    """The `celery worker` arguments of `pose-studio worker`."""
    argv = [
        "worker", "--queues", queue, "--concurrency", str(concurrency), "--pool", pool,
        "--loglevel", loglevel.upper(), "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    if pool == "prefork":
        argv += ["-O", "fair"]  # hand a task only to an idle child: a GPU job never waits behind another
    argv += ["--hostname", hostname or f"{queue}@%h"]
    if beat:
        # the schedule itself is the web Celery app's `beat_schedule` (plugin.celery_app.BEAT_SCHEDULE)
        schedule = beat_schedule or os.path.join(tempfile.gettempdir(), f"pose-studio-beat-{os.getuid()}")
        argv += ["--beat", "--schedule", schedule]
    return argv
