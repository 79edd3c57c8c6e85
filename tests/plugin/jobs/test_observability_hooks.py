"""The job layer feeds /metrics: job transitions, per-pose generation time, Admin API requests by outcome with their
cost, and write-back retries, after a real generation → check → publish flow against the emulator."""

from __future__ import annotations

from typing import Any

from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.shop import Shop
from plugin.services import gpu_reports, publish
from tests.plugin.jobs.helpers import generated_job
from tests.plugin.ops.test_metrics import samples


def _scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return samples(response.get_data(as_text=True))


def _total(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(v for (n, lbls), v in scraped.items() if n == name and set(labels.items()) <= set(lbls))


def test_a_generate_check_publish_flow_moves_the_counters(app: Any, client: Any, shop: Any, emulator: Any) -> None:
    product = emulator.add_products(shop.domain, 1)[0]
    with app.app_context():
        job_id, manifest_key = generated_job(db.session.get(Shop, shop.id), product.gid, [True, True], seconds=0.7)
    before = _scrape(client)
    emulator.faults.force("media_failed", 1)  # Shopify fails to process one image: the write-back retries it
    emulator.faults.force("throttled", 1)  # and answers THROTTLED once

    with app.app_context():
        gpu_reports.record_done(job_id, manifest_key)
        publish.run_publish(job_id)
        assert db.session.get(Job, job_id).state == JobState.PUBLISHED

    after = _scrape(client)

    def moved(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    assert moved("pose_studio_job_transitions_total", from_state="generating", to_state="checking") == 1
    assert moved("pose_studio_job_transitions_total", from_state="checking", to_state="publishing") == 1
    assert moved("pose_studio_job_transitions_total", from_state="publishing", to_state="published") == 1
    assert moved("pose_studio_generation_seconds_count", backend="warp") == 2
    assert abs(moved("pose_studio_generation_seconds_sum", backend="warp") - 1.4) < 1e-6
    assert moved("pose_studio_shopify_requests_total", operation="ProductCreateMedia", outcome="ok") == 2
    assert moved("pose_studio_shopify_requests_total", outcome="throttled") == 1
    assert moved("pose_studio_shopify_query_cost_points_total") > 0
    assert moved("pose_studio_writeback_retries_total", reason="media_image_processing_failure") == 1
