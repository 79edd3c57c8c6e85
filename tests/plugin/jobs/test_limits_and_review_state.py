"""The daily limit charges only for work that happened, and an `auto` job says truthfully when some of its images still
wait for the merchant (docs/JOBS.md, "Daily limit" and "auto mode")."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.extensions import db
from plugin.models.job import Job, JobMode, JobState
from plugin.models.output import Decision, Output
from plugin.models.shop import Shop
from plugin.services import gpu_reports, jobs, limits, publish, review, serialization, settings
from plugin.services.errors import DailyLimitReached
from tests.plugin.jobs.helpers import generated_job, new_job


@pytest.fixture
def ctx_shop(app: Any, shop: Any) -> Any:
    with app.app_context():
        s = db.session.get(Shop, shop.id)
        settings.update_settings(s, {"daily_limit": 2})
        yield s


def test_failed_and_cancelled_jobs_give_their_unit_back(ctx_shop: Shop) -> None:
    first = new_job(ctx_shop, "gid://shopify/Product/901")
    second = new_job(ctx_shop, "gid://shopify/Product/902")
    with pytest.raises(DailyLimitReached):
        limits.reserve(ctx_shop, 1)
    assert jobs.fail(first, "source_rejected", "the image could not be read; upload another image")
    db.session.commit()
    assert limits.used_today(ctx_shop) == 1
    assert jobs.cancel(db.session.get(Job, second))
    db.session.commit()
    assert limits.used_today(ctx_shop) == 0
    assert not jobs.fail(first, "x", "failing twice refunds nothing")  # terminal: the transition loses
    db.session.commit()
    assert limits.used_today(ctx_shop) == 0


def test_a_job_whose_images_were_made_keeps_its_unit_when_cancelled(ctx_shop: Shop, emulator: Any) -> None:
    product = emulator.add_products(ctx_shop.domain, 1)[0]
    job_id, manifest_key = generated_job(ctx_shop, product.gid, [True], mode=JobMode.REVIEW)
    gpu_reports.record_done(job_id, manifest_key)
    assert db.session.get(Job, job_id).state == JobState.AWAITING_REVIEW
    assert jobs.cancel(db.session.get(Job, job_id))
    db.session.commit()
    assert limits.used_today(ctx_shop) == 1


def test_a_failed_regeneration_gives_its_unit_back(ctx_shop: Shop, emulator: Any) -> None:
    product = emulator.add_products(ctx_shop.domain, 1)[0]
    job_id, manifest_key = generated_job(ctx_shop, product.gid, [True], mode=JobMode.REVIEW)
    gpu_reports.record_done(job_id, manifest_key)
    out = db.session.scalars(db.select(Output).where(Output.job_id == job_id)).one()
    review.regenerate(ctx_shop, out)
    assert limits.used_today(ctx_shop) == 2
    job = db.session.get(Job, job_id)
    gpu_reports.record_failed(job_id, "engine_error", "the engine failed; try again",
                                     f"{job.spec_key.rsplit('/', 1)[0]}/spec-regen-{out.id}-1.json")  # fmt: skip
    assert db.session.get(Job, job_id).state == JobState.AWAITING_REVIEW
    assert limits.used_today(ctx_shop) == 1


def test_auto_mode_with_a_failed_check_stays_in_review_until_the_last_image_is_decided(
    ctx_shop: Shop, emulator: Any
) -> None:
    product = emulator.add_products(ctx_shop.domain, 1)[0]
    job_id, manifest_key = generated_job(ctx_shop, product.gid, [True, False, True])
    gpu_reports.record_done(job_id, manifest_key)
    assert db.session.get(Job, job_id).state == JobState.PUBLISHING
    publish.run_publish(job_id)

    job = db.session.get(Job, job_id)
    data = serialization.job_to_dict(job)
    assert job.state == JobState.AWAITING_REVIEW, job.stage  # not a plain `published` while one image waits
    assert data["needs_review"] == 1 and job.stage == "2 image(s) on the product, 1 waiting for review"
    assert [o["published"] for o in data["outputs"]] == [True, False, True]
    ours = [m for m in emulator.shops[ctx_shop.domain].gallery(product.gid) if m.filename.startswith("pose-studio-")]
    assert len(ours) == 2

    failed = db.session.scalars(db.select(Output).where(Output.job_id == job_id, Output.passed.is_(False))).one()
    review.decide(failed, Decision.REJECTED)
    job = db.session.get(Job, job_id)
    assert job.state == JobState.PUBLISHED and serialization.job_to_dict(job)["needs_review"] == 0
