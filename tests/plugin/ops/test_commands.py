"""`pose-studio serve` and `pose-studio worker` as real processes: gunicorn with multi-process metrics and a
clean SIGTERM; Celery workers with the contract's settings and the GPU process count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from plugin.ops_commands import proxy_hops
from pose_studio.worker import default_concurrency, visible_gpus
from tests.plugin.ops.conftest import free_port
from tests.plugin.ops.test_metrics import value

REPO = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-c", "from pose_studio.cli import main; main()"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CUDA_VISIBLE_DEVICES": "0,1,2"}, ["0", "1", "2"]),
        ({"CUDA_VISIBLE_DEVICES": "2, 3"}, ["2", "3"]),
        ({"CUDA_VISIBLE_DEVICES": ""}, []),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, []),
        ({"CUDA_VISIBLE_DEVICES": "0,-1,1"}, ["0"]),  # CUDA stops at the first invalid id
        ({"CUDA_VISIBLE_DEVICES": "GPU-5ab1c2d3"}, ["GPU-5ab1c2d3"]),
    ],
)
def test_visible_gpus_follow_cuda_visible_devices(env: dict[str, str], expected: list[str]) -> None:
    assert visible_gpus(env) == expected


def test_gpu_workers_run_one_process_per_gpu_and_one_without() -> None:
    assert default_concurrency("gpu", {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}) == 4
    assert default_concurrency("gpu", {"CUDA_VISIBLE_DEVICES": ""}) == 1
    assert 1 <= default_concurrency("shopify", {}) <= 8


@pytest.mark.parametrize(("raw", "hops"), [("", 0), ("0", 0), ("2", 2)])
def test_proxy_hops(raw: str, hops: int) -> None:
    assert proxy_hops({"POSE_STUDIO_PROXY_HOPS": raw}) == hops


def test_gunicorn_workers_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # importing the config module sets PROMETHEUS_MULTIPROC_DIR when unset; keep this process out of it
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from plugin.gunicorn_conf import default_workers

    assert [default_workers(c) for c in (1, 2, 4, 16)] == [3, 5, 9, 12]


def process_env(app_config: dict[str, Any], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "GUNICORN"))}
    env.update({k: str(v) for k, v in app_config.items() if isinstance(v, str)})
    env["POSE_STUDIO_ENV"] = "test"
    env["LOG_LEVEL"] = "WARNING"
    env.update(extra)
    return env


def wait_for(url: str, timeout: float = 90.0, proc: subprocess.Popen[Any] | None = None) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before {url} answered")
        try:
            return requests.get(url, timeout=10)
        except requests.RequestException:  # not listening yet, or still importing the app
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def served(app_config: dict[str, Any]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = process_env(app_config, POSE_STUDIO_PROXY_HOPS="1")
    argv = [*CLI, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "2"]
    proc = subprocess.Popen(argv, env=env, cwd=REPO)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc=proc)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_runs_gunicorn_with_shared_metrics_and_stops_on_sigterm(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, proc = served
    pids = {requests.get(f"{base}/healthz", timeout=5).json()["pid"] for _ in range(40)}
    assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
    # ProxyFix with one hop: the scheme the proxy saw is the one the app sees
    text = requests.get(f"{base}/metrics", timeout=10).text
    count = value(text, "pose_studio_http_request_duration_seconds_count",
                  route="/healthz", method="GET", status="2xx")
    # every request counted once, whichever of the workers answered it (41 with wait_for's probe)
    assert count is not None and count >= 40
    assert len(pids) >= 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_serve_refuses_an_invalid_configuration(app_config: dict[str, Any]) -> None:
    env = process_env(app_config, POSE_STUDIO_ENCRYPTION_KEYS="")
    result = subprocess.run([*CLI, "serve"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "POSE_STUDIO_ENCRYPTION_KEYS" in result.stderr and "config check" in result.stderr


@pytest.mark.parametrize(
    ("queue", "extra_env", "processes"),
    [
        ("shopify", {}, 2),
        ("gpu", {"CUDA_VISIBLE_DEVICES": "3,5"}, 2),
        ("gpu", {"CUDA_VISIBLE_DEVICES": ""}, 1),
    ],
    ids=["shopify", "gpu-two-devices", "gpu-none"],
)
def test_worker_runs_the_queue_with_contract_settings(
    app: Any,
    app_config: dict[str, Any],
    redis_url: str,
    queue: str,
    extra_env: dict[str, str],
    processes: int,
) -> None:
    port = free_port()
    env = process_env(app_config, REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url, **extra_env)
    argv = [*CLI, "worker", "--queues", queue, "--metrics-port", str(port),
            "--hostname", f"{queue}-ops-test@%h"]
    if queue == "shopify":
        argv += ["--concurrency", str(processes)]
    proc = subprocess.Popen(argv, env=env, cwd=REPO)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/metrics", proc=proc).status_code == 200
        celery = app.extensions["celery"]
        deadline = time.monotonic() + 30
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline and not stats:
            stats = celery.control.inspect(timeout=1.0).stats() or {}
        assert stats, "worker did not answer inspect stats"
        [(name, worker_stats)] = stats.items()
        assert name.startswith(f"{queue}-ops-test@")
        assert worker_stats["pool"]["max-concurrency"] == processes
        assert worker_stats["pool"]["implementation"].endswith("prefork:TaskPool")
        conf = celery.control.inspect(timeout=2.0).conf()[name]
        assert conf["task_acks_late"] is True and conf["worker_prefetch_multiplier"] == 1
        assert conf["task_reject_on_worker_lost"] is True
        assert conf["broker_transport_options"]["visibility_timeout"] > conf["task_time_limit"]
        active = celery.control.inspect(timeout=2.0).active_queues()[name]
        assert [q["name"] for q in active] == [queue]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
