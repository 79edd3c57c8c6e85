"""Review through the API: approve with a carousel position and a variant (validated, stored, used by publish), the
job's stored source photo, and the pose-set / product routes the review and editor pages read."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.output import Output
from plugin.storage import get_storage
from tests.plugin.jobs.conftest import person_png
from tests.plugin.jobs.test_api import auth

POSES = ("front-relaxed", "weight-shift", "hand-on-hip")


def blazer(shop: Any) -> Any:
    return next(p for p in shop.emu.products.values() if p.title == "Linen Blazer")


@pytest.fixture
def review_job(app: Any, shop: Any) -> dict[str, Any]:
    """A job of the Linen Blazer awaiting review: three outputs (stored images) and its stored source photo."""
    product = blazer(shop)
    with app.app_context():
        storage = get_storage()
        source_key = f"{shop.domain}/sources/{'a' * 64}.png"
        storage.put(source_key, person_png(colour=(10, 120, 10)), "image/png")
        job = Job(shop_id=shop.id, product_id=product.gid, product_title=product.title, pose_set_id="catalog-basics",
                  pose_set_version="1", pose_set={"poses": [{"id": p} for p in POSES]}, request_key="r" * 64,
                  source_key=source_key, state=JobState.AWAITING_REVIEW)  # fmt: skip
        db.session.add(job)
        db.session.flush()
        outputs = []
        for i, pose in enumerate(POSES):
            key = f"{shop.domain}/jobs/{job.id}/{pose}-0.png"
            storage.put(key, person_png(colour=(40 * i, 40, 200)), "image/png")
            out = Output(shop_id=shop.id, job_id=job.id, pose_id=pose, pose_name=pose.replace("-", " ").title(),
                         position=i, storage_key=key, passed=True, reasons=[])  # fmt: skip
            db.session.add(out)
            outputs.append(out)
        db.session.commit()
        return {"job": job.id, "outputs": [o.id for o in outputs], "product": product,
                "variants": [v.gid for v in product.variants]}  # fmt: skip


def positions(app: Any, job_id: int) -> list[str]:
    with app.app_context():
        rows = db.session.query(Output).filter_by(job_id=job_id).order_by(Output.position).all()
        return [o.pose_id for o in rows]


def test_approve_places_the_image_and_renumbers_the_others(client: Any, app: Any, shop: Any, id_token: Any,
                                                           review_job: dict[str, Any]) -> None:  # fmt: skip
    h = auth(id_token, shop.domain)
    first, second, third = review_job["outputs"]
    r = client.post(f"/api/outputs/{third}/approve", headers=h, json={"position": 1})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["decision"] == "approved" and r.get_json()["carousel_position"] == 1
    assert positions(app, review_job["job"]) == ["hand-on-hip", "front-relaxed", "weight-shift"]
    r = client.post(f"/api/outputs/{first}/approve", headers=h, json={"position": 3})
    assert positions(app, review_job["job"]) == ["hand-on-hip", "weight-shift", "front-relaxed"]
    # the job's JSON reports the order as approve takes it
    job = client.get(f"/api/jobs/{review_job['job']}", headers=h).get_json()
    assert {o["pose_id"]: o["carousel_position"] for o in job["outputs"]} == {
        "hand-on-hip": 1, "weight-shift": 2, "front-relaxed": 3}
    # no body, or an empty one, approves without moving anything
    assert client.post(f"/api/outputs/{second}/approve", headers=h).status_code == 200
    assert positions(app, review_job["job"]) == ["hand-on-hip", "weight-shift", "front-relaxed"]


@pytest.mark.parametrize(("body", "code"), [
    ({"position": 0}, "invalid_position"),
    ({"position": 4}, "invalid_position"),  # the job has 3 images
    ({"position": True}, "invalid_position"),
    ({"position": "1"}, "invalid_position"),
    ({"variant_id": "gid://shopify/Product/1"}, "invalid_variant"),
    ({"variant_id": {"id": 1}}, "invalid_variant"),
])  # fmt: skip
def test_approve_refuses_bad_options_and_changes_nothing(client: Any, app: Any, shop: Any, id_token: Any,
                                                         review_job: dict[str, Any], body: dict[str, Any],
                                                         code: str) -> None:  # fmt: skip
    out = review_job["outputs"][2]
    r = client.post(f"/api/outputs/{out}/approve", headers=auth(id_token, shop.domain), json=body)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == code, r.get_json()
    assert r.get_json()["error"]["message"]
    with app.app_context():
        row = db.session.get(Output, out)
        assert row.decision.value == "pending" and row.position == 2


def test_approve_variant_must_belong_to_the_product(client: Any, app: Any, shop: Any, id_token: Any,
                                                    review_job: dict[str, Any]) -> None:  # fmt: skip
    h = auth(id_token, shop.domain)
    first, second, _ = review_job["outputs"]
    medium = review_job["variants"][1]
    other_product = next(p for p in shop.emu.products.values() if p.title == "Wedding Suit")
    r = client.post(f"/api/outputs/{first}/approve", headers=h,
                    json={"variant_id": other_product.variants[0].gid})  # fmt: skip
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "unknown_variant"
    assert "Linen Blazer" in r.get_json()["error"]["message"]
    # a variant of the job's product, numeric id accepted
    r = client.post(f"/api/outputs/{first}/approve", headers=h, json={"variant_id": int(medium.rsplit("/", 1)[1])})
    assert r.status_code == 200 and r.get_json()["variant_id"] == medium
    # one image per variant (Shopify's rule): the second output takes the variant from the first
    r = client.post(f"/api/outputs/{second}/approve", headers=h, json={"variant_id": medium, "position": 1})
    assert r.status_code == 200 and r.get_json()["variant_id"] == medium
    with app.app_context():
        assert db.session.get(Output, first).variant_id is None
    # null: shown for every variant
    r = client.post(f"/api/outputs/{second}/approve", headers=h, json={"variant_id": None})
    assert r.get_json()["variant_id"] is None


def test_publish_follows_the_chosen_positions(client: Any, app: Any, shop: Any, id_token: Any,
                                              review_job: dict[str, Any]) -> None:  # fmt: skip
    """publish (services.publish) orders the approved images by the stored position, after the merchant's photo."""
    from plugin.services.publish import run_publish

    h = auth(id_token, shop.domain)
    first, second, third = review_job["outputs"]
    client.post(f"/api/outputs/{first}/approve", headers=h, json={"position": 3})
    client.post(f"/api/outputs/{second}/approve", headers=h, json={"position": 1})
    client.post(f"/api/outputs/{third}/approve", headers=h, json={"position": 2})
    assert client.post(f"/api/jobs/{review_job['job']}/publish", headers=h).status_code == 202
    with app.app_context():
        run_publish(review_job["job"])
        assert db.session.get(Job, review_job["job"]).state == JobState.PUBLISHED
    gallery = [m.filename for m in shop.emu.gallery(review_job["product"])]
    ours = [name for name in gallery if name.startswith("pose-studio-")]
    assert not gallery[0].startswith("pose-studio-")  # the merchant's photo leads
    assert [n.split("-", 3)[3].rsplit("-", 1)[0] for n in ours] == ["weight-shift", "hand-on-hip", "front-relaxed"]


