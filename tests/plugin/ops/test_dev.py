"""`pose-studio dev`: one command, no Redis and no PostgreSQL, a URL that opens the app as the emulated shop,
healthy probes, and Ctrl-C stopping everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parents[3]
URL_LINE = re.compile(r"open the app as (\S+): (http://127\.0\.0\.1:\d+/dev/login)")


def test_dev_runs_everything_without_redis_or_postgres_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env["LOG_LEVEL"] = "WARNING"
    instance = tmp_path / "instance"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pose_studio.cli import main; main()", "dev", "--port", "0",
         "--instance", str(instance)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output: list[str] = []
    found = threading.Event()
    match: dict[str, str] = {}

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            m = URL_LINE.search(line)
            if m:
                match.update(shop=m.group(1), url=m.group(2))
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    children: list[psutil.Process] = []
    try:
        assert found.wait(90), "no URL printed:\n" + "".join(output[-40:])
        base = match["url"].removesuffix("/dev/login")
        page = requests.get(match["url"], timeout=30)
        assert page.status_code == 200, page.text[:500]
        assert f"shop={match['shop']}" in page.url and "id_token=" in page.url
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
        ready = requests.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["broker"]["detail"] == "sqla"  # the embedded broker, not Redis
        assert ready.json()["checks"]["database"]["detail"] == "sqlite"
        assert (instance / "pose-studio.sqlite").exists()

        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2, "both workers run as child processes"
        time.sleep(3)  # the workers have connected to the broker by now, or died trying
        assert not any("exited with code" in line for line in output), "".join(output[-60:])

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        reader.join(timeout=5)
        assert "stopped" in "".join(output[-10:])
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], f"left running: {alive}"
    finally:
        if proc.poll() is None:
            children = children or psutil.Process(proc.pid).children(recursive=True)
            proc.kill()
            proc.wait()
        for child in children:  # the workers run in their own sessions: a killed parent leaves them behind
            if child.is_running():
                child.kill()
