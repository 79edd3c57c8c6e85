"""The web app's Celery carries the shared contract settings and the beat schedule by itself (not only when started
through `pose-studio worker`); `pose-studio worker --queues shopify --beat` runs the schedule; the settings table
documents the job-layer settings."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from plugin import create_app
from plugin.config import load_config, settings_table_markdown
from plugin.errors import ConfigError
from plugin.task_names import WebTask
from pose_studio.worker import worker, worker_argv
from tests.plugin.ops.test_commands import CLI, REPO, process_env


def test_the_web_celery_app_has_the_contract_settings_and_the_beat_schedule(app: Any) -> None:
    conf = app.extensions["celery"].conf
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert conf.task_soft_time_limit < conf.task_time_limit < visibility == 3600
    assert conf.result_backend_transport_options["visibility_timeout"] == visibility
    assert conf.broker_transport_options["max_retries"] == 2  # the webhook's fail-fast enqueue is kept
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    [entry] = conf.beat_schedule.values()
    assert entry["task"] == WebTask.RECONCILE.value and entry["options"]["queue"] == "shopify"
    assert entry["schedule"] == 60.0


def test_the_visibility_timeout_setting_drives_the_time_limits(app_config: dict[str, Any]) -> None:
    conf = create_app({**app_config, "POSE_STUDIO_VISIBILITY_TIMEOUT": "100"}).extensions["celery"].conf
    assert (conf.task_soft_time_limit, conf.task_time_limit, conf.broker_transport_options["visibility_timeout"]) \
        == (70, 80, 100)  # fmt: skip
    with pytest.raises(ConfigError, match="POSE_STUDIO_VISIBILITY_TIMEOUT"):
        load_config({**app_config, "POSE_STUDIO_VISIBILITY_TIMEOUT": "5"})


def test_the_embedded_broker_gets_no_visibility_timeout(app_config: dict[str, Any]) -> None:
    # kombu's SQLAlchemy transport passes its options to create_engine(), which refuses visibility_timeout
    conf = create_app({**app_config, "REDIS_URL": ""}).extensions["celery"].conf
    assert str(conf.broker_url).startswith("sqla+sqlite")
    assert "visibility_timeout" not in conf.broker_transport_options
    assert conf.task_acks_late is True


def test_beat_runs_only_on_the_shopify_worker() -> None:
    argv = worker_argv("shopify", concurrency=2, pool="prefork", loglevel="info", beat=True,
                       beat_schedule="/tmp/x/beat")  # noqa: S108 - only a string here  # fmt: skip
    assert argv[argv.index("--schedule") + 1] == "/tmp/x/beat" and "--beat" in argv  # noqa: S108
    assert "--beat" not in worker_argv("shopify", concurrency=2, pool="prefork", loglevel="info")
    result = CliRunner().invoke(worker, ["--queues", "gpu", "--beat"])
    assert result.exit_code == 2 and "--beat belongs on the shopify worker" in result.output


def test_worker_with_beat_starts_the_schedule(app_config: dict[str, Any], redis_url: str, tmp_path: Path) -> None:
    schedule = tmp_path / "beat-schedule"
    log = tmp_path / "worker.log"
    env = process_env(app_config, REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url, LOG_LEVEL="INFO")
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "worker", "--queues", "shopify", "--concurrency", "1", "--metrics-port", "0",
                                 "--hostname", "beat-ops-test@%h", "--beat", "--beat-schedule", str(schedule)],
                                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and b"beat: Starting" not in log.read_bytes():
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                time.sleep(0.2)
            assert b"beat: Starting" in log.read_bytes(), log.read_text(errors="replace")[-3000:]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=40) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert any(p.name.startswith(schedule.name) for p in tmp_path.iterdir())  # beat kept its state where told


def test_the_settings_table_documents_the_job_layer_settings() -> None:
    table = settings_table_markdown()
    for name in ("POSE_STUDIO_STORAGE_URL", "POSE_STUDIO_VISIBILITY_TIMEOUT", "POSE_STUDIO_SHOP_INFLIGHT",
                 "POSE_STUDIO_RECONCILE_AFTER_SECONDS", "POSE_STUDIO_METRICS_TOKEN", "POSE_STUDIO_PROXY_HOPS",
                 "POSE_STUDIO_DIFFUSION_*"):  # fmt: skip
        assert f"`{name}`" in table, name
    assert "docs/MODELS.md" in table
