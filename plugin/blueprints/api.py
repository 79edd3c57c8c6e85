"""JSON API of the embedded admin and the admin action extension: parse → authorize → service → JSON.

Every route needs an App Bridge session token (`@require_session` sets `g.shop`) and every lookup takes the shop
(`get_for_shop_or_404`): another shop's id answers 404, exactly like a missing one. Errors are
`{"error": {"code", "message"}}`; the message says what was wrong and what to do.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from plugin.blueprints import api_requests as req
from plugin.errors import RefreshLockTimeout, ShopifyAuthError
from plugin.extensions import db
from plugin.models.bulk import BulkRun
from plugin.models.job import Job
from plugin.models.output import Decision, Output
from plugin.models.product_source import ProductSource
from plugin.security.body_limits import limit_for, too_large
from plugin.security.tenancy import get_for_shop_or_404
from plugin.services import (
    bulk,
    jobs,
    on_demand,
    overview,
    pose_sets,
    review,
    serialization,
    settings,
    shop_lifecycle,
    shopify_reads,
)
from plugin.services.errors import Conflict, InvalidRequest, JobLayerError, NotFound
from plugin.services.products import pick_source
from plugin.shopify.auth import RETRY_HEADER, require_session
from plugin.shopify.errors import ShopifyError
from plugin.storage import KeyMissing, get_storage

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")


ID = f"int(min=1, max={req.MAX_ID})"  # path ids: a larger number is no row of ours (404), not a database error


def error(code: str, message: str, status: int, fields: list[dict[str, str]] | None = None) -> tuple[Response, int]:
    payload: dict[str, Any] = {"code": code, "message": message}
    if fields:
        payload["fields"] = fields
    return jsonify({"error": payload}), status


@bp.errorhandler(JobLayerError)
def _job_layer_error(exc: JobLayerError) -> tuple[Response, int]:
    db.session.rollback()
    return error(exc.code, exc.message, exc.status, exc.fields)


@bp.errorhandler(ShopifyAuthError)
def _token_unusable(exc: ShopifyAuthError) -> tuple[Response, int] | Response:
    """The shop's stored token pair is gone or refused (cleared after an Admin API 401 or a refused refresh): 401
    with App Bridge's retry header, whose retry carries a fresh ID token that exchanges a new pair."""
    db.session.rollback()
    if isinstance(exc, RefreshLockTimeout):
        response, status = error("busy", "the shop's access token is being refreshed; retry in a few seconds", 503)
        response.headers["Retry-After"] = "5"
        return response, status
    response, status = error("shopify_token_rejected", "Shopify no longer accepts this shop's access token; "
                             "reload Pose Studio from the Shopify admin", 401)  # fmt: skip
    response.headers[RETRY_HEADER] = "1"
    return response, status


@bp.errorhandler(ShopifyError)
def _shopify_error(exc: ShopifyError) -> tuple[Response, int]:
    # what reaches here is Shopify failing (down, throttling past our retries, a schema change): 502 in the API's
    # error shape, so the page says so instead of showing an HTML 500
    db.session.rollback()
    log.warning("Admin API call of %s failed: %s", g.get("shop_domain"), exc)
    return error("shopify_error", "Shopify did not answer as expected; try again in a minute", 502)


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _unrouted(exc: HTTPException) -> Any:
    """A URL under /api/ that matches no route (or not with this method; an id out of range matches none) gets the
    API's JSON error too; other paths keep Flask's page."""
    if request.path.startswith("/api/"):
        return _http_error(exc)
    return exc


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    if status == 413:  # a chunked body that ran past its limit while being read
        return too_large(limit_for(request)), 413
    messages = {404: "not found in this shop; check the id", 405: "method not allowed on this route",
                400: "the request could not be read; send JSON", 413: "the upload is too large"}  # fmt: skip
    return error(exc.name.lower().replace(" ", "_"), messages.get(status, exc.description or exc.name), status)


