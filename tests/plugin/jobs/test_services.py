"""Unit-level tests of the job services on the real database: state machine, idempotency keys, limits, fairness."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.extensions import db
from plugin.models.job import Job, JobOrigin, JobState
from plugin.models.shop import Shop
from plugin.services import admission, dispatch, jobs, limits, pose_sets, settings
from plugin.services.errors import DailyLimitReached
from tests.plugin.jobs.conftest import queued_tasks


def _req(shop: Shop, product: str = "gid://shopify/Product/1", **kw: Any) -> admission.JobRequest:
    return admission.JobRequest(product_id=product, pose_set=pose_sets.resolve(shop, "catalog-basics"),
                           source_url=f"https://cdn.shopify.com/{product[-3:]}.jpg", **kw)  # fmt: skip


@pytest.fixture
def ctx_shop(app: Any, make_shop: Any) -> Any:
    s = make_shop()
    with app.app_context():
        yield db.session.get(Shop, s.id)


def test_transition_wins_once_and_refuses_illegal_moves(ctx_shop: Shop) -> None:
    job, _ = admission.get_or_create_job(ctx_shop, _req(ctx_shop))
    db.session.commit()
    assert jobs.transition(job.id, JobState.FETCHING, from_states=[JobState.QUEUED])
    assert not jobs.transition(job.id, JobState.FETCHING, from_states=[JobState.QUEUED])  # the duplicate loses
    with pytest.raises(jobs.IllegalTransition):
        jobs.transition(job.id, JobState.PUBLISHED, from_states=[JobState.FETCHING])
    assert jobs.fail(job.id, "x", "what happened; what to do")
    assert job.state == JobState.FAILED and job.finished_at is not None
    assert not jobs.cancel(job)  # terminal states stay


def test_same_request_returns_the_same_job_and_failure_frees_the_key(ctx_shop: Shop) -> None:
    first, created = admission.get_or_create_job(ctx_shop, _req(ctx_shop))
    db.session.commit()
    again, created_again = admission.get_or_create_job(ctx_shop, _req(ctx_shop))
    assert created and not created_again and again.id == first.id
    other_poses, created_other = admission.get_or_create_job(ctx_shop, _req(ctx_shop, poses=["front-relaxed"]))
    assert created_other and other_poses.id != first.id
    jobs.fail(first.id, "x", "y")
    db.session.commit()
    retry, created_retry = admission.get_or_create_job(ctx_shop, _req(ctx_shop))
    assert created_retry and retry.id != first.id


def test_content_key_makes_the_same_pixels_one_job(ctx_shop: Shop) -> None:
    a, _ = admission.get_or_create_job(ctx_shop, _req(ctx_shop, source_hash="ab" * 32, source_key="k"))
    db.session.commit()
    # another URL (re-uploaded file), same pixels → the same job
    b, created = admission.get_or_create_job(ctx_shop, admission.JobRequest(
        product_id=a.product_id, pose_set=pose_sets.resolve(ctx_shop, "catalog-basics"),
        source_url="https://cdn.shopify.com/other.jpg", source_hash="ab" * 32, source_key="k"))  # fmt: skip
    assert not created and b.id == a.id


def test_unique_index_holds_under_a_race(app: Any, ctx_shop: Shop) -> None:
    """Two sessions insert the same key: the partial unique index lets one win; the other gets the winner."""
    from sqlalchemy.orm import Session

    req = _req(ctx_shop)
    key = admission.request_key(ctx_shop.id, req)
    with Session(db.engine) as other:
        other.add(Job(shop_id=ctx_shop.id, product_id=req.product_id, pose_set_id="catalog-basics",
                      pose_set_version="1", pose_set={}, request_key=key, state=JobState.QUEUED))  # fmt: skip
        other.commit()
    job, created = admission.get_or_create_job(ctx_shop, req)
    assert not created and job.request_key == key


def test_daily_limit(ctx_shop: Shop) -> None:
    settings.update_settings(ctx_shop, {"daily_limit": 3})
    limits.reserve(ctx_shop, 2)
    with pytest.raises(DailyLimitReached) as exc:
        limits.reserve(ctx_shop, 2)
    assert exc.value.code == "daily_limit_reached" and exc.value.status == 429 and "1 left" in exc.value.message
    limits.reserve(ctx_shop, 1)
    db.session.commit()
    assert limits.remaining_today(ctx_shop) == 0


def test_fair_dispatch_bounds_each_shops_inflight(app: Any, make_shop: Any, redis_url: str) -> None:
    """Shop A queues a bulk of 200, shop B one job: one dispatch releases K of A's and B's, never 200 of A's."""
    a_id, b_id = make_shop().id, make_shop().id
    with app.app_context():
        a, b = db.session.get(Shop, a_id), db.session.get(Shop, b_id)
        for i in range(200):
            admission.get_or_create_job(a, _req(a, f"gid://shopify/Product/{1000 + i}", origin=JobOrigin.BULK))
        db.session.commit()
        admission.get_or_create_job(b, _req(b, "gid://shopify/Product/7"))
        db.session.commit()
        k = dispatch.shop_inflight_limit()
        assert dispatch.dispatch() == k + 1
        sent = [t["kwargs"]["job_id"] for t in queued_tasks(redis_url) if t["name"].endswith("fetch_source")]
        by_shop = {j.id: j.shop_id for j in db.session.scalars(db.select(Job).where(Job.id.in_(sent)))}
        assert sorted(by_shop.values()).count(a.id) == k and list(by_shop.values()).count(b.id) == 1
        assert dispatch.dispatch() == 0  # quotas full until a job finishes
        done = db.session.scalars(db.select(Job).where(Job.shop_id == a.id, Job.dispatched_at.is_not(None))).first()
        jobs.transition(done.id, JobState.FAILED, from_states=[JobState.QUEUED])
        db.session.commit()
        assert dispatch.dispatch() == 1  # the freed slot goes to the next of A's jobs


def test_reconcile_resends_lost_messages(app: Any, ctx_shop: Shop, redis_url: str) -> None:
    from datetime import timedelta

    job, _ = admission.get_or_create_job(ctx_shop, _req(ctx_shop))
    db.session.commit()
    dispatch.dispatch()
    import redis as redis_lib

    redis_lib.Redis.from_url(redis_url).delete("shopify")  # the broker lost the message (restart, no AOF)
    counts = dispatch.reconcile(dispatch.StaleAfter(queued=timedelta(0), fetching=timedelta(0)))
    assert counts["queued"] == 1
    assert [t["kwargs"] for t in queued_tasks(redis_url) if t["name"].endswith("fetch_source")] == [{"job_id": job.id}]
