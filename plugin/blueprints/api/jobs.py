"""/api/jobs: ask for jobs, list and read them, their source photo, cancel, publish."""

from __future__ import annotations

from flask import Response, g, jsonify

from plugin.blueprints import api_requests as req
from plugin.blueprints.api.common import ID, bp, error, image_response, job_json
from plugin.extensions import db
from plugin.models.job import Job
from plugin.security.tenancy import get_for_shop_or_404
from plugin.services import jobs, on_demand, review, shop_lifecycle
from plugin.shopify.auth import require_session


# --- jobs ---------------------------------------------------------------------------------------------------------
@bp.post("/jobs")
@require_session
def create_jobs() -> tuple[Response, int]:
    wanted = req.parse(req.CreateJobs, req.read_json())
    created_jobs, created = on_demand.create_jobs(g.shop, wanted.model_dump(exclude_unset=True))
    return jsonify({"jobs": [job_json(j, with_outputs=False) for j in created_jobs],
                    "created": created}), (201 if created else 200)  # fmt: skip


@bp.get("/jobs")
@require_session
def list_jobs() -> Response:
    q = req.parse_query(req.ListJobsQuery)
    rows = jobs.jobs_for_shop(g.shop, state=q.status, limit=q.limit, before_id=q.before)
    return jsonify({"jobs": [job_json(j, with_outputs=False) for j in rows]})


@bp.get(f"/jobs/<{ID}:job_id>")
@require_session
def get_job(job_id: int) -> Response:
    return jsonify(job_json(get_for_shop_or_404(Job, job_id, g.shop)))


@bp.get(f"/jobs/<{ID}:job_id>/source-image")
@require_session
def job_source_image(job_id: int) -> Response:
    """The photo the job generates from, as stored after the download (PNG); Review shows it as "before"."""
    job = get_for_shop_or_404(Job, job_id, g.shop)
    if not job.source_key:
        return error("source_not_fetched", "the source photo is not downloaded yet; it is once the job starts",
                     404)  # type: ignore[return-value]  # fmt: skip
    return image_response(job.source_key, "the stored source photo is gone; generate the product again")


@bp.post(f"/jobs/<{ID}:job_id>/cancel")
@require_session
def cancel_job(job_id: int) -> Response:
    job = get_for_shop_or_404(Job, job_id, g.shop)
    if not jobs.cancel(job):
        db.session.rollback()
        return error("job_not_cancellable", f"job {job.id} is {job.state.value}; only unfinished jobs can be "
                     "cancelled", 409)  # type: ignore[return-value]  # fmt: skip
    db.session.commit()
    shop_lifecycle.delete_specs([job])
    return jsonify(job_json(job))


@bp.post(f"/jobs/<{ID}:job_id>/publish")
@require_session
def publish_job(job_id: int) -> tuple[Response, int]:
    job = review.request_publish(get_for_shop_or_404(Job, job_id, g.shop))
    return jsonify(job_json(job)), 202