# Stored images by file extension (outputs follow the shop's output_format; sources are re-encoded PNG).
MIMETYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def _image_response(key: str, missing: str) -> Response:
    """A stored image for an authenticated page (fetched with the session token, shown as a blob URL)."""
    try:
        data = get_storage().get(key)
    except KeyMissing:
        return error("image_missing", missing, 404)  # type: ignore[return-value]
    response = Response(data, mimetype=MIMETYPES.get(key.rsplit(".", 1)[-1].lower(), "application/octet-stream"))
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _output_json(out: Output) -> dict[str, Any]:
    # `position` is the 0-based order among the job's images; `carousel_position` is what approve takes (1 = first)
    data = serialization.output_to_dict(out)
    data["carousel_position"] = out.position + 1
    return data


def _job_json(job: Job, *, with_outputs: bool = True) -> dict[str, Any]:
    data = serialization.job_to_dict(job, with_outputs=with_outputs)
    # the photo the job generates from, as stored (a shop-scoped URL: it needs the session token like the outputs)
    data["source_url"] = f"/api/jobs/{job.id}/source-image" if job.source_key else None
    if with_outputs:
        for item in data.get("outputs", []):
            item["carousel_position"] = item["position"] + 1
    return data


def _product_gid(product_id: str) -> str:
    gid = product_id if product_id.startswith("gid://") else f"gid://shopify/Product/{product_id}"
    number = gid.rsplit("/", 1)[1]
    if not gid.startswith("gid://shopify/Product/") or not (number.isascii() and number.isdigit()) \
            or len(number) > 19 or not 0 < int(number) <= req.MAX_SHOPIFY_ID:
        raise InvalidRequest("product id must be a number or a product GID", code="invalid_product")
    return gid


# --- products -----------------------------------------------------------------------------------------------------
@bp.get("/products")
@require_session
def list_products() -> Response:
    q = req.parse_query(req.ProductsQuery)
    return jsonify(shopify_reads.products_page(g.shop, after=q.after, query=q.query))


@bp.get("/products/<path:product_id>/source-skeleton")
@require_session
def get_source_skeleton(product_id: str) -> Response:
    """{"product_id", "title", "photo": {url, alt} | null, "skeleton": saved skeleton | null, "variants"}: what the
    pose editor needs to place a skeleton on the product's photo, and what Review shows as variants."""
    gid = _product_gid(product_id)
    found = shopify_reads.products_by_ids(g.shop, [gid])
    if not found:
        raise NotFound(f"no product {gid.rsplit('/', 1)[1]} in this shop; it may have been deleted",
                       code="unknown_product")  # fmt: skip
    product = found[0]
    photo = pick_source(product)
    row = db.session.query(ProductSource).filter_by(shop_id=g.shop.id, product_id=gid).first()
    return jsonify({
        "product_id": gid, "title": product.title,
        "photo": {"url": photo.url, "alt": photo.alt} if photo else None,
        "skeleton": row.source_skeleton if row else None,
        "variants": [{"id": v.id, "title": v.title, "has_own_image": v.media_id is not None} for v in product.variants],
    })  # fmt: skip


@bp.put("/products/<path:product_id>/source-skeleton")
@require_session
def put_source_skeleton(product_id: str) -> Response:
    """A merchant-placed skeleton for a product whose model the detector misses (mascots); `null` removes it."""
    from gpu_worker.errors import PoseStudioError
    from gpu_worker.pose.skeleton import Skeleton

    gid = _product_gid(product_id)
    skeleton = req.parse(req.SourceSkeleton, req.read_json()).skeleton
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


@bp.get("/pose-sets/<set_id>/poses")
@require_session
def pose_skeletons(set_id: str) -> Response:
    """{"pose_set": {id, version, name}, "poses": [{id, name, description, skeleton}]}; skeleton as gpu_worker's
    Skeleton.to_dict(): {width, height, landmarks: 33 × [x, y, visibility] or null}. GET /api/pose-sets lists poses
    by id and name only (the picker); the gallery, previews, review insets and the editor draw from this."""
    doc = pose_sets.resolve(g.shop, set_id).document
    response = jsonify({
        "pose_set": {"id": doc["id"], "version": doc["version"], "name": doc.get("name", doc["id"])},
        "poses": [
            {"id": p["id"], "name": p.get("name", p["id"]), "description": p.get("description", ""),
             "skeleton": p["skeleton"]}
            for p in doc["poses"]
        ],
    })  # fmt: skip
    # A set's poses change only with its version; the page asks again on every load, this spares the bytes.
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


