"""The JSON form of jobs and outputs that the API returns (one place, so every route shows the same shape)."""

from __future__ import annotations

from typing import Any

from plugin.models.job import Job
from plugin.models.output import Output
from plugin.services.jobs import needs_review, outputs_of


def output_to_dict(o: Output) -> dict[str, Any]:
    return {
        "id": o.id, "job_id": o.job_id, "pose_id": o.pose_id, "pose_name": o.pose_name, "position": o.position,
        "seed": o.seed, "width": o.width, "height": o.height,
        "scores": {"oks": o.oks, "pck": o.pck}, "passed": o.passed, "reasons": o.reasons or [],
        "decision": o.decision.value, "regenerating": o.regenerating, "variant_id": o.variant_id,
        "shopify_media_id": o.shopify_media_id, "published": o.published_at is not None,
        "image_url": f"/api/outputs/{o.id}/image",
    }  # fmt: skip


def job_to_dict(job: Job, *, with_outputs: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id, "state": job.state.value, "progress": job.progress, "stage": job.stage,
        "mode": job.mode.value, "origin": job.origin.value, "bulk_id": job.bulk_id,
        "product_id": job.product_id, "variant_id": job.variant_id, "product_title": job.product_title,
        "pose_set": {"id": job.pose_set_id, "version": job.pose_set_version}, "poses": job.poses,
        "backend": job.backend, "attempts": job.attempts, "duplicate_of": job.duplicate_of_id,
        "error": {"code": job.error_code, "message": job.error_message} if job.error_message else None,
        "needs_review": needs_review(job),
        "created_at": job.created_at.isoformat(), "updated_at": job.updated_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }  # fmt: skip
    if with_outputs:
        data["outputs"] = [output_to_dict(o) for o in outputs_of(job)]
    return data
