"""The throwaway local stack that the pipeline benchmark and the end-to-end tests share: a scratch database next to
a server, and the workers started the way the deployment runs them (each in its own process group, log to a file).

It lives outside `tests/` because no module outside `tests/` may import the test tree (tests/test_boundaries.py);
the tests add their credentials and test hooks on top (tests/e2e/conftest.py `worker_env`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def create_scratch_database(base_url: str, prefix: str = "pose_studio_test") -> str:
    """Create an empty database next to `base_url` (PostgreSQL) or a temp file (SQLite); return its URL."""
    url = make_url(base_url)
    if url.get_backend_name() == "sqlite":
        handle, path = tempfile.mkstemp(prefix=f"{prefix}_", suffix=".sqlite")
        os.close(handle)
        return f"sqlite:///{path}"
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_scratch_database(database_url: str, base_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").unlink(missing_ok=True)
        return
    admin = create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Worker:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None  # type: ignore[type-arg]
    _fh: Any = field(default=None, repr=False)

    def start(self) -> None:
        self._fh = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=self._fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} worker exited: {self.tail()}")
            if b" ready." in self.log.read_bytes():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} worker not ready: {self.tail()}")

    def children(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._fh:
            self._fh.close()

    def restart(self) -> None:
        self.stop()
        with open(self.log, "ab") as fh:
            fh.write(b"\n--- restart ---\n")
        self.log.write_bytes(b"")
        self.start()
        self.wait_ready()

    def tail(self, n: int = 4000) -> str:
        return self.log.read_bytes()[-n:].decode(errors="replace")


def stack_env(base: dict[str, str], *, api_key: str, api_secret: str, redis_url: str, database_url: str,
              storage: Path, emulator_origin: str, encryption_key: str) -> dict[str, str]:  # fmt: skip
    """The environment of the web app and its workers, pointed at the emulator, with local storage under `storage`."""
    return {
        **base,
        "PYTHONPATH": str(ROOT),
        "POSE_STUDIO_ENV": "test",
        "SHOPIFY_API_KEY": api_key,
        "SHOPIFY_API_SECRET": api_secret,
        "SHOPIFY_APP_URL": "https://pose-studio.test",
        "SHOPIFY_API_VERSION": "2026-10",
        "SHOPIFY_ADMIN_ORIGIN": emulator_origin,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "POSE_STUDIO_ENCRYPTION_KEYS": encryption_key,
        "POSE_STUDIO_STORAGE_URL": storage.as_uri(),
        "PROMETHEUS_MULTIPROC_DIR": str(storage.parent / "prom"),
    }


def make_workers(env: dict[str, str], tmp: Path, *, gpu_env: dict[str, str] | None = None) -> dict[str, Worker]:
    gpu = Worker("gpu", [str(BIN / "celery"), "-A", "gpu_worker.tasks", "worker", "-Q", "gpu", "--pool", "prefork",
                         "-c", "1", "-n", f"gpu-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
                         "--without-heartbeat", "-l", "INFO"],
                 {**env, **(gpu_env or {})}, tmp / "gpu.log")  # fmt: skip
    web = Worker("shopify", [str(BIN / "pose-studio"), "worker", "-Q", "shopify", "-c", "2", "--metrics-port", "0",
                             "-n", f"shopify-{os.getpid()}@%h"], env, tmp / "shopify.log")  # fmt: skip
    return {"gpu": gpu, "shopify": web}
