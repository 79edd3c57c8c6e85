"""Fault-suite fixtures: the e2e stack (tests/e2e/conftest.py: real Celery workers in their own processes, the
Shopify emulator, the app served over HTTP) on a THROWAWAY PostgreSQL and a THROWAWAY Redis that the tests may
restart. Never the shared 127.0.0.1:5432 / :6379 servers.

- PostgreSQL: initdb + pg_ctl in a temp dir on a free port, as an unprivileged system user when run as root
  (initdb refuses root), `pg_ctl restart -m fast` for the fault.
- Redis: redis-server on a free port with AOF (`appendfsync always`), as production must run it for a broker:
  a restart keeps queued messages. (A Redis that loses its data loses the messages: that is a deployment error
  `config check` cannot see; docs/DEPLOYMENT.md says to run the broker with AOF and `noeviction`.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from cryptography.fernet import Fernet

from tests.conftest import APP_CONFIG, TEST_API_KEY, TEST_API_SECRET, empty_all_tables
from tests.e2e.conftest import Stack, _serve, make_workers, worker_env

PG_USER = "pgfaults"


@dataclass(frozen=True)
class FaultShop:
    id: int
    domain: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    if not found:
        pytest.fail("the fault suite needs PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
    return Path(found).resolve().parent


class ThrowawayPostgres:
    """A PostgreSQL server of our own, in a temp dir, that a test may restart."""

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="pose-studio-faults-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            if subprocess.run(["id", PG_USER], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", PG_USER], check=True)
            shutil.chown(self.root, PG_USER)
            self.run_as = ["runuser", "-u", PG_USER, "--"]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/faults"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.run_as, *argv], check=True, capture_output=True, timeout=120, cwd=self.root)

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust")
        self.start()
        self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "faults")

    def _ctl(self, action: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-s", "-D", str(self.data), "-l", str(self.root / "pg.log"),
                  "-m", "fast", "-w", "-o", f"-h 127.0.0.1 -p {self.port} -k {self.root}", action)

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop")

    def restart(self) -> None:
        self._ctl("restart")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class ThrowawayRedis:
    """redis-server of our own with AOF, so a restart keeps the queues (as a production broker must)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pose-studio-faults-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.root),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxmemory-policy", "noeviction",
             "--logfile", str(self.root / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis_lib.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(redis_lib.ConnectionError):
                if client.ping():
                    client.close()
                    return
            time.sleep(0.05)
        raise RuntimeError("throwaway redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes the AOF and exits
            self.proc.wait(timeout=20)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    from plugin.schema import upgrade

    server = ThrowawayPostgres()
    try:
        server.init()
        upgrade(server.url)
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def fault_stack(
    throwaway_postgres: ThrowawayPostgres, throwaway_redis: ThrowawayRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    from plugin import create_app
    from shopify_emulator import ShopifyEmulator

    tmp = tmp_path_factory.mktemp("faults")
    storage = tmp / "storage"
    (tmp / "prom").mkdir()
    key = Fernet.generate_key().decode()
    emu = ShopifyEmulator(TEST_API_KEY, TEST_API_SECRET, media_ready_delay=0.2, job_delay=0.02, bulk_delay=0.1,
                          webhook_retry_delays=(0.2, 0.5, 1.0, 2.0), app_config=APP_CONFIG)
    emu.faults.configure(timeout_sleep=1.0, retry_after=0.5)
    emu.start()
    config = {
        "POSE_STUDIO_ENV": "test", "SHOPIFY_API_KEY": TEST_API_KEY, "SHOPIFY_API_SECRET": TEST_API_SECRET,
        "SHOPIFY_API_SECRET_PREVIOUS": "", "SHOPIFY_APP_URL": "https://pose-studio.test",
        "SHOPIFY_API_VERSION": "2026-10", "DATABASE_URL": throwaway_postgres.url,
        "REDIS_URL": throwaway_redis.url, "POSE_STUDIO_ENCRYPTION_KEYS": key, "SHOPIFY_ADMIN_ORIGIN": emu.origin,
        "POSE_STUDIO_STORAGE_URL": storage.as_uri(),
    }
    app = create_app(config)
    server, app_url = _serve(app)
    emu.webhook_url = f"{app_url}/webhooks"
    env = worker_env(dict(os.environ), redis_url=throwaway_redis.url, database_url=throwaway_postgres.url,
                     storage=storage, emulator_origin=emu.origin, encryption_key=key)
    workers = make_workers(env, tmp)
    for w in workers.values():
        w.start()
    try:
        for w in workers.values():
            w.wait_ready()
        yield Stack(app, app_url, emu, env, storage, workers, throwaway_redis.url, tmp)
    finally:
        for w in workers.values():
            w.stop()
        server.shutdown()
        emu.stop()


@pytest.fixture
def faults(fault_stack: Stack) -> Iterator[Stack]:
    """The stack with empty tables, no injected faults and live workers."""
    from plugin.extensions import db

    for worker in fault_stack.workers.values():
        if worker.proc is None or worker.proc.poll() is not None:
            worker.restart()
    with fault_stack.app.app_context():
        empty_all_tables(db.engine)
    fault_stack.emulator.faults.reset()
    fault_stack.emulator.stats.reset()
    yield fault_stack
    fault_stack.emulator.faults.reset()


@pytest.fixture
def fault_shop(faults: Stack) -> Callable[..., tuple[Any, Any]]:
    """fault_shop() -> (FaultShop, EmuShop): installed in the app and the emulator, auto mode, warp at 256 px."""
    from plugin.extensions import db
    from plugin.models.shop import Shop
    from plugin.services.settings import update_settings
    from plugin.shopify.token_store import TokenPair, store_token_pair

    def make() -> tuple[Any, Any]:
        domain = f"faults-{uuid.uuid4().hex[:8]}.myshopify.com"
        emu_shop = faults.emulator.add_shop(domain, seed_products=False)
        token = faults.emulator.issue_access_token(domain, expires_in=3600)
        now = datetime.now(UTC)
        with faults.app.app_context():
            shop_id = store_token_pair(domain, TokenPair(token, now + timedelta(hours=1), "shprt_" + uuid.uuid4().hex,
                                                         now + timedelta(days=90), "read_products,write_products"))
            shop = db.session.get(Shop, shop_id)
            update_settings(shop, {"automation": "new_and_changed", "mode": "auto", "max_size": 256,
                                   "backend": "warp", "default_pose_set": "catalog-basics"})
        return FaultShop(shop_id, domain), emu_shop

    return make
