"""The whole pipeline, end to end: webhook or API → job → GPU worker (warp, 256 px) → outputs → Shopify media.

Real PostgreSQL, real Redis, real Celery workers in their own processes, the Shopify emulator. Each test says what it
proves; the fairness test says what it does not.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import select

from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.output import Output
from shopify_emulator.store import product_rest_payload
from tests.e2e.conftest import CRASH_POSE_SET, Stack, review_and_publish, wait_deliveries_handled, wait_for

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
    # auto mode publishes only gate passes: the job waits for review; the merchant approves all and publishes
    done = review_and_publish(e2e, shop.domain, first.id)
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
    wait_deliveries_handled(e2e, emu_shop.domain, at_least=1 + len(echoes))  # the create and every echo
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
    review_and_publish(e2e, shop.domain, first.id)
    e2e.emulator.wait_for_webhooks(10)  # our media writes' products/update echoes, then every delivery handled
    echoes = [d for d in e2e.emulator.deliveries if d["topic"] == "products/update" and d["shop"] == emu_shop.domain]
    wait_deliveries_handled(e2e, emu_shop.domain, at_least=2 + len(echoes))  # 2 distinct event ids + echoes
    assert len(jobs_of(e2e, shop.id)) == 1
    assert len(our_gallery(emu_shop, product)) == 5


def test_changed_source_image_regenerates_and_replaces(e2e: Stack, e2e_shop: Any) -> None:
    """A products/update whose source image changed starts one new job; its media replace the previous ones."""
    from shopify_emulator.catalog import _media

    shop, emu_shop = e2e_shop()
    product = new_product(e2e, emu_shop)
    send_create(e2e, emu_shop, product)
    first = wait_for(lambda: jobs_of(e2e, shop.id), 30, "a job", e2e)[0]
    review_and_publish(e2e, shop.domain, first.id)
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
    # auto mode publishes the outputs that passed the check; the others wait for review, and the job says so:
    # `published` only when none waits, else `awaiting_review` with the published ones marked (docs/JOBS.md)
    done = wait_for(lambda: (j := job(e2e, second.id)).state in {JobState.PUBLISHED, JobState.AWAITING_REVIEW}
                    and j.progress == 100 and j, 90, "the second job to publish", e2e)  # fmt: skip
    outs = outputs_of(e2e, second.id)
    waiting = [o for o in outs if o.decision.value == "pending"]
    assert done.state == (JobState.AWAITING_REVIEW if waiting else JobState.PUBLISHED), (done.state, done.stage)
    assert all(not o.passed for o in waiting)
    if waiting:  # the merchant approves the ones waiting and publishes them
        review_and_publish(e2e, shop.domain, second.id)
        outs = outputs_of(e2e, second.id)
    ours = our_gallery(emu_shop, product)
    published = [o.shopify_media_id for o in outs if o.shopify_media_id]
    assert published
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
        done = review_and_publish(e2e, shop.domain, first.id, timeout=120)
        assert done.attempts == 2
        assert len(our_gallery(emu_shop, product)) == 5
        assert len({m.filename for m in our_gallery(emu_shop, product)}) == 5
    finally:
        gpu.env.pop("POSE_STUDIO_TEST_SLOW_SECONDS", None)
        gpu.restart()


def test_a_job_that_kills_its_worker_every_time_fails_after_max_attempts(e2e: Stack, e2e_shop: Any) -> None:
    """The test hook makes the engine os._exit() for the 'crash-test' pose set, in the worker process only."""
    from gpu_worker.contract import MAX_ATTEMPTS
    from gpu_worker.pose.library import load_pose_set
    from plugin.models.custom_pose_set import CustomPoseSet
    from plugin.services.pose_sets import set_document

    shop, emu_shop = e2e_shop()
    doc = {**set_document(load_pose_set("catalog-basics")), "id": CRASH_POSE_SET, "name": "Crash test"}
    with e2e.app.app_context():
        db.session.add(CustomPoseSet(shop_id=shop.id, set_id=CRASH_POSE_SET, name="Crash", version=1, document=doc))
        db.session.commit()
    with e2e.app.app_context():  # the shop's automation uses it
        from plugin.models.shop_settings import ShopSettings

        db.session.get(ShopSettings, shop.id).default_pose_set = CRASH_POSE_SET
        db.session.commit()
    product = new_product(e2e, emu_shop)
    send_create(e2e, emu_shop, product)
    first = wait_for(lambda: jobs_of(e2e, shop.id), 30, "a job", e2e)[0]
    done = wait_state(e2e, first.id, {JobState.FAILED, JobState.PUBLISHED}, timeout=120)
    assert done.state == JobState.FAILED
    assert done.error_code == "too_many_attempts" and "stopped its worker" in done.error_message
    assert done.attempts == MAX_ATTEMPTS
    assert our_gallery(emu_shop, product) == []


# --- bulk, fairness, broker loss, shop lifecycle ------------------------------------------------------------------
def _bulk_for(stack: Stack, shop: Any, emu_products: list[Any], *, poses: list[str], mode: str = "review") -> int:
    """A bulk run over emulator products, made through the bulk service (what POST /api/bulk's task does after it
    has read the products from the Admin API)."""
    from plugin.models.bulk import BulkRun, BulkState
    from plugin.models.shop import Shop
    from plugin.services import bulk
    from plugin.services.products import ProductImage, ProductInfo

    with stack.app.app_context():
        row = db.session.get(Shop, shop.id)
        run = BulkRun(shop_id=row.id, state=BulkState.LISTING, scope="selection",
                      selected=[p.gid for p in emu_products],
                      pose_set_id="catalog-basics", options={"mode": mode, "poses": poses})  # fmt: skip
        db.session.add(run)
        db.session.commit()
        emu_shop = stack.emulator.shop(row.domain)
        infos = []
        for p in emu_products:
            m = emu_shop.gallery(p.gid)[0]
            url = f"{stack.emulator.origin}/cdn/shop/{emu_shop.num}/files/{m.filename}?v={int(m.created_at)}"
            infos.append(ProductInfo(id=p.gid, title=p.title, images=[ProductImage(m.gid, url, m.alt, 1)]))
        bulk.create_bulk_jobs(row, run, infos)
        return run.id


def test_one_shops_bulk_does_not_starve_another_shops_single_job(e2e: Stack, e2e_shop: Any) -> None:
    """Shop A queues a bulk of 200 products; then shop B asks for one. B's job is done while A's bulk has most of
    its jobs still queued (at most K=4 of A's are released at a time). Then A's bulk is cancelled: its queued jobs
    are cancelled, the finished ones are kept.

    What it proves: the dispatcher's per-shop quota bounds what A puts ahead of B in the real gpu queue with a real
    worker. What it does not: throughput with several GPU workers, or fairness between many busy shops (one round of
    the same quota logic, covered by tests/plugin/jobs/test_services.py)."""
    a, emu_a = e2e_shop(mode="review")
    b, emu_b = e2e_shop(mode="review")
    a_products = e2e.emulator.add_products(emu_a.domain, 200)
    bulk_id = _bulk_for(e2e, a, a_products, poses=["front-relaxed"])
    wait_for(lambda: any(j.state == JobState.AWAITING_REVIEW for j in jobs_of(e2e, a.id)), 60, "A's first job", e2e)
    _bulk_for(e2e, b, e2e.emulator.add_products(emu_b.domain, 1), poses=["front-relaxed"])
    b_first = wait_for(lambda: jobs_of(e2e, b.id), 10, "B's job", e2e)[0]
    wait_state(e2e, b_first.id, {JobState.AWAITING_REVIEW}, timeout=60)
    a_jobs = jobs_of(e2e, a.id)
    a_queued = sum(1 for j in a_jobs if j.state == JobState.QUEUED)
    a_done_before_b = sum(1 for j in a_jobs if j.state == JobState.AWAITING_REVIEW)
    assert a_queued > 150, f"B finished after {a_done_before_b} of A's jobs; {a_queued} still queued"
    # cancel A's bulk through the API
    with e2e.app.test_client() as client:
        token = e2e.emulator.make_id_token(a.domain)
        response = client.post(f"/api/bulk/{bulk_id}/cancel", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["state"] == "cancelled" and response.get_json()["cancelled"] > 150
    in_flight = (JobState.QUEUED, JobState.FETCHING, JobState.GENERATING, JobState.CHECKING, JobState.PUBLISHING)

    def none_in_flight() -> list[Job] | None:
        rows = jobs_of(e2e, a.id)
        return None if any(j.state in in_flight for j in rows) else rows

    after = wait_for(none_in_flight, 30, "the at most K jobs in flight to finish", e2e)
    assert not any(j.state in (JobState.QUEUED, JobState.FETCHING, JobState.GENERATING) for j in after)
    finished = [j for j in after if j.state == JobState.AWAITING_REVIEW]
    assert len(finished) >= a_done_before_b and all(len(outputs_of(e2e, j.id)) == 1 for j in finished)


def test_shop_redact_leaves_nothing_of_the_shop(e2e: Stack, e2e_shop: Any) -> None:
    from sqlalchemy import text

    from plugin.extensions import Base

    shop, emu_shop = e2e_shop()
    product = new_product(e2e, emu_shop)
    send_create(e2e, emu_shop, product)
    first = wait_for(lambda: jobs_of(e2e, shop.id), 30, "a job", e2e)[0]
    review_and_publish(e2e, shop.domain, first.id)
    prefix = e2e.storage_dir / shop.domain
    assert any(prefix.rglob("*.png"))
    # Shopify sends shop/redact 48 h after an uninstall (one for an installed shop is refused)
    response = e2e.emulator.send_webhook("app/uninstalled", shop.domain, {"id": 1, "domain": shop.domain})
    assert response.status_code == 200
    response = e2e.emulator.send_webhook("shop/redact", shop.domain, {"shop_id": 1, "shop_domain": shop.domain})
    assert (response.status_code, response.json()["status"]) == (200, "accepted")

    def erased() -> bool:
        try:
            return not prefix.exists() or not any(p.is_file() for p in prefix.rglob("*"))
        except FileNotFoundError:  # walked into a directory that the erasure removed meanwhile: look again
            return False

    wait_for(erased, 30, "the shop's storage to be erased", e2e)
    with e2e.app.app_context():
        for table in Base.metadata.sorted_tables:
            if "shop_id" in table.c:
                n = db.session.execute(text(f'SELECT count(*) FROM "{table.name}" WHERE shop_id = :s'),
                                       {"s": shop.id}).scalar()  # fmt: skip
                assert n == 0, table.name
        left = db.session.execute(text("SELECT count(*) FROM shops WHERE domain = :d"), {"d": shop.domain})
        assert left.scalar() == 0


def test_uninstall_cancels_queued_work(e2e: Stack, e2e_shop: Any) -> None:
    shop, emu_shop = e2e_shop(mode="review")
    _bulk_for(e2e, shop, e2e.emulator.add_products(emu_shop.domain, 30), poses=["front-relaxed"])
    response = e2e.emulator.send_webhook("app/uninstalled", shop.domain, {"id": 1, "domain": shop.domain})
    assert response.status_code == 200
    wait_for(lambda: not any(j.state in (JobState.QUEUED, JobState.FETCHING, JobState.GENERATING)
                             for j in jobs_of(e2e, shop.id)), 30, "queued work to be cancelled", e2e)  # fmt: skip
    states = [j.state for j in jobs_of(e2e, shop.id)]
    assert states.count(JobState.CANCELLED) >= 20


def test_redis_restarted_during_a_bulk_loses_no_job(e2e: Stack, e2e_shop: Any, tmp_path: Any) -> None:
    """A throwaway Redis (no persistence: the worst case, every queued message is lost) is killed and restarted
    while a bulk runs. The job rows are the truth: the periodic reconcile (celery beat every 60 s in production; run
    here by the test every 2 s) re-sends what was lost, and every job finishes exactly once."""
    import socket

    from plugin import create_app
    from plugin.services import dispatch
    from tests.e2e.conftest import make_workers

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis_argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--dir", str(tmp_path)]  # fmt: skip
    server = subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    wait_for(lambda: _ping(url), 10, "the throwaway redis")
    env = {**e2e.env, "REDIS_URL": url, "CELERY_BROKER_URL": url, "POSE_STUDIO_RECONCILE_AFTER_SECONDS": "8"}
    workers = make_workers(env, tmp_path)
    config = {**{k: v for k, v in e2e.app.config.items() if k.isupper()}, "REDIS_URL": url,
              "POSE_STUDIO_RECONCILE_AFTER_SECONDS": 8}  # fmt: skip
    config.pop("SQLALCHEMY_DATABASE_URI", None)
    app2 = create_app(config)
    try:
        for w in workers.values():
            w.start()
        for w in workers.values():
            w.wait_ready()
        shop, emu_shop = e2e_shop(mode="review")
        stack2 = Stack(app2, "", e2e.emulator, env, e2e.storage_dir, workers, url, tmp_path)
        _bulk_for(stack2, shop, e2e.emulator.add_products(emu_shop.domain, 12), poses=["front-relaxed"])
        wait_for(lambda: sum(j.state == JobState.AWAITING_REVIEW for j in jobs_of(e2e, shop.id)) >= 2, 60,
                 "the bulk to be under way", stack2)  # fmt: skip
        before = [j.state for j in jobs_of(e2e, shop.id)]
        server.kill()
        server.wait(timeout=10)
        time.sleep(1)
        server = subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)  # fmt: skip
        wait_for(lambda: _ping(url), 10, "redis back")

        def all_done() -> bool:
            # the process supervisor's job (systemd Restart=always, a Kubernetes restart): kombu 5.7 can end a
            # worker with "Unrecoverable error: AttributeError('NoneType' … 'hostname')" while restoring
            # unacked messages on a lost Redis connection (cf. kombu#970, celery#10205)
            for w in workers.values():
                if w.proc is not None and w.proc.poll() is not None:
                    restarted.append(w.name)
                    w.start()
            with app2.app_context():
                dispatch.reconcile()
            return all(j.state == JobState.AWAITING_REVIEW for j in jobs_of(e2e, shop.id))

        restarted: list[str] = []
        wait_for(all_done, 150, "every job to finish after the restart", stack2, interval=2)
        print(f"workers restarted by the supervisor after the Redis restart: {restarted or 'none'}")
        finished = jobs_of(e2e, shop.id)
        assert len(finished) == 12 and before.count(JobState.AWAITING_REVIEW) < 12
        assert all(len(outputs_of(e2e, j.id)) == 1 for j in finished)
        assert all(j.attempts <= 3 for j in finished)
    finally:
        for w in workers.values():
            w.stop()
        server.kill()
        server.wait(timeout=10)


def _ping(url: str) -> bool:
    try:
        return bool(redis_lib.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis_lib.RedisError:
        return False


def test_on_demand_review_approve_regenerate_publish_via_the_api(e2e: Stack, e2e_shop: Any) -> None:
    """POST /api/jobs (review mode) → awaiting_review → reject one, regenerate one (new seed), approve the rest →
    POST /api/jobs/<id>/publish → only the approved images are on the product, in pose order."""
    shop, emu_shop = e2e_shop(mode="review", automation="off")
    product = new_product(e2e, emu_shop)
    client = e2e.app.test_client()
    h = {"Authorization": f"Bearer {e2e.emulator.make_id_token(shop.domain)}"}
    r = client.post("/api/jobs", headers=h, json={"product_ids": [product.gid], "pose_set": "catalog-basics",
                                                  "poses": ["front-relaxed", "walking-stride", "weight-shift"]})
    assert r.status_code == 201, r.get_json()
    job_id = r.get_json()["jobs"][0]["id"]
    wait_state(e2e, job_id, {JobState.AWAITING_REVIEW})
    h = {"Authorization": f"Bearer {e2e.emulator.make_id_token(shop.domain)}"}
    outs = client.get(f"/api/jobs/{job_id}", headers=h).get_json()["outputs"]
    assert [o["pose_id"] for o in outs] == ["front-relaxed", "walking-stride", "weight-shift"]
    image = client.get(outs[0]["image_url"], headers=h)
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    assert client.post(f"/api/outputs/{outs[1]['id']}/reject", headers=h).status_code == 200
    regen = client.post(f"/api/outputs/{outs[2]['id']}/regenerate", headers=h)
    assert regen.status_code == 202 and regen.get_json()["regenerating"]
    wait_for(lambda: job(e2e, job_id).state == JobState.AWAITING_REVIEW
             and not outputs_of(e2e, job_id)[2].regenerating, 60, "the regeneration", e2e)  # fmt: skip
    again = outputs_of(e2e, job_id)[2]
    assert again.seed == outs[2]["seed"] + 1 and again.storage_key.endswith(f"weight-shift-{again.seed}.png")
    h = {"Authorization": f"Bearer {e2e.emulator.make_id_token(shop.domain)}"}
    for o in (outs[0], outs[2]):
        assert client.post(f"/api/outputs/{o['id']}/approve", headers=h).status_code == 200
    assert client.post(f"/api/jobs/{job_id}/publish", headers=h).status_code == 202
    wait_state(e2e, job_id, {JobState.PUBLISHED})
    published = [o for o in outputs_of(e2e, job_id) if o.shopify_media_id]
    assert [o.pose_id for o in published] == ["front-relaxed", "weight-shift"]
    assert [m.gid for m in our_gallery(emu_shop, product)] == [o.shopify_media_id for o in published]
    assert our_gallery(emu_shop, product)[1].filename.startswith(f"pose-studio-{job_id}-weight-shift-1")


def test_custom_pose_set_from_a_reference_photo(e2e: Stack, e2e_shop: Any) -> None:
    """The web side stores the photo; the GPU worker detects the pose (the web never imports mediapipe)."""
    shop, _ = e2e_shop()
    client = e2e.app.test_client()
    h = {"Authorization": f"Bearer {e2e.emulator.make_id_token(shop.domain)}"}
    photo = (e2e_root() / "gpu_worker/assets/samples/fitness_architetto_franc_01.png").read_bytes()
    r = client.post("/api/pose-sets", headers=h, data={"name": "Gym pose", "photo": (io.BytesIO(photo), "p.png")},
                    content_type="multipart/form-data")  # fmt: skip
    assert r.status_code == 202 and r.get_json()["status"] == "extracting"

    def ready() -> Any:
        token = e2e.emulator.make_id_token(shop.domain)
        sets = client.get("/api/pose-sets", headers={"Authorization": f"Bearer {token}"})
        found = [s for s in sets.get_json()["pose_sets"] if s["id"] == "custom-gym-pose"]
        return found and found[0]["poses"] and found[0]

    found = wait_for(ready, 60, "the pose to be read", e2e)
    assert [p["id"] for p in found["poses"]] == ["from-photo"]


def e2e_root() -> Any:
    from tests.e2e.conftest import ROOT

    return ROOT
