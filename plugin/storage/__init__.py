"""Object storage for the web side: the shared implementation in `gpu_worker.storage`, bound to the Flask app.

The storage code lives in `gpu_worker.storage` (pure Python, no Flask) because both deployables need it and the GPU
side must never import `plugin`; see docs/JOBS.md. Configuration: `POSE_STUDIO_STORAGE_URL` (app config or
environment); default `file://<instance folder>/storage`.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import current_app

from gpu_worker.storage import STORAGE_URL_ENV, KeyMissing, Storage, StorageError, keys, storage_from_url

__all__ = ["KeyMissing", "Storage", "StorageError", "delete_shop", "get_storage", "keys", "storage_url"]


def storage_url() -> str:
    return (
        current_app.config.get(STORAGE_URL_ENV)
        or os.environ.get(STORAGE_URL_ENV)
        or (Path(current_app.instance_path) / "storage").resolve().as_uri()
    )


def get_storage() -> Storage:
    """The current app's storage (built once per app)."""
    storage = current_app.extensions.get("pose_studio_storage")
    if storage is None:
        storage = storage_from_url(storage_url())
        current_app.extensions["pose_studio_storage"] = storage
    return storage


def delete_shop(shop_domain: str) -> int:
    """Delete every object of a shop (shop/redact); returns how many were deleted."""
    return get_storage().delete_prefix(keys.shop_prefix(shop_domain))
