"""A shop that has not granted a scope the write-back needs (the emulator refuses with ACCESS_DENIED, from the schema's
access metadata): the publish ends with a message that says which access is missing and what to do, nothing
half-written is left to retry blindly."""

from __future__ import annotations

from typing import Any

from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.shop import Shop
from plugin.services import gpu_reports, publish
from tests.plugin.jobs.helpers import generated_job


def test_publish_without_the_file_scope_says_what_to_grant(app: Any, shop: Any, emulator: Any) -> None:
    product = emulator.add_products(shop.domain, 1)[0]
    with app.app_context():
        row = db.session.get(Shop, shop.id)
        first, manifest = generated_job(row, product.gid, [True])
        gpu_reports.record_done(first, manifest)
        publish.run_publish(first)
        assert db.session.get(Job, first).state == JobState.PUBLISHED
        # the merchant declined the files scopes: replacing our earlier image needs fileUpdate (write_files)
        emulator.shop(shop.domain).scopes = "read_products,write_products"
        second, manifest = generated_job(row, product.gid, [True, True])
        gpu_reports.record_done(second, manifest)
        publish.run_publish(second)
        job = db.session.get(Job, second)
        assert job.state == JobState.AWAITING_REVIEW and job.error_code == "publish_failed"
        assert "has not granted Pose Studio `write_files` access scope" in job.error_message
        assert "Open Pose Studio from the Shopify admin" in job.error_message
    assert emulator.stats.access_denied >= 1
