"""End-to-end fixtures: the real pipeline with a real Celery worker in separate processes.

- PostgreSQL: the session's scratch database (root `database_url`), tables emptied before each test.
- Redis: the session's claimed database number; never flushed while the workers run (kombu keeps state there).
- The Shopify emulator, serving Admin API, CDN and staged uploads, and delivering webhooks to the app.
- The web app served over HTTP in a thread (the emulator POSTs webhooks to it).
- Workers, as the deployment runs them: `celery -A gpu_worker.tasks worker -Q gpu --pool prefork -c 1` and
  `pose-studio worker -Q shopify` (the web app's Celery with the contract settings), each its own process group.
  Test hooks for the GPU worker come from its environment only (POSE_STUDIO_TEST_*).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bench.stack import ROOT, Worker, make_workers, stack_env  # noqa: F401 - ROOT and Worker: used by the e2e tests
from tests.conftest import APP_CONFIG, TEST_API_KEY, TEST_API_SECRET, empty_all_tables

CRASH_POSE_SET = "custom-crash-test"
VISIBILITY_TIMEOUT = 30  # short, so a message un-acked by a killed worker comes back quickly


@dataclass
class Stack:
    app: Any
    app_url: str
    emulator: Any
    env: dict[str, str]
    storage_dir: Path
    workers: dict[str, Worker]
    redis_url: str
    tmp: Path

    def worker_logs(self) -> str:
        return "\n".join(f"===== {n}\n{w.tail()}" for n, w in self.workers.items())


def _serve(app: Any) -> tuple[Any, str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def worker_env(base: dict[str, str], *, redis_url: str, database_url: str, storage: Path, emulator_origin: str,
               encryption_key: str) -> dict[str, str]:  # fmt: skip
    """The stack's environment with the test app's credentials and the test hooks of the GPU worker."""
    return {
        **stack_env(base, api_key=TEST_API_KEY, api_secret=TEST_API_SECRET, redis_url=redis_url,
                    database_url=database_url, storage=storage, emulator_origin=emulator_origin,
                    encryption_key=encryption_key),  # fmt: skip
        "POSE_STUDIO_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "POSE_STUDIO_TEST_CRASH_POSE_SET": CRASH_POSE_SET,
    }


@pytest.fixture(scope="session")
def e2e_database_url() -> Iterator[str]:
    """The stack's own database: its long-lived workers must never meet the unit tests' per-test TRUNCATE."""
    from plugin.schema import upgrade
    from tests.conftest import DEFAULT_DATABASE_URL, create_scratch_database, drop_scratch_database

    base_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    url = create_scratch_database(base_url, prefix="pose_studio_e2e")
    try:
        upgrade(url)
        yield url
    finally:
        drop_scratch_database(url, base_url)


@pytest.fixture(scope="session")
def e2e_redis_url() -> Iterator[str]:
    """The stack's own Redis database: its workers must not consume the tasks unit tests enqueue and inspect."""
    from tests.conftest import DEFAULT_REDIS_URL, claim_redis_database, release_redis_database

    url, token = claim_redis_database(os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL))
    yield url
    release_redis_database(url, token)