@bp.post("/pose-sets")
@require_session
def create_pose_set() -> tuple[Response, int]:
    """JSON {name, poses: ["set/pose" | pose document …]}, or multipart (name, photo): a pose from a reference photo."""
    if request.files:
        photo = request.files.get("photo")
        if photo is None:
            raise InvalidRequest("send the reference photo in the 'photo' field", code="invalid_pose_set")
        limit = current_app.config["POSE_STUDIO_MAX_PHOTO_BYTES"]
        form = req.parse(req.PhotoPoseSet, request.form.to_dict(flat=True))
        data = photo.read(limit + 1)
        if len(data) > limit:
            raise InvalidRequest(f"the reference photo is over {limit / 2**20:.0f} MB; upload a smaller one",
                                 code="photo_too_large")  # fmt: skip
        row = pose_sets.create_from_photo(g.shop, form.name, data)
        return jsonify(pose_sets.custom_set_to_dict(row)), 202
    new = req.parse(req.CreatePoseSet, req.read_json())
    row = pose_sets.create_custom_set(g.shop, new.name, list(new.poses), new.description)
    return jsonify(pose_sets.custom_set_to_dict(row)), 201


# --- jobs ---------------------------------------------------------------------------------------------------------
@bp.post("/jobs")
@require_session
def create_jobs() -> tuple[Response, int]:
    wanted = req.parse(req.CreateJobs, req.read_json())
    created_jobs, created = on_demand.create_jobs(g.shop, wanted.model_dump(exclude_unset=True))
    return jsonify({"jobs": [_job_json(j, with_outputs=False) for j in created_jobs],
                    "created": created}), (201 if created else 200)  # fmt: skip


@bp.get("/jobs")
@require_session
def list_jobs() -> Response:
    q = req.parse_query(req.ListJobsQuery)
    rows = jobs.jobs_for_shop(g.shop, state=q.status, limit=q.limit, before_id=q.before)
    return jsonify({"jobs": [_job_json(j, with_outputs=False) for j in rows]})


@bp.get(f"/jobs/<{ID}:job_id>")
@require_session
def get_job(job_id: int) -> Response:
    return jsonify(_job_json(get_for_shop_or_404(Job, job_id, g.shop)))


@bp.get(f"/jobs/<{ID}:job_id>/source-image")
@require_session
def job_source_image(job_id: int) -> Response:
    """The photo the job generates from, as stored after the download (PNG); Review shows it as "before"."""
    job = get_for_shop_or_404(Job, job_id, g.shop)
    if not job.source_key:
        return error("source_not_fetched", "the source photo is not downloaded yet; it is once the job starts",
                     404)  # type: ignore[return-value]  # fmt: skip
    return _image_response(job.source_key, "the stored source photo is gone; generate the product again")


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
    return jsonify(_job_json(job))


@bp.post(f"/jobs/<{ID}:job_id>/publish")
@require_session
def publish_job(job_id: int) -> tuple[Response, int]:
    job = review.request_publish(get_for_shop_or_404(Job, job_id, g.shop))
    return jsonify(_job_json(job)), 202


# --- outputs ------------------------------------------------------------------------------------------------------
@bp.post(f"/outputs/<{ID}:output_id>/approve")
@require_session
def approve_output(output_id: int) -> Response:
    """Optional JSON body {position, variant_id}: where the image goes among the job's images in the carousel
    (1 = first) and the variant that shows it (null: none). Both are stored on the output; publish uses them."""
    out = get_for_shop_or_404(Output, output_id, g.shop)
    raw = req.read_json(optional=True)
    options = req.parse(req.ApproveOptions, raw) if raw is not None else None
    job = db.session.get(Job, out.job_id)
    assert job is not None
    if options is not None:
        _place_output(job, out, options.model_dump(exclude_unset=True))
    return jsonify(_output_json(review.decide(out, Decision.APPROVED)))