def test_job_source_photo_is_served_to_its_shop_only(client: Any, make_shop: Any, shop: Any, id_token: Any,
                                                     review_job: dict[str, Any]) -> None:  # fmt: skip
    h = auth(id_token, shop.domain)
    job = client.get(f"/api/jobs/{review_job['job']}", headers=h).get_json()
    assert job["source_url"] == f"/api/jobs/{review_job['job']}/source-image"
    listed = client.get("/api/jobs", headers=h).get_json()["jobs"][0]
    assert listed["source_url"] == job["source_url"]
    image = client.get(job["source_url"], headers=h)
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n" and image.headers["Cache-Control"].startswith("private")
    other = make_shop()
    assert client.get(job["source_url"], headers=auth(id_token, other.domain)).status_code == 404


def test_job_without_a_downloaded_source_has_no_source_url(client: Any, app: Any, shop: Any, id_token: Any) -> None:
    with app.app_context():
        job = Job(shop_id=shop.id, product_id="gid://shopify/Product/5", pose_set_id="catalog-basics",
                  pose_set_version="1", pose_set={"poses": []}, request_key="q" * 64, state=JobState.QUEUED)
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    h = auth(id_token, shop.domain)
    assert client.get(f"/api/jobs/{job_id}", headers=h).get_json()["source_url"] is None
    r = client.get(f"/api/jobs/{job_id}/source-image", headers=h)
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "source_not_fetched"


def test_pose_set_poses_and_product_source_skeleton_routes(client: Any, shop: Any, id_token: Any) -> None:
    h = auth(id_token, shop.domain)
    r = client.get("/api/pose-sets/catalog-basics/poses", headers=h)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "private, max-age=60"
    poses = r.get_json()["poses"]
    assert poses and all(len(p["skeleton"]["landmarks"]) == 33 for p in poses)
    missing = client.get("/api/pose-sets/no-such-set/poses", headers=h)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "unknown_pose_set"
    product = blazer(shop)
    r = client.get(f"/api/products/{product.num}/source-skeleton", headers=h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["title"] == "Linen Blazer" and body["photo"]["url"] and body["skeleton"] is None
    assert [v["has_own_image"] for v in body["variants"]] == [True, True, False]
    gone = client.get("/api/products/1/source-skeleton", headers=h)
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "unknown_product"
    assert client.get(f"/api/products/{product.num}/source-skeleton").status_code == 401
