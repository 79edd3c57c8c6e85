"""The whole pipeline, end to end: webhook or API → job → GPU worker (warp, 256 px) → outputs → Shopify media.

Real PostgreSQL, real Redis, real Celery workers in their own processes, the Shopify emulator. Each test says what it
proves; the fairness test says what it does not.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import func, select

from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.output import Output
from tests.e2e.conftest import CRASH_POSE_SET, Stack, wait_for
from tests.shopify_emulator.store import product_rest_payload

pytestmark = pytest.mark.slow


# --- helpers ------------------------------------------------------------------------------------------------------
def jobs_of(stack: Stack, shop_id: int) -> list[Job]:
    with stack.app.app_context():
        rows = list(db.session.scalars(select(Job).where(Job.shop_id == shop_id).order_by(Job.id)))
        for r in rows:
            db.session.expunge(r)
        return rows


def job(stack: Stack, job_id: int) -> Job:
    with stack.app.app_context():
        row = db.session.get(Job, job_id)
        db.session.expunge(row)
        return row


def outputs_of(stack: Stack, job_id: int) -> list[Output]:
    with stack.app.app_context():
        rows = list(db.session.scalars(select(Output).where(Output.job_id == job_id).order_by(Output.position)))
        for r in rows:
            db.session.expunge(r)
        return rows


def new_product(stack: Stack, emu_shop: Any, **kw: Any) -> Any:
    return stack.emulator.add_products(emu_shop.domain, 1, **kw)[0]


def send_create(stack: Stack, emu_shop: Any, product: Any, event_id: str | None = None) -> None:
    payload = product_rest_payload(emu_shop, product, stack.emulator.origin)
    response = stack.emulator.send_webhook("products/create", emu_shop.domain, payload, event_id=event_id)
    assert response is not None and response.status_code == 200, response


def wait_state(stack: Stack, job_id: int, states: set[JobState], timeout: float = 90) -> Job:
    return wait_for(lambda: (j := job(stack, job_id)).state in states and j, timeout,
                    f"job {job_id} in {sorted(states)}", stack)  # fmt: skip


def our_gallery(emu_shop: Any, product: Any) -> list[Any]:
    return [m for m in emu_shop.gallery(product.gid) if m.filename.startswith("pose-studio-")]


# --- tests --------------------------------------------------------------------------------------------------------
def test_webhook_to_ready_media_in_order_with_alt_text_and_no_echo_loop(e2e: Stack, e2e_shop: Any) -> None:
    """products/create → one job → 5 outputs → READY media after the source image, in pose order, with alt text;
    the products/update webhooks our own media writes fire start nothing."""
    shop, emu_shop = e2e_shop()
    product = new_product(e2e, emu_shop)
    send_create(e2e, emu_shop, product)
    first = wait_for(lambda: jobs_of(e2e, shop.id), 30, "a job", e2e)[0]
    done = wait_state(e2e, first.id, {JobState.PUBLISHED, JobState.FAILED, JobState.AWAITING_REVIEW})
    assert done.state == JobState.PUBLISHED, (done.error_code, done.error_message, e2e.worker_logs())
    outs = outputs_of(e2e, done.id)
    assert [o.pose_id for o in outs] == ["front-relaxed", "hand-on-hip", "walking-stride", "hands-on-hips",
                                         "weight-shift"]  # fmt: skip
    gallery = emu_shop.gallery(product.gid)
    assert not gallery[0].filename.startswith("pose-studio-")  # the merchant's image stays first
    ours = gallery[1:]
    assert [m.gid for m in ours] == [o.shopify_media_id for o in outs]
    assert all(m.status().value == "READY" for m in ours)
    assert [m.alt for m in ours] == [f"{product.title} – {o.pose_name}" for o in outs]
    # our media writes fired products/update webhooks: they were received and started nothing
    e2e.emulator.wait_for_webhooks(10)
    echoes = [d for d in e2e.emulator.deliveries if d["topic"] == "products/update" and d["shop"] == emu_shop.domain]
    assert echoes and all(d["status"] == 200 for d in echoes)
    time.sleep(2)  # let the shopify worker process the echoes
    assert [j.id for j in jobs_of(e2e, shop.id)] == [done.id]
    assert job(e2e, done.id).attempts == 1


def test_the_same_webhook_three_times_makes_one_job(e2e: Stack, e2e_shop: Any) -> None:
    shop, emu_shop = e2e_shop()
    product = new_product(e2e, emu_shop)
    for _ in range(3):
        send_create(e2e, emu_shop, product, event_id="evt-same-1")
    # and the same product again under new event ids (Shopify's retries after a lost answer look like this too)
    for i in range(2):
        send_create(e2e, emu_shop, product, event_id=f"evt-other-{i}")
    first = wait_for(lambda: jobs_of(e2e, shop.id), 30, "a job", e2e)[0]
    wait_state(e2e, first.id, {JobState.PUBLISHED, JobState.FAILED})
    time.sleep(1.5)
    assert len(jobs_of(e2e, shop.id)) == 1
    assert len(our_gallery(emu_shop, product)) == 5


def test_changed_source_image_regenerates_and_replaces(e2e: Stack, e2e_shop: Any) -> None:
    """A products/update whose source image changed starts one new job; its media replace the previous ones."""
    from tests.shopify_emulator.catalog import _media

    shop, emu_shop = e2e_shop()
    product = new_product(e2e, emu_shop)
    send_create(e2e, emu_shop, product)
    first = wait_for(lambda: jobs_of(e2e, shop.id), 30, "a job", e2e)[0]
    wait_state(e2e, first.id, {JobState.PUBLISHED})
    # the merchant replaces the product photo
    with e2e.emulator.lock:
        old = product.media_ids[0]
        media = _media(emu_shop, "groom1_jarno_vasamaa_01.jpg", "new photo")
        media.product_ids.append(product.gid)
        product.media_ids[0] = media.gid
        emu_shop.media[old].product_ids.remove(product.gid)
        product.updated_at = time.time() + 1
    payload = product_rest_payload(emu_shop, product, e2e.emulator.origin)
    assert e2e.emulator.send_webhook("products/update", emu_shop.domain, payload).status_code == 200
    second = wait_for(lambda: [j for j in jobs_of(e2e, shop.id) if j.id != first.id], 30, "a second job", e2e)[0]
    wait_state(e2e, second.id, {JobState.PUBLISHED})
    ours = our_gallery(emu_shop, product)
    published = [o.shopify_media_id for o in outputs_of(e2e, second.id) if o.shopify_media_id]
    assert published  # auto mode publishes the outputs that passed the check; the others wait for review
    assert sorted(m.gid for m in ours) == sorted(published)  # the first job's images were replaced
    assert emu_shop.gallery(product.gid)[0].gid == media.gid


def test_sigkill_of_the_pool_child_mid_generation_finishes_exactly_once(e2e: Stack, e2e_shop: Any) -> None:
    """The GPU pool child is SIGKILLed while generating: the message is requeued (reject_on_worker_lost), the job
    finishes once, attempts = 2, and the product gets exactly one copy of each image."""
    gpu = e2e.workers["gpu"]
    gpu.env["POSE_STUDIO_TEST_SLOW_SECONDS"] = "4"  # a wide window to kill it in
    gpu.restart()
    try:
        shop, emu_shop = e2e_shop()
        product = new_product(e2e, emu_shop)
        send_create(e2e, emu_shop, product)
        first = wait_for(lambda: jobs_of(e2e, shop.id), 30, "a job", e2e)[0]
        wait_for(lambda: job(e2e, first.id).attempts >= 1, 60, "generation to start", e2e)
        children = gpu.children()
        assert children, gpu.tail()
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        done = wait_state(e2e, first.id, {JobState.PUBLISHED, JobState.FAILED}, timeout=120)
        assert done.state == JobState.PUBLISHED, (done.error_message, e2e.worker_logs())
        assert done.attempts == 2
        assert len(our_gallery(emu_shop, product)) == 5
        assert len({m.filename for m in our_gallery(emu_shop, product)}) == 5
    finally:
        gpu.env.pop("POSE_STUDIO_TEST_SLOW_SECONDS", None)
        gpu.restart()


def test_a_job_that_kills_its_worker_every_time_fails_after_max_attempts(e2e: Stack, e2e_shop: Any) -> None:
    """The test hook makes the engine os._exit() for the 'crash-test' pose set, in the worker process only."""
    from gpu_worker.contract import MAX_ATTEMPTS
    from plugin.models.custom_pose_set import CustomPoseSet
    from plugin.services.pose_sets import set_document
    from gpu_worker.pose.library import load_pose_set

    shop, emu_shop = e2e_shop()
    doc = {**set_document(load_pose_set("catalog-basics")), "id": CRASH_POSE_SET, "name": "Crash test"}
    with e2e.app.app_context():
        db.session.add(CustomPoseSet(shop_id=shop.id, set_id=CRASH_POSE_SET, name="Crash", version=1, document=doc))
        db.session.commit()
    # custom sets are named custom-*; this one is resolved through the row above by id for the test
    from plugin.services import settings as settings_service

    with e2e.app.app_context():
        from plugin.models.shop_settings import ShopSettings

        db.session.get(ShopSettings, shop.id).default_pose_set = CRASH_POSE_SET
        db.session.commit()
    del settings_service
    product = new_product(e2e, emu_shop)
    send_create(e2e, emu_shop, product)
    first = wait_for(lambda: jobs_of(e2e, shop.id), 30, "a job", e2e)[0]
    done = wait_state(e2e, first.id, {JobState.FAILED, JobState.PUBLISHED}, timeout=120)
    assert done.state == JobState.FAILED
    assert done.error_code == "too_many_attempts" and "stopped its worker" in done.error_message
    assert done.attempts == MAX_ATTEMPTS
    assert our_gallery(emu_shop, product) == []
