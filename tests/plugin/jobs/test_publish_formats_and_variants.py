"""Output formats end to end on the web side (the spec asks for the shop's format, the GPU worker encodes it, publish
names and types the file by what was stored) and publish's variant images (each output's chosen variant, at most
one image per variant), plus regeneration keeping the merchant's position."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

from gpu_worker.contract import JobSpec
from gpu_worker.tasks import encode_output
from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.output import Decision, Output
from plugin.models.shop import Shop
from plugin.services import gpu_handoff, gpu_reports, settings
from plugin.services.publish import run_publish
from plugin.shopify.media import OUR_PREFIX, filename_matches
from plugin.storage import get_storage
from tests.plugin.jobs.conftest import person_png
from tests.plugin.jobs.helpers import generated_job, new_job

POSES = ("front-relaxed", "weight-shift", "hand-on-hip")


def blazer(shop: Any) -> Any:
    return next(p for p in shop.emu.products.values() if p.title == "Linen Blazer")


@pytest.mark.parametrize(("fmt", "mime", "magic"), [
    ("png", "image/png", b"\x89PNG"), ("jpeg", "image/jpeg", b"\xff\xd8\xff"), ("webp", "image/webp", b"RIFF"),
])  # fmt: skip
def test_worker_encodes_the_asked_format(fmt: str, mime: str, magic: bytes) -> None:
    data, content_type, ext = encode_output(Image.new("RGBA", (32, 32), (200, 40, 40, 255)), fmt)
    assert (content_type, ext) == (mime, fmt) and data.startswith(magic)
    assert Image.open(io.BytesIO(data)).format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]


def test_spec_carries_the_shops_output_format(app: Any, make_shop: Any) -> None:
    s = make_shop()
    with app.app_context():
        shop = db.session.get(Shop, s.id)
        settings.get_settings(shop).output_format = "webp"
        job_id = new_job(shop, "gid://shopify/Product/77")
        job = db.session.get(Job, job_id)
        job.source_key = f"{shop.domain}/sources/{'b' * 64}.png"
        assert gpu_handoff.start_generation(job, shop, from_states=[JobState.QUEUED])
        db.session.commit()
        spec_key = db.session.get(Job, job_id).spec_key
        spec = JobSpec.from_kwargs(json.loads(get_storage().get(spec_key)))
    assert spec.output_format == "webp"
    old = {k: v for k, v in spec.to_kwargs().items() if k != "output_format"}  # a spec from before the field
    assert JobSpec.from_kwargs(old).output_format == "png"


def test_regeneration_keeps_the_merchants_position(app: Any, make_shop: Any) -> None:
    s = make_shop()
    with app.app_context():
        shop = db.session.get(Shop, s.id)
        job_id, manifest_key = generated_job(shop, "gid://shopify/Product/78", [True, True, True])
        db.session.commit()
        gpu_reports.record_done(job_id, manifest_key)
        outputs = sorted(db.session.query(Output).filter_by(job_id=job_id).all(), key=lambda o: o.position)
        assert [o.position for o in outputs] == [0, 1, 2]
        last = outputs[2]
        last.position, outputs[0].position, outputs[1].position = 0, 1, 2  # the merchant moved it first
        last.regenerating = True
        job = db.session.get(Job, job_id)
        job.state, job.pending_runs = JobState.GENERATING, 1
        db.session.commit()
        gpu_reports.record_done(job_id, manifest_key)  # the regeneration's result (same manifest shape)
        db.session.expire_all()
        assert db.session.get(Output, last.id).position == 0


@pytest.fixture
def review_job(app: Any, shop: Any) -> dict[str, Any]:
    """A Linen Blazer job awaiting review: three approved outputs, stored as WebP."""
    product = blazer(shop)
    with app.app_context():
        job = Job(shop_id=shop.id, product_id=product.gid, product_title=product.title, pose_set_id="catalog-basics",
                  pose_set_version="1", pose_set={"poses": [{"id": p} for p in POSES]}, request_key="w" * 64,
                  state=JobState.PUBLISHING, variant_id=product.variants[0].gid)  # fmt: skip
        db.session.add(job)
        db.session.flush()
        ids = []
        for i, pose in enumerate(POSES):
            key = f"{shop.domain}/jobs/{job.id}/{pose}-0.webp"
            buf = io.BytesIO()
            Image.open(io.BytesIO(person_png(64, (40 * i, 40, 200)))).save(buf, format="WEBP", quality=92)
            get_storage().put(key, buf.getvalue(), "image/webp")
            out = Output(shop_id=shop.id, job_id=job.id, pose_id=pose, pose_name=pose, position=i, storage_key=key,
                         seed=0, passed=True, reasons=[], decision=Decision.APPROVED,
                         variant_id=job.variant_id)  # as record_done creates them  # fmt: skip
            db.session.add(out)
            db.session.flush()
            ids.append(out.id)
        db.session.commit()
        return {"job": job.id, "outputs": ids, "product": product}


def _ours(shop: Any, product: Any) -> list[Any]:
    return [m for m in shop.emu.gallery(product) if m.filename.startswith(OUR_PREFIX)]


def test_publish_uses_each_outputs_variant_and_the_real_extension(app: Any, shop: Any,
                                                                  review_job: dict[str, Any]) -> None:  # fmt: skip
    product = review_job["product"]
    first, second, third = review_job["outputs"]
    medium, large = product.variants[1].gid, product.variants[2].gid
    with app.app_context():
        db.session.get(Output, second).variant_id = medium  # chosen at approve
        db.session.get(Output, third).variant_id = medium  # a stale second claim: one image per variant
        db.session.commit()
        run_publish(review_job["job"])
        assert db.session.get(Job, review_job["job"]).state == JobState.PUBLISHED
        media = {o: db.session.get(Output, o).shopify_media_id for o in review_job["outputs"]}
    ours = _ours(shop, product)
    assert len(ours) == 3
    for m in ours:
        assert m.mime == "image/webp" and filename_matches(m.filename, m.filename.rsplit(".", 1)[0] + ".webp")
        assert m.filename.startswith(f"{OUR_PREFIX}{review_job['job']}-") and m.filename.endswith("-0.webp")
    assert product.variants[0].media_ids == [media[first]]  # the job's variant stays on the first image
    assert product.variants[1].media_ids == [media[second]]
    assert large and product.variants[2].media_ids == []


def test_publish_falls_back_to_the_jobs_variant_when_none_was_chosen(app: Any, shop: Any,
                                                                     review_job: dict[str, Any]) -> None:  # fmt: skip
    product = review_job["product"]
    with app.app_context():
        for o in review_job["outputs"]:
            db.session.get(Output, o).variant_id = None  # outputs from before variants were stored per output
        db.session.commit()
        run_publish(review_job["job"])
        first = db.session.get(Output, review_job["outputs"][0]).shopify_media_id
    assert product.variants[0].media_ids == [first]
