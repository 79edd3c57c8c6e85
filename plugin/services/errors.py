"""Errors of the job layer that reach the merchant: each carries an API code, an HTTP status and a message that says
what was wrong and what to do."""

from __future__ import annotations

from plugin.errors import PluginError


class JobLayerError(PluginError):
    code = "invalid_request"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
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