@pytest.fixture(scope="session")
def stack(e2e_database_url: str, e2e_redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database_url, _redis_session_url = e2e_database_url, e2e_redis_url
    from plugin import create_app
    from shopify_emulator import ShopifyEmulator

    tmp = tmp_path_factory.mktemp("e2e")
    storage = tmp / "storage"
    (tmp / "prom").mkdir()
    key = Fernet.generate_key().decode()
    emu = ShopifyEmulator(TEST_API_KEY, TEST_API_SECRET, media_ready_delay=0.2, job_delay=0.02, bulk_delay=0.1,
                          webhook_retry_delays=(0.1, 0.2, 0.4), app_config=APP_CONFIG)  # fmt: skip
    emu.start()
    config = {
        "POSE_STUDIO_ENV": "test", "SHOPIFY_API_KEY": TEST_API_KEY, "SHOPIFY_API_SECRET": TEST_API_SECRET,
        "SHOPIFY_API_SECRET_PREVIOUS": "", "SHOPIFY_APP_URL": "https://pose-studio.test",
        "SHOPIFY_API_VERSION": "2026-10", "DATABASE_URL": database_url, "REDIS_URL": _redis_session_url,
        "POSE_STUDIO_ENCRYPTION_KEYS": key, "SHOPIFY_ADMIN_ORIGIN": emu.origin,
        "POSE_STUDIO_STORAGE_URL": storage.as_uri(),
    }  # fmt: skip
    app = create_app(config)
    server, app_url = _serve(app)
    emu.webhook_url = f"{app_url}/webhooks"
    env = worker_env(dict(os.environ), redis_url=_redis_session_url, database_url=database_url, storage=storage,
                     emulator_origin=emu.origin, encryption_key=key)  # fmt: skip
    workers = make_workers(env, tmp)
    for w in workers.values():
        w.start()
    try:
        for w in workers.values():
            w.wait_ready()
        yield Stack(app, app_url, emu, env, storage, workers, _redis_session_url, tmp)
    finally:
        for w in workers.values():
            w.stop()
        server.shutdown()
        emu.stop()


@pytest.fixture
def e2e(stack: Stack) -> Iterator[Stack]:
    """The stack with empty tables; on failure the worker logs are printed."""
    from plugin.extensions import db

    with stack.app.app_context():
        empty_all_tables(db.engine)
    stack.emulator.stats.reset()
    yield stack


@pytest.fixture
def e2e_shop(e2e: Stack) -> Callable[..., Any]:
    """e2e_shop(**settings) -> (Shop row, EmuShop): installed in the app and the emulator, settings applied."""
    import uuid

    from plugin.extensions import db
    from plugin.models.shop import Shop
    from plugin.services.settings import update_settings
    from plugin.shopify.token_store import TokenPair, store_token_pair

    def make(domain: str | None = None, *, seed_products: bool = False, **settings: Any) -> tuple[Any, Any]:
        domain = domain or f"e2e-{uuid.uuid4().hex[:8]}.myshopify.com"
        emu_shop = e2e.emulator.add_shop(domain, seed_products=seed_products)
        token = e2e.emulator.issue_access_token(domain, expires_in=3600)
        now = datetime.now(UTC)
        with e2e.app.app_context():
            shop_id = store_token_pair(domain, TokenPair(token, now + timedelta(hours=1), "shprt_" + uuid.uuid4().hex,
                                                         now + timedelta(days=90), "read_products,write_products"))
            shop = db.session.get(Shop, shop_id)
            update_settings(shop, {"automation": "new_and_changed", "mode": "auto", "max_size": 256,
                                   "backend": "warp", "default_pose_set": "catalog-basics", **settings})
            db.session.refresh(shop)
            db.session.expunge(shop)
        return shop, emu_shop

    return make


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, stack: Stack | None = None,
             interval: float = 0.2) -> Any:  # fmt: skip
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    logs = stack.worker_logs() if stack else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def wait_deliveries_handled(stack: Stack, shop_domain: str, at_least: int, timeout: float = 30) -> list[Any]:
    """Wait on the state a quiet check expects instead of sleeping: at least `at_least` webhook deliveries of the
    shop recorded, and every one of them handled to the end (processed, ignored or failed), none still queued or
    being processed by a task."""
    from sqlalchemy import select

    from plugin.extensions import db
    from plugin.models.webhook_delivery import DeliveryStatus, WebhookDelivery

    done = {DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED, DeliveryStatus.FAILED}

    def handled() -> list[Any] | None:
        with stack.app.app_context():
            rows = list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.shop_domain == shop_domain)))
            states = [row.status for row in rows]
        return states if len(states) >= at_least and all(state in done for state in states) else None

    return wait_for(handled, timeout, f"{at_least} webhook deliveries of {shop_domain} handled", stack)


def review_and_publish(stack: Stack, shop_domain: str, job_id: int, timeout: float = 90) -> Any:
    """The merchant's flow in auto mode since the gate became strict: the job waits in `awaiting_review` with the
    outputs that failed the gate; the merchant approves every waiting output and publishes through the JSON API
    (App Bridge ID token), and the job ends `published`. Returns the published Job row (detached).

    Before approving, asserts the product rule "auto mode publishes only gate passes": no output that failed the
    gate is on the product, and the product holds none of this job's media but the passes auto mode published."""
    from sqlalchemy import select

    from plugin.extensions import db
    from plugin.models.job import Job, JobState
    from plugin.models.output import Decision, Output

    def load() -> tuple[Any, list[Any]]:
        with stack.app.app_context():
            row = db.session.get(Job, job_id)
            outs = list(db.session.scalars(select(Output).where(Output.job_id == job_id).order_by(Output.position)))
            for r in [row, *outs]:
                db.session.expunge(r)
            return row, outs

    def awaiting() -> Any:
        row, outs = load()
        if row.state in (JobState.FAILED, JobState.CANCELLED, JobState.PUBLISHED):
            raise AssertionError(f"job {job_id} ended {row.state.value} ({row.error_code}: {row.error_message}) "
                                 f"instead of awaiting review\n{stack.worker_logs()}")  # fmt: skip
        return row.state == JobState.AWAITING_REVIEW and row.progress == 100 and outs and (row, outs)

    row, outs = wait_for(awaiting, timeout, f"job {job_id} to await review", stack)
    waiting = [o for o in outs if o.decision == Decision.PENDING]
    assert waiting, [(o.pose_id, o.passed, o.decision.value) for o in outs]
    assert all(o.shopify_media_id is None for o in waiting)
    assert all(o.shopify_media_id is None for o in outs if not o.passed), "auto mode published a gate failure"
    emu_shop = stack.emulator.shop(shop_domain)
    ours = [m.gid for m in emu_shop.gallery(row.product_id) if m.filename.startswith(f"pose-studio-{job_id}-")]
    assert sorted(ours) == sorted(o.shopify_media_id for o in outs if o.shopify_media_id), ours

    client = stack.app.test_client()
    headers = {"Authorization": f"Bearer {stack.emulator.make_id_token(shop_domain)}"}
    for o in waiting:
        response = client.post(f"/api/outputs/{o.id}/approve", headers=headers)
        assert response.status_code == 200, response.get_json()
    response = client.post(f"/api/jobs/{job_id}/publish", headers=headers)
    assert response.status_code == 202, response.get_json()

    def published() -> Any:
        row, _ = load()
        if row.state == JobState.FAILED:
            raise AssertionError(f"job {job_id} failed publishing: {row.error_code}: {row.error_message}\n"
                                 f"{stack.worker_logs()}")  # fmt: skip
        return row.state == JobState.PUBLISHED and row

    return wait_for(published, timeout, f"job {job_id} to be published", stack)
