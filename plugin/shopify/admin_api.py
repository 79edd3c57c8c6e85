"""Admin GraphQL client: one shop, one token provider, cost-aware pacing, bounded retries, partial data kept.

    client = AdminClient(shop, lambda: get_access_token(shop), api_version="2026-07", redis=redis)
    result = client.execute(operations.PRODUCT_WITH_MEDIA, {"id": gid})
    result.data, result.errors, result.cost

Retried (exponential backoff with jitter, at most `max_retries` times, then ShopifyUnavailable):
THROTTLED (HTTP 200 with errors[].extensions.code, the bucket's own wait), HTTP 429 (Retry-After), 5xx and
timeouts. A write that is not resend-safe is NOT resent after a timeout or 5xx, because it may already have run:
the caller gets ShopifyOutcomeUnknown and re-reads before redoing (see media.py).
Tokens never reach a log line; counters live in `AdminApiMetrics` (one instance per process by default).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from redis import Redis

from plugin.shopify.errors import (
    ShopifyAccessDenied,
    ShopifyGraphQLError,
    ShopifyOutcomeUnknown,
    ShopifyRequestError,
    ShopifyUnauthorized,
    ShopifyUnavailable,
    ShopifyUserError,
)
from plugin.shopify.operations import Operation
from plugin.shopify.pacing import CostPacer, ThrottleStatus
from plugin.shopify.urls import admin_url

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (3.05, 20.0)  # (connect, read) seconds
DEFAULT_QUERY_COST = 50  # expected cost before the first response teaches us the real one
DEFAULT_MUTATION_COST = 10


@dataclass(frozen=True)
class QueryCost:
    requested: int
    actual: int | None
    throttle_status: ThrottleStatus | None

    @classmethod
    def from_extensions(cls, extensions: dict[str, Any] | None) -> QueryCost | None:
        cost = (extensions or {}).get("cost")
        if not cost:
            return None
        status = cost.get("throttleStatus")
        return cls(
            int(cost.get("requestedQueryCost") or 0),
            None if cost.get("actualQueryCost") is None else int(cost["actualQueryCost"]),
            ThrottleStatus.from_extensions(status) if status else None,
        )


@dataclass
class GraphQLResult:
    """`data` is kept even when `errors` is not empty (Shopify returns partial data with field errors)."""

    operation: str
    data: dict[str, Any] | None
    errors: list[dict[str, Any]]
    cost: QueryCost | None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def fields(self) -> dict[str, Any]:
        """`data`, or {} when Shopify returned none (after raise_for_errors() it is the full data)."""
        return self.data or {}

    def raise_for_errors(self) -> GraphQLResult:
        if self.errors:
            denied = [e for e in self.errors if (e.get("extensions") or {}).get("code") == "ACCESS_DENIED"]
            if denied:
                needs = "; ".join(sorted({str((e.get("extensions") or {}).get("requiredAccess") or "a scope")
                                          for e in denied}))  # fmt: skip
                raise ShopifyAccessDenied(
                    f"Shopify refused {self.operation}: the store has not granted Pose Studio {needs} Open Pose "
                    "Studio from the Shopify admin to review and grant its access, then try again.",
                    errors=self.errors,
                    data=self.data,
                )
            messages = "; ".join(str(e.get("message")) for e in self.errors)
            raise ShopifyGraphQLError(f"{self.operation}: {messages}", errors=self.errors, data=self.data)
        return self

    def user_errors(self, *path: str) -> list[dict[str, Any]]:
        """userErrors (or mediaUserErrors) under data[path...]; [] when the field is absent."""
        node: Any = self.data or {}
        for key in path:
            node = (node or {}).get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return []
        return list(node.get("userErrors") or []) + list(node.get("mediaUserErrors") or [])

    def raise_for_user_errors(self, *path: str) -> GraphQLResult:
        self.raise_for_errors()
        errors = self.user_errors(*path)
        if errors:
            detail = "; ".join(f"{e.get('code') or ''} {e.get('message')}".strip() for e in errors)
            raise ShopifyUserError(f"{self.operation}: {detail}", user_errors=errors)
        return self


@dataclass
class AdminApiMetrics:
    """Counters of Admin API use in this process; `listeners` get (event, fields) for Prometheus and friends."""

    requests: Counter = field(default_factory=Counter)  # operation -> HTTP requests sent
    cost: Counter = field(default_factory=Counter)  # operation -> actual points charged
    requested_cost: Counter = field(default_factory=Counter)
    throttled: Counter = field(default_factory=Counter)  # operation -> THROTTLED answers
    retries: Counter = field(default_factory=Counter)  # cause -> retries
    pacing_wait_s: float = 0.0
    listeners: list[Callable[[str, dict[str, Any]], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def emit(self, event: str, **fields: Any) -> None:
        with self._lock:
            op = fields.get("operation", "")
            if event == "request":
                self.requests[op] += 1
            elif event == "cost":
                self.cost[op] += fields.get("actual") or 0
                self.requested_cost[op] += fields.get("requested") or 0
            elif event == "throttled":
                self.throttled[op] += 1
            elif event == "retry":
                self.retries[fields.get("cause", "")] += 1
            elif event == "pacing_wait":
                self.pacing_wait_s += fields.get("seconds", 0.0)
        for listener in list(self.listeners):
            try:
                listener(event, fields)
            except Exception:  # a metrics hook must never break a Shopify call
                log.exception("admin api metrics listener failed")

    def total_requests(self) -> int:
        return sum(self.requests.values())

    def total_cost(self) -> int:
        return sum(self.cost.values())

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.cost.clear()
            self.requested_cost.clear()
            self.throttled.clear()
            self.retries.clear()
            self.pacing_wait_s = 0.0


METRICS = AdminApiMetrics()


def prometheus_listener(event: str, fields: dict[str, Any]) -> None:
    """Feeds the process's AdminApiMetrics events to Prometheus (pose_studio.metrics):
    requests by outcome (ok with the points charged, throttled, error) and the time spent waiting for the bucket."""
    from pose_studio import metrics

    operation = str(fields.get("operation") or "unknown")
    if event == "cost":
        metrics.record_shopify_request(operation, "ok", cost_points=fields.get("actual") or 0)
    elif event == "throttled":
        metrics.record_shopify_request(operation, "throttled")
    elif event == "retry" and fields.get("cause") != "throttled":  # a THROTTLED answer was counted above
        metrics.record_shopify_request(operation, "error")
    elif event == "error":
        metrics.record_shopify_request(operation, "error")
    elif event == "pacing_wait":
        metrics.observe_throttle_wait(float(fields.get("seconds") or 0.0))


METRICS.listeners.append(prometheus_listener)


@dataclass(frozen=True)
class _Retry:
    cause: str
    delay: float | None


class AdminClient:
    """GraphQL client for one shop's Admin API; safe to share between threads."""

    def __init__(
        self,
        shop: str,
        token_provider: Callable[[], str],
        *,
        api_version: str,
        admin_origin: str | None = None,
        redis: Redis | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        on_unauthorized: Callable[[], None] | None = None,
        metrics: AdminApiMetrics | None = None,
        pacer: CostPacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.shop = shop
        self.token_provider = token_provider
        self.api_version = api_version
        self.url, self._route_headers = admin_url(
            shop, f"/admin/api/{api_version}/graphql.json", config={"SHOPIFY_ADMIN_ORIGIN": admin_origin or ""}
        )
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.on_unauthorized = on_unauthorized
        self.metrics = metrics or METRICS
        self.pacer = pacer or CostPacer(redis, sleep=sleep)
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - backoff jitter, not a secret

    # -- public -------------------------------------------------------------------------------------------
    def execute(
        self, operation: Operation, variables: dict[str, Any] | None = None, *, resend_safe: bool | None = None
    ) -> GraphQLResult:
        """Send one named operation. Raises ShopifyUnavailable / ShopifyOutcomeUnknown / ShopifyUnauthorized /
        ShopifyRequestError; GraphQL `errors` are returned on the result (call raise_for_errors())."""
        safe = operation.idempotent if resend_safe is None else resend_safe
        body: dict[str, Any] = {
            "query": operation.document,
            "variables": variables or {},
            "operationName": operation.name,
        }
        default_cost = DEFAULT_MUTATION_COST if operation.is_mutation else DEFAULT_QUERY_COST
        # a query's cost scales with its page sizes and id lists; a mutation's does not
        sized = None if operation.is_mutation else (variables or {})
        expected = self.pacer.expected_cost(self.shop, operation.name, default_cost, sized)
        reauthorized = False
        last_cause = ""
        for attempt in range(1, self.max_retries + 2):
            waited = self.pacer.reserve(self.shop, expected)
            if waited:
                self.metrics.emit("pacing_wait", operation=operation.name, seconds=waited, shop=self.shop)
            self.metrics.emit("request", operation=operation.name, shop=self.shop)
            started = time.monotonic()
            try:
                response = self.session.post(
                    self.url, json=body, headers=self._headers(), timeout=self.timeout, allow_redirects=False
                )
            except requests.ConnectTimeout:
                last_cause = "connect timeout"  # never reached Shopify: always safe to resend
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_cause = f"{type(exc).__name__}"
                if not safe:
                    self.metrics.emit("error", operation=operation.name, cause=last_cause, shop=self.shop)
                    raise ShopifyOutcomeUnknown(
                        f"{operation.name} to {self.shop}: no answer ({last_cause}); it may have run. "
                        "Re-read the resource before repeating it.",
                        attempts=attempt,
                        last_cause=last_cause,
                    ) from exc
            else:
                elapsed = time.monotonic() - started
                outcome = self._handle(operation, response, safe, attempt, elapsed, sized)
                if isinstance(outcome, GraphQLResult):
                    return outcome
                if isinstance(outcome, str):  # "unauthorized"
                    if reauthorized or self.on_unauthorized is None:
                        raise ShopifyUnauthorized(
                            f"Shopify rejected the access token for {self.shop} (HTTP {response.status_code}). "
                            "The app may have been uninstalled or the token expired: get a new token."
                        )
                    reauthorized = True
                    self.on_unauthorized()
                    continue
                last_cause, delay = outcome.cause, outcome.delay
                if delay is not None and attempt <= self.max_retries:
                    self.metrics.emit("retry", operation=operation.name, cause=last_cause, shop=self.shop)
                    self.sleep(delay)
                    continue
            if attempt > self.max_retries:
                break
            self.metrics.emit("retry", operation=operation.name, cause=last_cause, shop=self.shop)
            self.sleep(self._backoff(attempt))
        raise ShopifyUnavailable(
            f"Shopify did not complete {operation.name} for {self.shop} after {self.max_retries + 1} attempts "
            f"(last: {last_cause}). Shopify may be degraded or the shop's API budget exhausted; retry later.",
            attempts=self.max_retries + 1,
            last_cause=last_cause,
        )

    # -- internals ----------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self._route_headers)
        headers["X-Shopify-Access-Token"] = self.token_provider()
        return headers

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * (2 ** (attempt - 1)))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)  # "equal jitter"

    def _handle(
        self,
        operation: Operation,
        response: requests.Response,
        safe: bool,
        attempt: int,
        elapsed: float,
        sized: dict[str, Any] | None = None,
    ) -> GraphQLResult | str | _Retry:
        """A result, "unauthorized", or a _Retry (delay None: the default backoff)."""
        status = response.status_code
        reason = response.headers.get("X-Shopify-API-Deprecated-Reason")
        if reason:
            log.warning("Shopify reports deprecated API use in %s (%s): %s", operation.name, self.api_version, reason)
        if status in (401, 403):
            return "unauthorized"
        if status == 429:
            return _Retry("http 429", self._retry_after(response, attempt))
        if status >= 500:
            if not safe:
                self.metrics.emit("error", operation=operation.name, cause=f"http {status}", shop=self.shop)
                raise ShopifyOutcomeUnknown(
                    f"{operation.name} to {self.shop}: HTTP {status}; it may have run. "
                    "Re-read the resource before repeating it.",
                    attempts=attempt,
                    last_cause=f"http {status}",
                )
            return _Retry(f"http {status}", None)
        if status != 200:
            self.metrics.emit("error", operation=operation.name, cause=f"http {status}", shop=self.shop)
            raise ShopifyRequestError(
                f"{operation.name} to {self.shop} failed with HTTP {status}"
                + (" (unknown API version or shop)" if status == 404 else "")
                + f": {response.text[:200]}",
                status=status,
            )
        try:
            payload = response.json()
        except ValueError:
            return _Retry("invalid json", None)
        errors = payload.get("errors") or []
        if isinstance(errors, str):  # REST-style error string
            errors = [{"message": errors}]
        cost = QueryCost.from_extensions(payload.get("extensions"))
        if cost and cost.throttle_status:
            self.pacer.record(
                self.shop,
                cost.throttle_status,
                operation=operation.name,
                requested_cost=cost.requested,
                variables=sized,
            )
        if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
            self.metrics.emit("throttled", operation=operation.name, shop=self.shop)
            delay = None
            if cost and cost.throttle_status and cost.throttle_status.restore_rate > 0:
                deficit = cost.requested - cost.throttle_status.currently_available
                delay = max(deficit, 0) / cost.throttle_status.restore_rate + self.rng.uniform(0, 0.05)
            return _Retry("throttled", delay)  # nothing ran: always safe to resend
        if cost:
            self.metrics.emit(
                "cost",
                operation=operation.name,
                requested=cost.requested,
                actual=cost.actual,
                shop=self.shop,
                seconds=elapsed,
            )
        return GraphQLResult(operation.name, payload.get("data"), list(errors), cost, attempt)

    def _retry_after(self, response: requests.Response, attempt: int) -> float:
        value = response.headers.get("Retry-After")
        try:
            return min(self.backoff_cap_s * 4, max(0.0, float(value))) if value else self._backoff(attempt)
        except ValueError:  # an HTTP-date or garbage: fall back to our own schedule
            return self._backoff(attempt)
