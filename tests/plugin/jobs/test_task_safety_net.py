"""A task that cannot finish leaves a truthful job behind: storage errors are retried a bounded number of times and
then fail the job with a reason; an unexpected error fails the job (or sends it back to review) with a reason; no job
stays in a working state without one. Tasks run eagerly (Celery `apply`: retries happen at once, in process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plugin.extensions import db
from plugin.models.job import Job, JobMode, JobState
from plugin.models.shop import Shop
from plugin.services import gpu_reports, limits
from plugin.storage import get_storage, keys
from plugin.tasks import STORAGE_RETRIES, fetch_source, generation_done, publish_job
from tests.plugin.jobs.helpers import generated_job, new_job


def _block_job_writes(storage_dir: Path, domain: str) -> Path:
    """Storage full / read-only, through the storage's own error path: `{shop}/jobs` is a file, so every write
    under it fails with an OSError (NotADirectoryError)."""
    blocker = storage_dir / keys.shop_prefix(domain) / "jobs"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"storage full")
    return blocker


def test_storage_refusing_writes_is_retried_then_fails_the_job_with_a_reason(
    app: Any, shop: Any, emulator: Any, storage_dir: Path
) -> None:
    product = emulator.add_products(shop.domain, 1)[0]
    with app.app_context():
        s = db.session.get(Shop, shop.id)
        # the source is already in storage (as automation leaves it): only the job spec write is refused
        job_id = new_job(s, product.gid)
        get_storage().put(keys.source(s.domain, "ab" * 32), b"png", "image/png")
        job = db.session.get(Job, job_id)
        job.source_key, job.source_hash = keys.source(s.domain, "ab" * 32), "ab" * 32
        db.session.commit()
        assert limits.used_today(s) == 1
    _block_job_writes(storage_dir, shop.domain)

    result = fetch_source.apply(kwargs={"job_id": job_id})

    assert result.failed()
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.state == JobState.FAILED, (job.state, job.stage)
        assert job.error_code == "storage_unavailable"
        assert "storage" in job.error_message and "try again" in job.error_message
        assert f"after {STORAGE_RETRIES} retries" in job.error_message
        assert str(storage_dir) not in job.error_message  # no server paths in front of the merchant
        assert limits.used_today(db.session.get(Shop, shop.id)) == 0  # nothing was made: the unit is back


def test_a_corrupt_result_fails_the_job_with_a_reason(app: Any, shop: Any, emulator: Any) -> None:
    """An error nobody planned for (the manifest is not JSON) in the generation_done report."""
    product = emulator.add_products(shop.domain, 1)[0]
    with app.app_context():
        job_id, manifest_key = generated_job(db.session.get(Shop, shop.id), product.gid, [True])
        get_storage().put(manifest_key, b"{not json", "application/json")

    result = generation_done.apply(kwargs={"job_id": job_id, "manifest_key": manifest_key})

    assert result.failed()
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.state == JobState.FAILED and job.error_code == "engine_error"
        assert "JSONDecodeError" in job.error_message and "try again" in job.error_message


def test_a_publish_that_cannot_go_on_goes_back_to_review_with_a_reason(
    app: Any, shop: Any, emulator: Any
) -> None:
    product = emulator.add_products(shop.domain, 1)[0]
    with app.app_context():
        job_id, manifest_key = generated_job(db.session.get(Shop, shop.id), product.gid, [True, True])
        gpu_reports.record_done(job_id, manifest_key)  # auto mode: both passed → publishing
        job = db.session.get(Job, job_id)
        assert job.state == JobState.PUBLISHING
        get_storage().delete(keys.output(shop.domain, job_id, job.poses[0], 0))  # an image went missing

    result = publish_job.apply(kwargs={"job_id": job_id})

    assert result.failed()
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.state == JobState.AWAITING_REVIEW, job.state
        assert job.error_code == "engine_error" and "KeyMissing" in job.error_message
    assert [m for m in emulator.shops[shop.domain].gallery(product.gid) if m.filename.startswith("pose-studio-")] \
        == []  # fmt: skip


def test_a_review_mode_job_is_unaffected_by_the_safety_net(app: Any, shop: Any, emulator: Any) -> None:
    """The net only acts on failure: a good report still lands the job in review."""
    product = emulator.add_products(shop.domain, 1)[0]
    with app.app_context():
        job_id, manifest_key = generated_job(db.session.get(Shop, shop.id), product.gid, [True],
                                             mode=JobMode.REVIEW)  # fmt: skip
    assert generation_done.apply(kwargs={"job_id": job_id, "manifest_key": manifest_key}).successful()
    with app.app_context():
        assert db.session.get(Job, job_id).state == JobState.AWAITING_REVIEW


def test_a_database_connection_killed_mid_task_is_retried_and_the_job_finishes(
    app: Any, shop: Any, emulator: Any, database_url: str
) -> None:
    """The task's PostgreSQL backend is terminated while it waits on Shopify, and Shopify then throttles it (a
    transient error): the rollback of the dead connection raises, which used to skip both the retry and the failure
    record (only reconcile, 15 min to 1 h later, finished the job). Now the session is discarded and the task
    retries on a new connection."""
    from sqlalchemy import create_engine, text

    product = emulator.add_products(shop.domain, 1)[0]
    with app.app_context():
        job_id, manifest_key = generated_job(db.session.get(Shop, shop.id), product.gid, [True, True])
        gpu_reports.record_done(job_id, manifest_key)  # auto mode: both passed → publishing
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    killed: list[int] = []

    def kill_the_tasks_connection(operation: str) -> None:
        if killed:
            return
        with admin.connect() as connection:
            killed.append(connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state = 'idle in transaction'")).rowcount)  # fmt: skip

    retry_after = emulator.faults.retry_after
    emulator.faults.configure(retry_after=0.05)
    emulator.faults.force("http_429", 6)  # more than the client's 5 retries: the publish gives up, transiently
    emulator.before_graphql = kill_the_tasks_connection
    try:
        publish_job.apply(kwargs={"job_id": job_id})
    finally:
        emulator.before_graphql = None
        emulator.faults.reset()
        emulator.faults.configure(retry_after=retry_after)
        admin.dispose()
    assert killed and killed[0] >= 1, "no connection of the task was terminated"
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.state == JobState.PUBLISHED, (job.state, job.error_code, job.error_message)
