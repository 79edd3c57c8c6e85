"""Object storage shared by the web side and the GPU workers: a local directory or an S3-compatible bucket.

It lives in `gpu_worker` (pure Python, no Flask) because the GPU side must never import `plugin`, while `plugin` may
import light `gpu_worker` modules; `plugin.storage` re-exports it. Configured by one URL both sides read from the
environment, `POSE_STUDIO_STORAGE_URL`:

- `file:///var/lib/pose-studio/storage` (default: `./instance/storage`)
- `s3://bucket/optional/prefix?endpoint_url=https://minio:9000&region=eu-west-1` (needs the `s3` extra: boto3)

Every key starts with the shop's namespace (`keys.shop_prefix`) so that `delete_prefix` removes everything of a shop.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlparse

from gpu_worker.errors import PoseStudioError

STORAGE_URL_ENV = "POSE_STUDIO_STORAGE_URL"

# Keys are relative paths of safe segments: no "..", no absolute paths, no backslashes, no control characters.
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=-]{0,199}$")


class StorageError(PoseStudioError):
    """Storage misconfigured or unreachable."""


class KeyMissing(StorageError, KeyError):
    """No object under that key."""


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or any(not _SEGMENT.match(p) for p in parts):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class Storage(Protocol):
    url: str

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str) -> list[str]: ...

    def delete_prefix(self, prefix: str) -> int: ...


class LocalStorage:
    """A directory; writes are atomic (temp file + rename) so a reader never sees half an image."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyMissing(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _walk(self, prefix: str) -> Iterator[Path]:
        base = self.root / check_key(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if base.is_file():
            yield base
        elif base.is_dir():
            yield from (p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))

    def list(self, prefix: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self._walk(prefix))

    def delete_prefix(self, prefix: str) -> int:
        import shutil

        if not prefix.strip("/"):
            raise ValueError("refusing to delete the whole storage")
        base = self.root / check_key(prefix.rstrip("/"))
        n = sum(1 for _ in self._walk(prefix))
        if base.is_dir():
            shutil.rmtree(base, ignore_errors=True)
        elif base.is_file():
            base.unlink(missing_ok=True)
        return n


class S3Storage:
    """An S3-compatible bucket (AWS, MinIO, R2) through boto3, imported only when used."""

    def __init__(self, bucket: str, prefix: str = "", **client_kwargs: Any) -> None:
        try:
            import boto3
        except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
            raise StorageError("s3:// storage needs boto3: pip install 'pose-studio[s3]'") from exc
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}"
        self._client = boto3.client("s3", **client_kwargs)

    def _k(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._client.put_object(Bucket=self.bucket, Key=self._k(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=self._k(key))["Body"].read()
        except self._client.exceptions.NoSuchKey:
            raise KeyMissing(key) from None

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._k(key))
            return True
        except self._client.exceptions.ClientError:
            return False

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._k(key))

    def list(self, prefix: str) -> list[str]:
        full = self._k(prefix.rstrip("/")) + "/"
        out: list[str] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            out += [o["Key"][len(self.prefix) + 1 if self.prefix else 0 :] for o in page.get("Contents", [])]
        return sorted(out)

    def delete_prefix(self, prefix: str) -> int:
        if not prefix.strip("/"):
            raise ValueError("refusing to delete the whole storage")
        keys = self.list(prefix)
        for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            batch = [{"Key": self._k(k)} for k in keys[i : i + 1000]]
            self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)


def default_storage_url() -> str:
    return os.environ.get(STORAGE_URL_ENV) or Path("instance/storage").resolve().as_uri()


def storage_from_url(url: str | None = None) -> Storage:
    """Build the storage named by `url` (default: `$POSE_STUDIO_STORAGE_URL`, else ./instance/storage)."""
    url = url or default_storage_url()
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(unquote(parsed.path))
    if parsed.scheme == "s3":
        q = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        kwargs: dict[str, Any] = {}
        if "endpoint_url" in q:
            kwargs["endpoint_url"] = q["endpoint_url"]
        if "region" in q:
            kwargs["region_name"] = q["region"]
        return S3Storage(parsed.netloc, parsed.path, **kwargs)
    raise StorageError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket/prefix")


# --- key layout (deterministic: a rerun overwrites instead of duplicating) -----------------------------------------


class keys:  # noqa: N801 - a namespace of key builders
    @staticmethod
    def shop_prefix(shop: str) -> str:
        return check_key(shop.lower())

    @staticmethod
    def source(shop: str, content_hash: str) -> str:
        return f"{keys.shop_prefix(shop)}/sources/{content_hash}.png"

    @staticmethod
    def job_dir(shop: str, job_id: int) -> str:
        return f"{keys.shop_prefix(shop)}/jobs/{job_id}"

    @staticmethod
    def spec(shop: str, job_id: int, run: str) -> str:
        return f"{keys.job_dir(shop, job_id)}/spec-{run}.json"

    @staticmethod
    def manifest_for_spec(spec_key: str) -> str:
        head, _, name = spec_key.rpartition("/")
        return f"{head}/result-{name.removeprefix('spec-')}"

    @staticmethod
    def attempts_for_spec(spec_key: str) -> str:
        head, _, name = spec_key.rpartition("/")
        return f"{head}/attempts-{name.removeprefix('spec-')}"

    @staticmethod
    def output(shop: str, job_id: int, pose_id: str, seed: int, fmt: str = "png") -> str:
        return f"{keys.job_dir(shop, job_id)}/{check_key(pose_id)}-{seed}.{fmt}"

    @staticmethod
    def reference_photo(shop: str, digest: str) -> str:
        return f"{keys.shop_prefix(shop)}/pose-sets/{digest}.png"
