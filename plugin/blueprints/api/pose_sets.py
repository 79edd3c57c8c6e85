"""/api/pose-sets: built-in and custom pose sets, and their skeletons."""

from __future__ import annotations

from flask import Response, current_app, g, jsonify, request

from plugin.blueprints import api_requests as req
from plugin.blueprints.api.common import bp
from plugin.services import pose_sets
from plugin.services.errors import InvalidRequest
from plugin.shopify.auth import require_session


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
