"""Prometheus metrics: request latency by route, queue depth from the broker, multi-process aggregation,
the worker exporter, and the bearer token on /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from pose_studio import metrics
from tests.plugin.ops.conftest import free_port


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def test_request_latency_is_labelled_by_route_template(client: Any) -> None:
    count = "pose_studio_http_request_duration_seconds_count"
    before = value(client.get("/metrics").get_data(as_text=True), count,
                   route="/healthz", method="GET", status="2xx") or 0
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/page/12345")
    text = client.get("/metrics").get_data(as_text=True)
    assert value(text, "pose_studio_http_request_duration_seconds_count",
                 route="/healthz", method="GET", status="2xx") == before + 3
    # unknown paths collapse into one label value instead of one series per path
    assert value(text, "pose_studio_http_request_duration_seconds_count",
                 route="<unmatched>", method="GET", status="4xx") >= 1
    assert "/no/such/page" not in text


def test_queue_depth_and_jobs_by_state_are_read_at_scrape_time(app: Any, client: Any, redis_url: str) -> None:
    celery = app.extensions["celery"]
    for _ in range(2):
        celery.send_task("pose_studio.ops_test.noop", kwargs={}, queue="gpu")
    text = client.get("/metrics").get_data(as_text=True)
    assert value(text, "pose_studio_queue_depth", queue="gpu") == 2
    assert value(text, "pose_studio_queue_depth", queue="shopify") == 0
    assert value(text, "pose_studio_scrape_error", source="broker") == 0


def test_metrics_need_the_bearer_token_when_one_is_set(app_config: dict[str, Any]) -> None:
    from plugin import create_app
    from plugin.observability import init_observability

    app = create_app({**app_config, "POSE_STUDIO_METRICS_TOKEN": "metrics-token-0123456789"})
    init_observability(app)
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer metrics-token-0123456789"})
    assert ok.status_code == 200
    assert b"pose_studio_http_request_duration_seconds" in ok.data


def test_recorders_feed_their_families() -> None:
    before = value(metrics.render_metrics()[0].decode(), "pose_studio_webhooks_total",
                   topic="products/create", outcome="duplicate") or 0
    metrics.record_webhook("duplicate", "products/create")
    metrics.observe_generation("front", "warp", 0.8)
    metrics.record_shopify_request("productUpdate", "throttled", cost_points=10)
    metrics.observe_throttle_wait(1.5)
    metrics.record_writeback_retry("http_5xx")
    metrics.set_gpu_memory(0, 1024, 2048)
    text = metrics.render_metrics()[0].decode()
    assert value(text, "pose_studio_webhooks_total",
                 topic="products/create", outcome="duplicate") == before + 1
    assert value(text, "pose_studio_generation_seconds_count", pose="front", backend="warp") >= 1
    assert value(text, "pose_studio_shopify_query_cost_points_total", operation="productUpdate") >= 10
    assert value(text, "pose_studio_writeback_retries_total", reason="http_5xx") >= 1
    assert value(text, "pose_studio_gpu_memory_bytes", device="0", kind="reserved") == 2048


_CHILD = """
import sys
from pose_studio import metrics
metrics.record_webhook("accepted", "products/update")
metrics.observe_generation("side", "diffusion", float(sys.argv[1]))
"""


def test_samples_of_several_processes_are_added_up(tmp_path: Path) -> None:
    """What gunicorn workers and Celery pool children do: each writes to PROMETHEUS_MULTIPROC_DIR; the process
    serving /metrics reads the sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for seconds in ("1.0", "3.0"):
        subprocess.run([sys.executable, "-c", _CHILD, seconds], env=env, check=True, cwd=Path.cwd())
    reader = ("from pose_studio import metrics; import sys; "
              "sys.stdout.write(metrics.render_metrics()[0].decode())")
    text = subprocess.run([sys.executable, "-c", reader], env=env, check=True, capture_output=True,
                          text=True).stdout
    assert value(text, "pose_studio_webhooks_total", topic="products/update", outcome="accepted") == 2
    assert value(text, "pose_studio_generation_seconds_sum", pose="side", backend="diffusion") == 4.0


def test_worker_exporter_serves_metrics_and_queue_depth(redis_url: str) -> None:
    port = free_port()
    server = metrics.start_worker_exporter(port, addr="127.0.0.1", broker_url=redis_url)
    try:
        response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert response.status_code == 200
        assert value(response.text, "pose_studio_queue_depth", queue="gpu") == 0
        assert requests.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
