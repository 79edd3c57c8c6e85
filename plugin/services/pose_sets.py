"""Pose sets a shop can use: the built-in library (gpu_worker.pose.library, light: no mediapipe) plus its own sets.

A custom set is made from library poses ("<set>/<pose>"), hand-placed skeletons (pose JSON documents), and poses read
from a reference photo (detected on a GPU worker, since the web side never imports mediapipe; see services/reference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from gpu_worker.errors import PoseStudioError
from gpu_worker.pose import library
from plugin.extensions import db
from plugin.models.custom_pose_set import CustomPoseSet
from plugin.models.shop import Shop
from plugin.services.errors import InvalidRequest, NotFound


@dataclass(frozen=True)
class PoseSetRef:
    """A resolved pose set: its id, version (part of the idempotency key) and the whole document (snapshot)."""

    id: str
    version: str
    document: dict[str, Any]


CUSTOM_PREFIX = "custom-"
MAX_CUSTOM_SETS = 50


def set_document(ps: library.PoseSet) -> dict[str, Any]:
    return {
        "schema": library.SET_SCHEMA, "id": ps.id, "version": ps.version, "name": ps.name,
        "description": ps.description, "category": ps.category,
        "poses": [library.pose_to_dict(p) for p in ps.poses],
    }  # fmt: skip


def _summary(doc: dict[str, Any], *, custom: bool) -> dict[str, Any]:
    return {
        "id": doc["id"], "version": doc["version"], "name": doc["name"], "description": doc.get("description", ""),
        "category": doc.get("category", "custom"), "custom": custom,
        "poses": [{"id": p["id"], "name": p.get("name", p["id"]), "backends": p.get("backends", [])}
                  for p in doc["poses"]],
    }  # fmt: skip


def list_pose_sets(shop: Shop) -> list[dict[str, Any]]:
    builtin = [_summary(set_document(ps), custom=False) for ps in library.list_pose_sets()]
    custom = db.session.scalars(
        select(CustomPoseSet).where(CustomPoseSet.shop_id == shop.id).order_by(CustomPoseSet.id)
    )
    return builtin + [_summary(c.document, custom=True) for c in custom]


def resolve(shop: Shop, set_id: str, poses: list[str] | None = None) -> PoseSetRef:
    """The pose set `set_id` as this shop sees it; checks `poses` belong to it. Raises NotFound / InvalidRequest."""
    if not isinstance(set_id, str) or not set_id:
        raise InvalidRequest("pose_set is required: pick one from GET /api/pose-sets", code="invalid_pose_set")
    if set_id.startswith(CUSTOM_PREFIX):
        row = db.session.scalars(
            select(CustomPoseSet).where(CustomPoseSet.shop_id == shop.id, CustomPoseSet.set_id == set_id)
        ).first()
        if row is None:
            raise NotFound(f"no pose set '{set_id}' in this shop; list them with GET /api/pose-sets")
        if row.status != "ready":
            raise InvalidRequest(f"pose set '{set_id}' is {row.status}: " + (row.error_message or
                                 "its pose is still being read from the photo; try again in a moment"),
                                 code="pose_set_not_ready", status=409)  # fmt: skip
        doc = row.document
    else:
        try:
            doc = set_document(library.load_pose_set(set_id))
        except PoseStudioError as exc:
            raise NotFound(str(exc), code="unknown_pose_set") from None
    if poses:
        known = {p["id"] for p in doc["poses"]}
        unknown = [p for p in poses if p not in known]
        if unknown:
            raise InvalidRequest(
                f"pose set '{set_id}' has no pose {', '.join(unknown)}; its poses are {', '.join(sorted(known))}",
                code="unknown_pose",
            )
    return PoseSetRef(id=doc["id"], version=str(doc["version"]), document=doc)


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "set"
    return CUSTOM_PREFIX + slug


def create_custom_set(shop: Shop, name: str, poses: list[Any], description: str = "") -> CustomPoseSet:
    """A custom set from `poses`: each a "set/pose" reference to a library pose or a pose JSON document. Commits.

    Saving under an existing name makes a new version of that set (the version is part of the idempotency key, so
    products are generated again with the new poses).
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("name is required for a custom pose set", code="invalid_pose_set")
    if not isinstance(poses, list) or not poses:
        raise InvalidRequest("poses must be a non-empty list of 'set/pose' references or pose documents",
                             code="invalid_pose_set")  # fmt: skip
    docs: list[dict[str, Any]] = []
    for item in poses:
        try:
            if isinstance(item, str):
                set_id, _, pose_id = item.partition("/")
                docs.append(library.pose_to_dict(library.load_pose_set(set_id).pose(pose_id)))
            else:
                docs.append(library.pose_to_dict(library.pose_from_json(item)))
        except PoseStudioError as exc:
            raise InvalidRequest(str(exc), code="invalid_pose") from None
    set_id = _slug(name)
    row = db.session.scalars(
        select(CustomPoseSet).where(CustomPoseSet.shop_id == shop.id, CustomPoseSet.set_id == set_id)
    ).first()
    version = (row.version + 1) if row else 1
    doc: dict[str, Any] = {"schema": library.SET_SCHEMA, "id": set_id, "version": version, "name": name.strip()[:80],
           "description": description[:500], "category": "custom", "poses": docs}  # fmt: skip
    try:
        library.pose_set_from_dict(doc)
    except PoseStudioError as exc:
        raise InvalidRequest(str(exc), code="invalid_pose_set") from None
    if row is None:
        count = db.session.query(CustomPoseSet).filter_by(shop_id=shop.id).count()
        if count >= MAX_CUSTOM_SETS:
            raise InvalidRequest(f"a shop can keep at most {MAX_CUSTOM_SETS} custom pose sets; delete one first")
        row = CustomPoseSet(shop_id=shop.id, set_id=set_id, name=doc["name"], version=1, document=doc)
        db.session.add(row)
    else:
        row.version, row.document, row.name = version, doc, doc["name"]
    db.session.commit()
    return row


