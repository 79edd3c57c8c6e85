"""Home's overview, settings' output format, the auth decorators' error shape, and the products list's variants."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import redis

from plugin.extensions import db, utcnow
from plugin.models.job import Job, JobState
from plugin.models.output import Output
from plugin.services import overview
from tests.plugin.jobs.test_api import auth


def add_job(shop_id: int, state: JobState, n: int) -> Job:
    job = Job(shop_id=shop_id, product_id=f"gid://shopify/Product/{n}", pose_set_id="catalog-basics",
              pose_set_version="1", pose_set={"poses": []}, request_key=f"{n:064d}", state=state)  # fmt: skip
    db.session.add(job)
    db.session.flush()
    return job


def test_overview_counts_usage_and_workers(client: Any, app: Any, make_shop: Any, id_token: Any,
                                           redis_url: str) -> None:  # fmt: skip
    a, b = make_shop(), make_shop()
    with app.app_context():
        for n, state in enumerate([JobState.QUEUED, JobState.GENERATING, JobState.AWAITING_REVIEW,
                                   JobState.PUBLISHED, JobState.PUBLISHED, JobState.FAILED]):  # fmt: skip
            job = add_job(a.id, state, n)
        recent = utcnow() - timedelta(days=2)
        for i, when in enumerate([recent, recent, utcnow() - timedelta(days=9), None]):
            db.session.add(Output(shop_id=a.id, job_id=job.id, pose_id=f"p{i}", storage_key="k", published_at=when))
        add_job(b.id, JobState.PUBLISHED, 99)  # another shop's job is not counted
        db.session.commit()
    h = auth(id_token, a.domain)
    client.put("/api/settings", headers=h, json={"daily_limit": 40})
    broker = redis.Redis.from_url(redis_url)
    broker.lpush("gpu", b"{}", b"{}")  # two messages waiting for a GPU worker
    broker.lpush("shopify\x06\x163", b"{}")  # one on a priority step of the shopify queue

    started = time.monotonic()
    r = client.get("/api/overview", headers=h)
    first_s = time.monotonic() - started
    assert r.status_code == 200, r.get_json()
    o = r.get_json()
    assert o["jobs_by_state"]["published"] == 2 and o["jobs_by_state"]["queued"] == 1
    assert o["jobs_by_state"]["cancelled"] == 0 and o["total_jobs"] == 6
    assert o["published_this_week"] == 2
    assert o["usage"] == {"used": 0, "limit": 40, "remaining": 40, "day": o["usage"]["day"]}
    # no worker runs in this test: Celery's broadcast gets no answer within its short timeout
    workers = o["workers"]
    assert workers["online"] is False and workers["status"] == "no_workers" and workers["workers"] == 0
    assert workers["queues"] == {"gpu": {"workers": 0, "length": 2}, "shopify": {"workers": 0, "length": 1}}
    assert first_s < 3
    # polled: the worker check is cached for every shop, so the next calls are cheap
    started = time.monotonic()
    for _ in range(5):
        again = client.get("/api/overview", headers=auth(id_token, b.domain)).get_json()
    assert (time.monotonic() - started) / 5 < overview.WORKER_TIMEOUT_S
    assert again["workers"]["checked_at"] == workers["checked_at"] and again["total_jobs"] == 1
    assert client.get("/api/overview").status_code == 401
    broker.delete(overview.CACHE_KEY, "gpu", "shopify\x06\x163")  # leave no cached answer to later tests


def test_settings_output_format(client: Any, make_shop: Any, id_token: Any) -> None:
    h = auth(id_token, make_shop().domain)
    got = client.get("/api/settings", headers=h).get_json()
    assert got["output_format"] == "png" and got["max_size"] == 1024
    r = client.put("/api/settings", headers=h, json={"output_format": "webp", "max_size": 2048})
    assert r.status_code == 200 and r.get_json()["output_format"] == "webp"
    assert client.get("/api/settings", headers=h).get_json()["output_format"] == "webp"
    for bad in ("gif", "PNG", None, 3):
        r = client.put("/api/settings", headers=h, json={"output_format": bad})
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_settings"
        assert "png, jpeg, webp" in r.get_json()["error"]["message"]
    assert client.get("/api/settings", headers=h).get_json()["output_format"] == "webp"


def test_session_errors_have_the_api_error_shape(client: Any, id_token: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        r = client.get("/api/jobs", headers=headers)
        assert r.status_code == 401
        assert r.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
        error = r.get_json()["error"]
        assert set(error) == {"code", "message"} and error["code"] and "reload" in error["message"]
    # a shop Shopify does not confirm (token exchange refused)
    r = client.get("/api/jobs", headers={"Authorization": f"Bearer {id_token('stranger.myshopify.com')}"})
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "shop_not_installed"


def test_products_say_which_variants_have_their_own_photo(client: Any, shop: Any, id_token: Any) -> None:
    emu = shop.emu
    suit = next(p for p in emu.products.values() if p.title == "Wedding Suit")
    blazer = next(p for p in emu.products.values() if p.title == "Linen Blazer")
    # the blazer's Medium variant shows an image Pose Studio generated: that is not a photo of its own
    medium_media = blazer.variants[1].media_ids[0]
    emu.media[medium_media] = replace(emu.media[medium_media], filename="pose-studio-7-front-relaxed-0.png")
    r = client.get("/api/products", headers=auth(id_token, shop.domain))
    assert r.status_code == 200, r.get_json()
    products = {p["id"]: p for p in r.get_json()["products"]}
    navy, black = products[suit.gid]["variants"]
    assert navy["has_own_image"] is True
    assert f"/files/{emu.media[suit.variants[0].media_ids[0]].filename}?" in navy["image_url"]
    assert black == {"id": suit.variants[1].gid, "title": "Black", "has_own_image": False, "image_url": None}
    small, medium, large = products[blazer.gid]["variants"]
    assert small["has_own_image"] and "/files/" in small["image_url"]
    assert medium["has_own_image"] is False and medium["image_url"] is None
    assert large["has_own_image"] is False
