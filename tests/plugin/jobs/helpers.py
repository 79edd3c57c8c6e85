"""Building blocks of the job-layer tests: a job whose generation is done (outputs and manifest in storage), as the
GPU worker would leave it, without running a GPU worker."""

from __future__ import annotations

import json
from typing import Any

from gpu_worker.contract import OutputRecord, ResultManifest
from plugin.extensions import db
from plugin.models.job import JobMode, JobState
from plugin.models.shop import Shop
from plugin.services import admission, jobs, limits, pose_sets
from plugin.storage import get_storage, keys
from tests.plugin.jobs.conftest import person_png


def new_job(shop: Shop, product_id: str, *, mode: JobMode = JobMode.REVIEW, poses: list[str] | None = None,
            source_url: str | None = None) -> int:  # fmt: skip
    """A queued job, its daily-limit unit reserved as the services do. Commits; call inside an app context."""
    pose_set = pose_sets.resolve(shop, "catalog-basics")
    limits.reserve(shop, 1)
    job, created = admission.get_or_create_job(shop, admission.JobRequest(
        product_id=product_id, pose_set=pose_set, product_title="Linen shirt", mode=mode, poses=poses,
        source_url=source_url or f"https://cdn.shopify.com/s/files/{product_id.rsplit('/', 1)[-1]}.png",
    ))  # fmt: skip
    assert created
    db.session.commit()
    return job.id


def generated_job(shop: Shop, product_id: str, passed: list[bool], *, mode: JobMode = JobMode.AUTO,
                  seconds: float = 0.5) -> tuple[int, str]:  # fmt: skip
    """A job in `generating` whose run finished: one output per entry of `passed` (its quality check result) and the
    result manifest in storage. Returns (job id, manifest key). Commits; call inside an app context."""
    poses = [p["id"] for p in pose_sets.resolve(shop, "catalog-basics").document["poses"]][: len(passed)]
    job_id = new_job(shop, product_id, mode=mode, poses=poses)
    spec_key = keys.spec(shop.domain, job_id, "main")
    source_hash = f"{job_id:064x}"  # what fetching leaves: the source's pixel hash and its key in storage
    source_key = keys.source(shop.domain, source_hash)
    storage = get_storage()
    storage.put(source_key, person_png(64), "image/png")
    assert jobs.transition(job_id, JobState.GENERATING, from_states=[JobState.QUEUED], spec_key=spec_key,
                           pending_runs=1, source_hash=source_hash, source_key=source_key)  # fmt: skip
    db.session.commit()
    records: list[dict[str, Any]] = []
    for pose_id, ok in zip(poses, passed, strict=True):
        key = keys.output(shop.domain, job_id, pose_id, 0)
        storage.put(key, person_png(64), "image/png")
        records.append(OutputRecord(
            pose_id=pose_id, pose_name=pose_id.replace("-", " "), key=key, seed=0, oks=0.9 if ok else 0.3,
            pck=0.95 if ok else 0.4, passed=ok, reasons=[] if ok else ["the left arm is too short"], width=64,
            height=64, seconds=seconds,
        ).to_kwargs())  # fmt: skip
    manifest_key = keys.manifest_for_spec(spec_key)
    manifest = ResultManifest(job_id=job_id, run="main", outputs=records, seconds=seconds * len(records),
                              backend="warp")  # fmt: skip
    storage.put(manifest_key, json.dumps(manifest.to_kwargs()).encode(), "application/json")
    return job_id, manifest_key
