"""JSON API of the embedded admin and the admin action extension: parse → authorize → service → JSON.

Every route needs an App Bridge session token (`@require_session` sets `g.shop`) and every lookup takes the shop
(`get_for_shop_or_404`): another shop's id answers 404, exactly like a missing one. Errors are
`{"error": {"code", "message"}}`; the message says what was wrong and what to do.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from plugin.extensions import db
from plugin.models.bulk import BulkRun
from plugin.models.job import Job
from plugin.models.output import Decision, Output
from plugin.models.product_source import ProductSource
from plugin.security.tenancy import get_for_shop_or_404
from plugin.services import bulk, jobs, on_demand, pose_sets, review, settings, shop_data, shopify_reads
from plugin.services.errors import InvalidRequest, JobLayerError
from plugin.shopify.auth import require_session
from plugin.storage import KeyMissing, get_storage

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_REFERENCE_PHOTO_BYTES = 15 * 1024 * 1024


def error(code: str, message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


@bp.errorhandler(JobLayerError)
def _job_layer_error(exc: JobLayerError) -> tuple[Response, int]:
    db.session.rollback()
    return error(exc.code, exc.message, exc.status)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    messages = {404: "not found in this shop; check the id", 405: "method not allowed on this route",
                400: "the request could not be read; send JSON", 413: "the upload is too large"}  # fmt: skip
    return error(exc.name.lower().replace(" ", "_"), messages.get(status, exc.description or exc.name), status)


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidRequest("send a JSON object body with Content-Type: application/json")
    return data


def _product_gid(product_id: str) -> str:
    gid = product_id if product_id.startswith("gid://") else f"gid://shopify/Product/{product_id}"
    if not gid.startswith("gid://shopify/Product/") or not gid.rsplit("/", 1)[1].isdigit():
        raise InvalidRequest("product id must be a number or a product GID", code="invalid_product")
    return gid


# --- products -----------------------------------------------------------------------------------------------------
@bp.get("/products")
@require_session
def list_products() -> Response:
    page = shopify_reads.products_page(g.shop, after=request.args.get("after"), query=request.args.get("query"))
    return jsonify(page)


@bp.put("/products/<path:product_id>/source-skeleton")
@require_session
def put_source_skeleton(product_id: str) -> Response:
    """A merchant-placed skeleton for a product whose model the detector misses (mascots); `null` removes it."""
    from gpu_worker.errors import PoseStudioError
    from gpu_worker.pose.skeleton import Skeleton

    gid = _product_gid(product_id)
    data = body()
    skeleton = data.get("skeleton")
    if skeleton is not None:
        try:
            skeleton = Skeleton.from_dict(skeleton).to_dict()
        except (PoseStudioError, ValueError, TypeError, KeyError) as exc:
            raise InvalidRequest(f"skeleton is not valid: {exc}", code="invalid_skeleton") from None
    row = db.session.query(ProductSource).filter_by(shop_id=g.shop.id, product_id=gid).first()
    if row is None:
        row = ProductSource(shop_id=g.shop.id, product_id=gid)
        db.session.add(row)
    row.source_skeleton = skeleton
    db.session.commit()
    return jsonify({"product_id": gid, "skeleton": skeleton})


# --- pose sets ----------------------------------------------------------------------------------------------------
@bp.get("/pose-sets")
@require_session
def list_pose_sets() -> Response:
    return jsonify({"pose_sets": pose_sets.list_pose_sets(g.shop)})


@bp.post("/pose-sets")
@require_session
def create_pose_set() -> tuple[Response, int]:
    """JSON {name, poses: ["set/pose" | pose document …]}, or multipart (name, photo): a pose from a reference photo."""
    if request.files:
        photo = request.files.get("photo")
        if photo is None:
            raise InvalidRequest("send the reference photo in the 'photo' field", code="invalid_pose_set")
        data = photo.read(MAX_REFERENCE_PHOTO_BYTES + 1)
        if len(data) > MAX_REFERENCE_PHOTO_BYTES:
            raise InvalidRequest("the reference photo is over 15 MB; upload a smaller one", code="photo_too_large")
        row = pose_sets.create_from_photo(g.shop, request.form.get("name", ""), data)
        return jsonify(pose_sets.custom_set_to_dict(row)), 202
    data = body()
    row = pose_sets.create_custom_set(g.shop, data.get("name", ""), data.get("poses", []),
                                      data.get("description", ""))  # fmt: skip
    return jsonify(pose_sets.custom_set_to_dict(row)), 201


# --- jobs ---------------------------------------------------------------------------------------------------------
@bp.post("/jobs")
@require_session
def create_jobs() -> tuple[Response, int]:
    created_jobs, created = on_demand.create_jobs(g.shop, body())
    return jsonify({"jobs": [jobs.job_to_dict(j, with_outputs=False) for j in created_jobs],
                    "created": created}), (201 if created else 200)  # fmt: skip


@bp.get("/jobs")
@require_session
def list_jobs() -> Response:
    try:
        rows = jobs.jobs_for_shop(g.shop, state=request.args.get("status"),
                                  limit=int(request.args.get("limit", 100)),
                                  before_id=int(request.args["before"]) if request.args.get("before") else None)
    except ValueError:
        raise InvalidRequest("status must be job states separated by commas; limit and before are numbers",
                             code="invalid_query") from None  # fmt: skip
    return jsonify({"jobs": [jobs.job_to_dict(j, with_outputs=False) for j in rows]})


@bp.get("/jobs/<int:job_id>")
@require_session
def get_job(job_id: int) -> Response:
    return jsonify(jobs.job_to_dict(get_for_shop_or_404(Job, job_id, g.shop)))


@bp.post("/jobs/<int:job_id>/cancel")
@require_session
def cancel_job(job_id: int) -> Response:
    job = get_for_shop_or_404(Job, job_id, g.shop)
    if not jobs.cancel(job):
        db.session.rollback()
        return error("job_not_cancellable", f"job {job.id} is {job.state.value}; only unfinished jobs can be "
                     "cancelled", 409)  # type: ignore[return-value]  # fmt: skip
    db.session.commit()
    shop_data.delete_specs([job])
    return jsonify(jobs.job_to_dict(job))


@bp.post("/jobs/<int:job_id>/publish")
@require_session
def publish_job(job_id: int) -> tuple[Response, int]:
    job = review.request_publish(get_for_shop_or_404(Job, job_id, g.shop))
    return jsonify(jobs.job_to_dict(job)), 202


# --- outputs ------------------------------------------------------------------------------------------------------
@bp.post("/outputs/<int:output_id>/approve")
@require_session
def approve_output(output_id: int) -> Response:
    return jsonify(jobs.output_to_dict(review.decide(get_for_shop_or_404(Output, output_id, g.shop),
                                                     Decision.APPROVED)))  # fmt: skip


@bp.post("/outputs/<int:output_id>/reject")
@require_session
def reject_output(output_id: int) -> Response:
    return jsonify(jobs.output_to_dict(review.decide(get_for_shop_or_404(Output, output_id, g.shop),
                                                     Decision.REJECTED)))  # fmt: skip


@bp.post("/outputs/<int:output_id>/regenerate")
@require_session
def regenerate_output(output_id: int) -> tuple[Response, int]:
    out = review.regenerate(g.shop, get_for_shop_or_404(Output, output_id, g.shop))
    return jsonify(jobs.output_to_dict(out)), 202


@bp.get("/outputs/<int:output_id>/image")
@require_session
def output_image(output_id: int) -> Response:
    out = get_for_shop_or_404(Output, output_id, g.shop)
    try:
        data = get_storage().get(out.storage_key)
    except KeyMissing:
        return error("image_missing", "the stored image is gone; regenerate this pose", 404)  # type: ignore[return-value]
    mimetype = "image/png" if out.storage_key.endswith(".png") else "image/jpeg"
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- bulk ---------------------------------------------------------------------------------------------------------
@bp.post("/bulk")
@require_session
def create_bulk() -> tuple[Response, int]:
    run = bulk.create_bulk(g.shop, body())
    return jsonify(bulk.bulk_to_dict(run)), 202


@bp.get("/bulk/<int:bulk_id>")
@require_session
def get_bulk(bulk_id: int) -> Response:
    return jsonify(bulk.bulk_to_dict(get_for_shop_or_404(BulkRun, bulk_id, g.shop)))


@bp.post("/bulk/<int:bulk_id>/cancel")
@require_session
def cancel_bulk(bulk_id: int) -> Response:
    run = get_for_shop_or_404(BulkRun, bulk_id, g.shop)
    result = bulk.cancel_bulk(run)
    return jsonify({**bulk.bulk_to_dict(run), **result})


# --- settings -----------------------------------------------------------------------------------------------------
@bp.get("/settings")
@require_session
def get_settings() -> Response:
    s = settings.get_settings(g.shop)
    db.session.commit()
    return jsonify(settings.settings_to_dict(s))


@bp.put("/settings")
@require_session
def put_settings() -> Response:
    return jsonify(settings.settings_to_dict(settings.update_settings(g.shop, body())))
