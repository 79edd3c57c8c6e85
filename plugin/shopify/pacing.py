"""Cost-aware pacing per shop, shared by every process through Redis.

Shopify meters the Admin GraphQL API with a leaky bucket per app and shop (restore 100/200/1000/2000 points/s
by plan) and answers an over-budget query with THROTTLED. Every response carries the bucket's state
(`extensions.cost.throttleStatus`); we keep the last one per shop in Redis and, before sending, reserve the
query's expected cost from the estimated bucket. A caller that would overdraw it sleeps
(cost - available) / restoreRate first. Reservations may drive the estimate negative, so concurrent workers
queue up behind each other instead of all firing at once. Without Redis (or before the first response) nothing
waits; THROTTLED is then handled by the client's retry.

A query's cost depends on its variables as much as on its document: `products(first: $first)` asks for
2 + first x (one product), `nodes(ids: $ids)` for len(ids) x (one node). So the expected cost is learned per
operation AND size (the `first`/`last` numbers and list lengths in the variables, `request_size`); a size not
seen yet is estimated from the nearest one seen, scaled by the size ratio (costs grow at most linearly with each
size), never from the name alone. Mutations cost the same whatever their inputs (10 points per field).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis

KEY_PREFIX = "pose-studio:shopify:bucket:"
COST_PREFIX = "pose-studio:shopify:cost:"
STATE_TTL_S = 3600
MAX_QUERY_COST = 1000  # Shopify refuses (MAX_COST_EXCEEDED) anything above: no estimate needs to be higher
SIZE_NAMES = ("first", "last")


def request_size(variables: Mapping[str, Any] | None) -> tuple[tuple[str, int], ...]:
    """The variables that set a query's size: every `first`/`last` number and every list's length, by path."""
    dims: list[tuple[str, int]] = []

    def walk(path: str, value: Any) -> None:
        if isinstance(value, list):
            dims.append((path, len(value)))
        elif isinstance(value, Mapping):
            for key in sorted(value):
                walk(f"{path}.{key}" if path else str(key), value[key])
        elif isinstance(value, int) and not isinstance(value, bool):
            name = path.rsplit(".", 1)[-1]
            if name in SIZE_NAMES or name.endswith(("First", "Last")):
                dims.append((path, value))

    walk("", variables or {})
    return tuple(dims)


def _signature(size: tuple[tuple[str, int], ...]) -> str:
    return ",".join(f"{path}={n}" for path, n in size)


def _magnitude(size: tuple[tuple[str, int], ...]) -> int:
    return math.prod(max(1, n) for _, n in size)


def _scaled(known: dict[str, int], size: tuple[tuple[str, int], ...]) -> int | None:
    """An upper bound for `size` from costs seen at other sizes of the same operation (field: signature).

    Cost is a + b x n with a, b >= 0 in each size, so from a smaller size k: cost(n) <= cost(k) x n / k, and from a
    larger one cost(n) <= cost(k). The closest size seen gives the tightest bound."""
    if not known:
        return None
    wanted = _magnitude(size)
    best: int | None = None
    for signature, cost in known.items():
        seen = math.prod(max(1, int(part.rsplit("=", 1)[1])) for part in signature.split(",") if "=" in part)
        bound = cost if seen >= wanted else math.ceil(cost * wanted / max(1, seen))
        best = bound if best is None else min(best, bound)
    return None if best is None else min(best, MAX_QUERY_COST)

# KEYS[1] bucket hash; ARGV: now, cost. Returns the seconds to wait (string) after reserving `cost`.
_RESERVE = """
local available = tonumber(redis.call('HGET', KEYS[1], 'available'))
if not available then return '0' end
local maximum = tonumber(redis.call('HGET', KEYS[1], 'maximum'))
local rate = tonumber(redis.call('HGET', KEYS[1], 'rate'))
local stamp = tonumber(redis.call('HGET', KEYS[1], 'stamp'))
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local current = math.min(maximum, available + math.max(0, now - stamp) * rate)
local after = current - cost
redis.call('HSET', KEYS[1], 'available', tostring(after), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], ARGV[3])
if after >= 0 or rate <= 0 then return '0' end
return tostring(-after / rate)
"""


@dataclass(frozen=True)
class ThrottleStatus:
    maximum_available: float
    currently_available: float
    restore_rate: float

    @classmethod
    def from_extensions(cls, status: dict) -> ThrottleStatus:
        return cls(
            float(status["maximumAvailable"]),
            float(status["currentlyAvailable"]),
            float(status["restoreRate"]),
        )


class CostPacer:
    """Reserve before sending (`reserve`), record Shopify's figures after (`record`)."""

    def __init__(
        self,
        redis: Redis | None,
        *,
        key_prefix: str = KEY_PREFIX,
        max_wait_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.redis = redis
        self.key_prefix = key_prefix
        self.max_wait_s = max_wait_s
        self.clock = clock
        self.sleep = sleep
        self._reserve = redis.register_script(_RESERVE) if redis is not None else None
        self._local_costs: dict[str, dict[str, int]] = {}  # operation -> size signature -> requested cost

    def _key(self, shop: str) -> str:
        return f"{self.key_prefix}{shop}"

    def expected_cost(
        self, shop: str, operation: str, default: int, variables: Mapping[str, Any] | None = None
    ) -> int:
        """The requested cost last seen for this operation at this size; else scaled from another size seen
        (`_scaled`); else `default`. Pass `variables=None` for operations whose cost does not vary (mutations)."""
        size = request_size(variables)
        known = self._known_costs(operation)
        exact = known.get(_signature(size))
        if exact is not None:
            return exact
        estimate = _scaled(known, size)
        return default if estimate is None else max(estimate, 1)

    def _known_costs(self, operation: str) -> dict[str, int]:
        if self.redis is None:
            return dict(self._local_costs.get(operation, {}))
        prefix = f"{operation}|"
        known: dict[str, int] = {}
        for raw_field, raw_value in self.redis.hgetall(f"{self.key_prefix}costs").items():
            name = raw_field.decode() if isinstance(raw_field, bytes) else str(raw_field)
            if name.startswith(prefix):
                known[name[len(prefix):]] = int(raw_value)
        return known

    def reserve(self, shop: str, cost: int) -> float:
        """Reserve `cost` points for `shop`; sleeps when the bucket would be overdrawn. Returns seconds slept."""
        if self._reserve is None or cost <= 0:
            return 0.0
        wait = float(self._reserve(keys=[self._key(shop)], args=[repr(self.clock()), cost, STATE_TTL_S]))
        wait = min(wait, self.max_wait_s)
        if wait > 0:
            self.sleep(wait)
        return wait

    def record(
        self,
        shop: str,
        status: ThrottleStatus,
        *,
        operation: str | None = None,
        requested_cost: int | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        """Store Shopify's view of the bucket (authoritative) and the operation's requested cost at this size."""
        cost_field = f"{operation}|{_signature(request_size(variables))}" if operation else ""
        if operation and requested_cost is not None:
            self._local_costs.setdefault(operation, {})[_signature(request_size(variables))] = requested_cost
        if self.redis is None:
            return
        pipe = self.redis.pipeline()
        pipe.hset(
            self._key(shop),
            mapping={
                "available": repr(status.currently_available),
                "maximum": repr(status.maximum_available),
                "rate": repr(status.restore_rate),
                "stamp": repr(self.clock()),
            },
        )
        pipe.expire(self._key(shop), STATE_TTL_S)
        if operation and requested_cost is not None:
            pipe.hset(f"{self.key_prefix}costs", cost_field, requested_cost)
            pipe.expire(f"{self.key_prefix}costs", STATE_TTL_S * 24)
        pipe.execute()

    def forget(self, shop: str) -> None:
        if self.redis is not None:
            self.redis.delete(self._key(shop))
