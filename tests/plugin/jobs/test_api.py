"""The JSON API: tenant isolation on every route, error shape, the on-demand request, limits, review actions."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.extensions import db
from plugin.models.bulk import BulkRun, BulkState
from plugin.models.job import Job, JobState
from plugin.models.output import Output
from tests.plugin.jobs.conftest import queued_tasks


def auth(id_token: Any, domain: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {id_token(domain)}"}


@pytest.fixture
def b_rows(app: Any, make_shop: Any) -> dict[str, int]:
    """Shop B's job, output and bulk, made directly in the database."""
    b = make_shop()
    with app.app_context():
        bulk = BulkRun(shop_id=b.id, state=BulkState.RUNNING, pose_set_id="catalog-basics", selected=[], options={})
        db.session.add(bulk)
        db.session.flush()
        job = Job(shop_id=b.id, product_id="gid://shopify/Product/9", pose_set_id="catalog-basics",
                  pose_set_version="1", pose_set={"poses": []}, request_key="b" * 64, bulk_id=bulk.id,
                  state=JobState.AWAITING_REVIEW)  # fmt: skip
        db.session.add(job)
        db.session.flush()
        out = Output(shop_id=b.id, job_id=job.id, pose_id="front-relaxed", storage_key="x/jobs/1/front-relaxed-0.png")
        db.session.add(out)
        db.session.commit()
        return {"job": job.id, "output": out.id, "bulk": bulk.id}


ROUTES = [
    ("get", "/api/jobs/{job}"),
    ("post", "/api/jobs/{job}/cancel"),
    ("post", "/api/jobs/{job}/publish"),
    ("post", "/api/outputs/{output}/approve"),
    ("post", "/api/outputs/{output}/reject"),
    ("post", "/api/outputs/{output}/regenerate"),
    ("get", "/api/outputs/{output}/image"),
    ("get", "/api/bulk/{bulk}"),
    ("post", "/api/bulk/{bulk}/cancel"),
]


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_another_shops_ids_answer_404(client: Any, make_shop: Any, id_token: Any, b_rows: dict[str, int],
                                      method: str, route: str) -> None:  # fmt: skip
    a = make_shop()
    response = getattr(client, method)(route.format(**b_rows), headers=auth(id_token, a.domain), json={})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    # and the row is untouched
    with client.application.app_context():
        assert db.session.get(Job, b_rows["job"]).state == JobState.AWAITING_REVIEW


def test_lists_only_show_the_callers_rows(client: Any, make_shop: Any, id_token: Any, b_rows: dict[str, int]) -> None:
    a = make_shop()
    assert client.get("/api/jobs", headers=auth(id_token, a.domain)).get_json() == {"jobs": []}


@pytest.mark.parametrize("route", ["/api/jobs", "/api/settings", "/api/pose-sets", "/api/jobs/1"])
def test_every_route_needs_a_session_token(client: Any, route: str) -> None:
    assert client.get(route).status_code == 401


def test_settings_round_trip_and_validation(client: Any, make_shop: Any, id_token: Any) -> None:
    a = make_shop()
    h = auth(id_token, a.domain)
    assert client.get("/api/settings", headers=h).get_json()["automation"] == "off"
    r = client.put("/api/settings", headers=h, json={"automation": "new_and_changed", "mode": "auto",
                                                     "filters": {"tags": ["summer"]}, "daily_limit": 2})  # fmt: skip
    assert r.status_code == 200 and r.get_json()["filters"]["tags"] == ["summer"]
    bad = client.put("/api/settings", headers=h, json={"automation": "sometimes"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_settings"
    assert "must be one of" in bad.get_json()["error"]["message"]


def test_on_demand_jobs_are_idempotent_and_limited(client: Any, shop: Any, id_token: Any, redis_url: str) -> None:
    h = auth(id_token, shop.domain)
    products = [p.gid for p in list(shop.emu.products.values())[:2]]
    client.put("/api/settings", headers=h, json={"daily_limit": 2})
    first = client.post("/api/jobs", headers=h, json={"product_ids": products, "pose_set": "catalog-basics"})
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["created"] == 2 and [j["state"] for j in body["jobs"]] == ["queued", "queued"]
    again = client.post("/api/jobs", headers=h, json={"product_ids": products, "pose_set": "catalog-basics"})
    assert again.status_code == 200 and [j["id"] for j in again.get_json()["jobs"]] == [j["id"] for j in body["jobs"]]
    # a third product exceeds the daily limit of 2: 429 with the documented code, nothing created
    third = list(shop.emu.products.values())[2].gid
    over = client.post("/api/jobs", headers=h, json={"product_ids": [third], "pose_set": "catalog-basics"})
    assert over.status_code == 429 and over.get_json()["error"]["code"] == "daily_limit_reached"
    assert len(client.get("/api/jobs", headers=h).get_json()["jobs"]) == 2
    assert any(t["name"].endswith(".dispatch") for t in queued_tasks(redis_url))


@pytest.mark.parametrize(("payload", "code"), [
    ({}, "invalid_request"),
    ({"product_ids": "gid://shopify/Product/1"}, "invalid_request"),
    ({"product_ids": ["gid://shopify/Order/1"]}, "invalid_request"),
    ({"product_ids": ["gid://shopify/Product/1"], "pose_set": "nope"}, "unknown_pose_set"),
    ({"product_ids": ["gid://shopify/Product/1"], "pose_set": "catalog-basics", "poses": ["moonwalk"]}, "unknown_pose"),
    ({"product_ids": ["gid://shopify/Product/1"], "pose_set": "catalog-basics", "mode": "yolo"}, "invalid_mode"),
])  # fmt: skip
def test_bad_job_requests(client: Any, make_shop: Any, id_token: Any, payload: dict[str, Any], code: str) -> None:
    a = make_shop()
    r = client.post("/api/jobs", headers=auth(id_token, a.domain), json=payload)
    assert r.status_code in (400, 404) and r.get_json()["error"]["code"] == code


def test_custom_pose_set_from_library_poses(client: Any, make_shop: Any, id_token: Any) -> None:
    a = make_shop()
    h = auth(id_token, a.domain)
    r = client.post("/api/pose-sets", headers=h, json={"name": "My set", "poses": ["catalog-basics/front-relaxed",
                                                                                  "catalog-basics/weight-shift"]})
    assert r.status_code == 201 and r.get_json()["id"] == "custom-my-set" and r.get_json()["version"] == 1
    ids = [s["id"] for s in client.get("/api/pose-sets", headers=h).get_json()["pose_sets"]]
    assert "custom-my-set" in ids and "catalog-basics" in ids
    again = client.post("/api/pose-sets", headers=h, json={"name": "My set", "poses": ["catalog-basics/front-relaxed"]})
    assert again.get_json()["version"] == 2  # a new version: part of the idempotency key
    other = make_shop()
    others = client.get("/api/pose-sets", headers=auth(id_token, other.domain)).get_json()["pose_sets"]
    assert "custom-my-set" not in [s["id"] for s in others]