def _place_output(job: Job, out: Output, data: dict[str, Any]) -> None:
    """Validate and apply approve's options (not committed: `review.decide` commits, or the error rolls back)."""
    siblings = jobs.outputs_of(job)
    if data.get("position") is not None:
        position = data["position"]
        if isinstance(position, bool) or not isinstance(position, int) or not 1 <= position <= len(siblings):
            raise InvalidRequest(f"position must be a whole number from 1 to {len(siblings)} (this job's images)",
                                 code="invalid_position")  # fmt: skip
        # move it and renumber the others, so the job's images keep one order without ties
        order = [o for o in sorted(siblings, key=lambda o: (o.position, o.id)) if o.id != out.id]
        order.insert(position - 1, out)
        for i, o in enumerate(order):
            o.position = i
    if "variant_id" in data:
        variant = data["variant_id"]
        if variant in (None, ""):
            out.variant_id = None
            return
        if not isinstance(variant, str | int) or isinstance(variant, bool):
            raise InvalidRequest("variant_id must be a ProductVariant GID or null", code="invalid_variant")
        gid = str(variant) if str(variant).startswith("gid://") else f"gid://shopify/ProductVariant/{variant}"
        if not gid.startswith("gid://shopify/ProductVariant/") or not gid.rsplit("/", 1)[1].isdigit():
            raise InvalidRequest("variant_id must be a ProductVariant GID like gid://shopify/ProductVariant/123",
                                 code="invalid_variant")  # fmt: skip
        if gid != job.variant_id:
            products = shopify_reads.products_by_ids(g.shop, [job.product_id], variant_ids=[gid])
            if not products:
                raise Conflict("the product of this job no longer exists in Shopify", code="unknown_product")
            if gid not in {v.id for v in products[0].variants}:
                raise InvalidRequest(f"variant {gid} is not a variant of '{products[0].title}'; choose one of "
                                     "its own variants", code="unknown_variant")  # fmt: skip
        # Shopify shows one image per variant: this output takes the variant from the job's other images
        for o in siblings:
            if o.id != out.id and o.variant_id == gid:
                o.variant_id = None
        out.variant_id = gid


@bp.post(f"/outputs/<{ID}:output_id>/reject")
@require_session
def reject_output(output_id: int) -> Response:
    return jsonify(_output_json(review.decide(get_for_shop_or_404(Output, output_id, g.shop), Decision.REJECTED)))


@bp.post(f"/outputs/<{ID}:output_id>/regenerate")
@require_session
def regenerate_output(output_id: int) -> tuple[Response, int]:
    out = review.regenerate(g.shop, get_for_shop_or_404(Output, output_id, g.shop))
    return jsonify(_output_json(out)), 202


@bp.get(f"/outputs/<{ID}:output_id>/image")
@require_session
def output_image(output_id: int) -> Response:
    out = get_for_shop_or_404(Output, output_id, g.shop)
    return _image_response(out.storage_key, "the stored image is gone; regenerate this pose")


# --- bulk ---------------------------------------------------------------------------------------------------------
@bp.post("/bulk")
@require_session
def create_bulk() -> tuple[Response, int]:
    wanted = req.parse(req.CreateBulk, req.read_json())
    run = bulk.create_bulk(g.shop, wanted.model_dump(exclude_unset=True))
    return jsonify(bulk.bulk_to_dict(run)), 202


@bp.get(f"/bulk/<{ID}:bulk_id>")
@require_session
def get_bulk(bulk_id: int) -> Response:
    return jsonify(bulk.bulk_to_dict(get_for_shop_or_404(BulkRun, bulk_id, g.shop)))


@bp.post(f"/bulk/<{ID}:bulk_id>/cancel")
@require_session
def cancel_bulk(bulk_id: int) -> Response:
    run = get_for_shop_or_404(BulkRun, bulk_id, g.shop)
    result = bulk.cancel_bulk(run)
    return jsonify({**bulk.bulk_to_dict(run), **result})


# --- overview -----------------------------------------------------------------------------------------------------
@bp.get("/overview")
@require_session
def get_overview() -> Response:
    """Home: jobs by state, images published in the last 7 days, today's usage and limit, worker health and queue
    lengths (cached a few seconds for all shops: the page polls it)."""
    data = overview.overview(g.shop)
    db.session.commit()  # get_settings may have created the shop's settings row
    return jsonify(data)


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
    changes = req.parse(req.UpdateSettings, req.read_json())
    return jsonify(settings.settings_to_dict(settings.update_settings(g.shop, changes.model_dump(exclude_unset=True))))
