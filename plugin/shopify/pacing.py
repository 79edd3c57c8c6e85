"""Cost-aware pacing per shop, shared by every process through Redis.

Shopify meters the Admin GraphQL API with a leaky bucket per app and shop (restore 100/200/1000/2000 points/s
by plan) and answers an over-budget query with THROTTLED. Every response carries the bucket's state
(`extensions.cost.throttleStatus`); we keep the last one per shop in Redis and, before sending, reserve the
query's expected cost from the estimated bucket. A caller that would overdraw it sleeps
(cost - available) / restoreRate first. Reservations may drive the estimate negative, so concurrent workers
queue up behind each other instead of all firing at once. Without Redis (or before the first response) nothing
waits; THROTTLED is then handled by the client's retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis

KEY_PREFIX = "pose-studio:shopify:bucket:"
COST_PREFIX = "pose-studio:shopify:cost:"
STATE_TTL_S = 3600

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
        self._local_costs: dict[str, int] = {}

    def _key(self, shop: str) -> str:
        return f"{self.key_prefix}{shop}"

    def expected_cost(self, shop: str, operation: str, default: int) -> int:
        """The last requested cost seen for this operation (documents are static, so it barely changes)."""
        if self.redis is None:
            return self._local_costs.get(operation, default)
        value = self.redis.hget(f"{self.key_prefix}costs", operation)
        return int(value) if value is not None else default

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
        self, shop: str, status: ThrottleStatus, *, operation: str | None = None, requested_cost: int | None = None
    ) -> None:
        """Store Shopify's view of the bucket (authoritative) and the operation's requested cost."""
        if operation and requested_cost is not None:
            self._local_costs[operation] = requested_cost
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
            pipe.hset(f"{self.key_prefix}costs", operation, requested_cost)
        pipe.execute()

    def forget(self, shop: str) -> None:
        if self.redis is not None:
            self.redis.delete(self._key(shop))
