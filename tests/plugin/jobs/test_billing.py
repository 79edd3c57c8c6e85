"""Usage billing end to end against the emulator: off by default, the plan approved through Shopify's confirmation
URL, one usage record per published image (never two, whatever is retried or published again), and generation
paused with a clear reason at the cap."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.shop import Shop
from plugin.models.usage_charge import UsageCharge
from plugin.services import billing, gpu_reports, publish
from tests.conftest import TEST_APP_URL
from tests.plugin.jobs.helpers import generated_job
from tests.plugin.jobs.test_api import auth

PRICE, CAP = "0.40", "1.00"  # two images fit, the third would pass the cap


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "POSE_STUDIO_BILLING": "usage", "POSE_STUDIO_BILLING_PRICE": PRICE,
            "POSE_STUDIO_BILLING_CAP": CAP, "POSE_STUDIO_BILLING_TEST": "1"}  # fmt: skip


def approve_plan(client: Any, shop: Any, id_token: Any) -> None:
    """The merchant clicks "Approve plan" in Settings, approves in the admin and is sent back to the app."""
    created = client.post("/api/billing/subscribe", headers=auth(id_token, shop.domain))
    assert created.status_code == 201, created.get_json()
    approval = requests.get(created.get_json()["confirmation_url"], allow_redirects=False, timeout=5)
    assert approval.status_code == 302
    back = urlsplit(approval.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == TEST_APP_URL and back.path == "/billing/return"
    returned = client.get(f"{back.path}?{back.query}")
    assert returned.status_code == 302 and "/settings" in returned.headers["Location"]


def publish_job(app: Any, shop: Any, product_gid: str, images: int) -> int:
    with app.app_context():
        row = db.session.get(Shop, shop.id)
        job_id, manifest_key = generated_job(row, product_gid, [True] * images)
        gpu_reports.record_done(job_id, manifest_key)
        assert db.session.get(Job, job_id).state == JobState.PUBLISHING
        publish.run_publish(job_id)
        assert db.session.get(Job, job_id).state == JobState.PUBLISHED
        return job_id


def records(emulator: Any, shop: Any) -> list[Any]:
    return [r for s in emulator.shop(shop.domain).subscriptions.values() for r in s.records]


def test_approve_charge_each_published_image_once_and_pause_at_the_cap(
    app: Any, client: Any, shop: Any, id_token: Any, emulator: Any
) -> None:
    products = emulator.add_products(shop.domain, 2)
    h = auth(id_token, shop.domain)
    before = client.get("/api/billing", headers=h).get_json()
    assert before["enabled"] and before["state"] == "not_subscribed" and before["paused"]
    refused = client.post("/api/jobs", headers=h, json={"product_ids": [products[0].gid], "pose_set": "catalog-basics"})
    assert refused.status_code == 402 and refused.get_json()["error"]["code"] == "billing_approval_required"

    approve_plan(client, shop, id_token)
    status = client.get("/api/billing", headers=h).get_json()
    assert (status["state"], status["paused"], status["capped_amount"], status["remaining"]) == ("active", False,
                                                                                                 CAP, CAP)  # fmt: skip

    job_id = publish_job(app, shop, products[0].gid, images=2)
    charged = records(emulator, shop)
    assert len(charged) == 2 and {r.price for r in charged} == {Decimal(PRICE)}
    assert len({r.idempotency_key for r in charged}) == 2

    # the publish task delivered again (acks_late after a crash): the images are on the product, nothing is billed
    with app.app_context():
        assert db.session.get(Job, job_id) is not None
        db.session.execute(db.update(Job).where(Job.id == job_id).values(state=JobState.PUBLISHING))
        db.session.commit()
        publish.run_publish(job_id)
    assert len(records(emulator, shop)) == 2

    status = client.get("/api/billing", headers=h).get_json()
    assert status["balance_used"] == "0.80" and status["remaining"] == "0.20" and status["paused"]
    assert "reached the cap of 1.00 USD" in status["reason"]
    paused = client.post("/api/jobs", headers=h, json={"product_ids": [products[1].gid], "pose_set": "catalog-basics"})
    assert paused.status_code == 402
    assert paused.get_json()["error"]["code"] == "billing_cap_reached"
    assert "reached the cap" in paused.get_json()["error"]["message"]


def test_a_charge_whose_answer_was_lost_is_resent_with_its_key_and_billed_once(
    app: Any, client: Any, shop: Any, id_token: Any, emulator: Any
) -> None:
    product = emulator.add_products(shop.domain, 1)[0]
    approve_plan(client, shop, id_token)
    emulator.faults.operations = {"BillingUsageRecord"}
    emulator.faults.force("http_5xx", 20)  # Shopify down for the charge: the publish itself still succeeds
    try:
        publish_job(app, shop, product.gid, images=1)
    finally:
        emulator.faults.reset()
    with app.app_context():
        [charge] = db.session.scalars(db.select(UsageCharge)).all()
        assert charge.status == "pending"
        key = charge.idempotency_key
    assert records(emulator, shop) == []
    # Shopify did take it after all (an answer lost on the way): the resend must not charge a second time
    sub = next(iter(emulator.shop(shop.domain).subscriptions.values()))
    token = emulator.issue_access_token(shop.domain)
    from plugin.shopify.billing_operations import USAGE_RECORD_CREATE

    lost = requests.post(f"{emulator.origin}/admin/api/2026-10/graphql.json", timeout=5,
                         headers={"Host": shop.domain, "X-Shopify-Access-Token": token},
                         json={"query": USAGE_RECORD_CREATE.document, "variables": {
                             "lineItemId": sub.line_item_gid, "price": {"amount": PRICE, "currencyCode": "USD"},
                             "description": "x", "key": key}}).json()  # fmt: skip
    first_id = lost["data"]["appUsageRecordCreate"]["appUsageRecord"]["id"]
    with app.app_context():
        assert billing.send_pending(db.session.get(Shop, shop.id)) == 1
        charge = db.session.scalars(db.select(UsageCharge)).one()
        assert (charge.status, charge.shopify_record_id) == ("recorded", first_id)
    assert len(records(emulator, shop)) == 1


def test_billing_is_off_by_default(app: Any, client: Any, shop: Any, id_token: Any, emulator: Any) -> None:
    app.config["POSE_STUDIO_BILLING"] = False  # what load_config makes of an unset POSE_STUDIO_BILLING
    product = emulator.add_products(shop.domain, 1)[0]
    status = client.get("/api/billing", headers=auth(id_token, shop.domain)).get_json()
    assert (status["enabled"], status["state"], status["paused"]) == (False, "off", False)
    publish_job(app, shop, product.gid, images=1)
    assert records(emulator, shop) == []
    with app.app_context():
        assert db.session.scalars(db.select(UsageCharge)).all() == []