def custom_set_to_dict(row: CustomPoseSet) -> dict[str, Any]:
    return {**_summary(row.document, custom=True), "status": row.status,
            "error": {"code": "pose_not_found", "message": row.error_message} if row.error_message else None}


def create_from_photo(shop: Shop, name: str, photo: bytes) -> CustomPoseSet:
    """A custom set of one pose read from a reference photo. The photo is decoded and re-encoded here (pixel cap,
    format allowlist); the pose is detected on a GPU worker (`extract_pose`), so the set is `extracting` until it
    reports back. Commits; the task is sent after commit."""
    from gpu_worker.contract import ExtractPoseRequest, TaskName
    from plugin.security.safe_fetch import FetchPolicy, FetchRejected, reencode
    from plugin.services.queue import send_after_commit
    from plugin.storage import get_storage, keys

    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("name is required for a custom pose set", code="invalid_pose_set")
    try:
        png, digest, _, _ = reencode(photo, FetchPolicy(shop_domain=shop.domain, max_side=2048))
    except FetchRejected as exc:
        raise InvalidRequest(str(exc), code="invalid_photo") from None
    key = keys.reference_photo(shop.domain, digest)
    get_storage().put(key, png, "image/png")
    set_id = _slug(name)
    doc: dict[str, Any] = {"schema": library.SET_SCHEMA, "id": set_id, "version": 1, "name": name.strip()[:80],
           "description": "Pose taken from a reference photo.", "category": "custom", "poses": []}  # fmt: skip
    row = db.session.scalars(
        select(CustomPoseSet).where(CustomPoseSet.shop_id == shop.id, CustomPoseSet.set_id == set_id)
    ).first()
    if row is None:
        row = CustomPoseSet(shop_id=shop.id, set_id=set_id, name=doc["name"], version=1, document=doc)
        db.session.add(row)
    else:
        doc["version"] = row.version + 1
        row.version, row.document = doc["version"], doc
    row.status, row.error_message = "extracting", None
    db.session.flush()
    send_after_commit(TaskName.EXTRACT_POSE, **ExtractPoseRequest(
        pose_set_row_id=row.id, photo_key=key, pose_id="from-photo", pose_name=name.strip()[:80]).to_kwargs())
    db.session.commit()
    return row


def record_extracted_pose(row_id: int, pose: dict[str, Any] | None, error: str | None) -> None:
    """The GPU worker read (or could not read) the reference photo's pose. Commits."""
    row = db.session.get(CustomPoseSet, row_id)
    if row is None or row.status != "extracting":
        return
    if pose is None:
        row.status, row.error_message = "failed", error or "no pose was found in the photo; use a full-body photo"
    else:
        row.document = {**row.document, "poses": [pose]}
        row.status = "ready"
    db.session.commit()
