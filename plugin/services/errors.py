"""Errors of the job layer that reach the merchant: each carries an API code, an HTTP status and a message that says
what was wrong and what to do."""

from __future__ import annotations

from plugin.errors import PluginError


class JobLayerError(PluginError):
    code = "invalid_request"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 fields: list[dict[str, str]] | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.message = message
        # which request fields were wrong and how ({"field", "message"}), when a request model said so
        self.fields = fields
        if code:
            self.code = code
        if status:
            self.status = status


class InvalidRequest(JobLayerError):
    pass


class NotFound(JobLayerError):
    code = "not_found"
    status = 404


class Conflict(JobLayerError):
    code = "conflict"
    status = 409


class DailyLimitReached(JobLayerError):
    code = "daily_limit_reached"
    status = 429


class StorageUnavailable(JobLayerError):
    """Object storage refused a read or write (disk full, read-only, unreachable bucket). Transient: tasks retry it a
    bounded number of times, then record it on the job."""

    code = "storage_unavailable"
    status = 503

    @classmethod
    def from_error(cls, exc: BaseException, doing: str) -> StorageUnavailable:
        # strerror, not str(exc): the merchant sees the reason, never our paths or bucket names
        what = getattr(exc, "strerror", None) or type(exc).__name__
        return cls(f"our image storage failed while {doing} ({what}); this is a problem on our side, nothing is "
                   "wrong with your product: try again in a few minutes")  # fmt: skip


def storage_errors() -> tuple[type[BaseException], ...]:
    """What a storage backend raises when the storage itself fails: OSError (local disk, network mounts), the
    storage layer's own StorageError except KeyMissing (handled by callers), and botocore's errors for S3."""
    from gpu_worker.storage import StorageError

    found: list[type[BaseException]] = [OSError, StorageError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # the s3 extra is not installed
        pass
    else:
        found += [BotoCoreError, ClientError]
    return tuple(found)
