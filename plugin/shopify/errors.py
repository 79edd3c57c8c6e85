"""Exceptions for calls to Shopify's Admin API. Catch `ShopifyError` for all of them.

ShopifyError
├── ShopifyUnavailable        retries exhausted (429, 5xx, timeouts, THROTTLED): try again later
│   └── ShopifyOutcomeUnknown  a write timed out / got a 5xx after it was sent: it may have run; re-read before redoing
├── ShopifyUnauthorized       401/403: the access token is invalid or revoked (app uninstalled?)
├── ShopifyRequestError       any other HTTP error (404 unknown API version or shop, 4xx)
├── ShopifyGraphQLError       top-level GraphQL `errors` (validation, MAX_COST_EXCEEDED, ...)
├── ShopifyUserError          a mutation's `userErrors` / `mediaUserErrors`
└── MediaError                media write-back problems
    ├── MediaProcessingFailed  Shopify marked the media FAILED (its reason is in the message)
    └── MediaNotReady          media did not become READY before the deadline
"""

from __future__ import annotations

from typing import Any


class ShopifyError(Exception):
    """Base class: a call to Shopify did not do what was asked."""


class ShopifyUnavailable(ShopifyError):
    def __init__(self, message: str, *, attempts: int = 0, last_cause: str = ""):
        super().__init__(message)
        self.attempts = attempts
        self.last_cause = last_cause


class ShopifyOutcomeUnknown(ShopifyUnavailable):
    """The request may or may not have taken effect (e.g. a mutation whose response never arrived)."""


class ShopifyUnauthorized(ShopifyError):
    pass


class ShopifyRequestError(ShopifyError):
    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


class ShopifyGraphQLError(ShopifyError):
    def __init__(self, message: str, *, errors: list[dict[str, Any]], data: Any = None):
        super().__init__(message)
        self.errors = errors
        self.data = data

    @property
    def codes(self) -> list[str]:
        return [str((e.get("extensions") or {}).get("code", "")) for e in self.errors]


class ShopifyAccessDenied(ShopifyGraphQLError):
    """ACCESS_DENIED: the shop has not granted a scope the request needs (an optional scope declined, or scopes
    changed in shopify.app.toml that the merchant has not approved yet). Not retried: only the merchant can grant it."""

    @property
    def required(self) -> list[str]:
        return [str((e.get("extensions") or {}).get("requiredAccess") or "") for e in self.errors]


class ShopifyUserError(ShopifyError):
    def __init__(self, message: str, *, user_errors: list[dict[str, Any]]):
        super().__init__(message)
        self.user_errors = user_errors

    @property
    def codes(self) -> list[str]:
        return [str(e.get("code") or "") for e in self.user_errors]


class MediaError(ShopifyError):
    pass


class MediaProcessingFailed(MediaError):
    def __init__(self, message: str, *, media_id: str, code: str):
        super().__init__(message)
        self.media_id = media_id
        self.code = code


class MediaNotReady(MediaError):
    pass


class BulkOperationFailed(ShopifyError):
    pass
