"""Fault injection: per-request probabilities (seedable) plus forced faults for the next N requests."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("http_429", "http_5xx", "timeout", "throttled", "media_failed")


@dataclass
class Faults:
    """`http_429`, `http_5xx`, `timeout`, `throttled` apply to GraphQL requests; `media_failed` to each new media.

    A `timeout` is injected AFTER the request ran (the mutation took effect, the response is late): the hard case a
    client must survive without duplicating writes. A 5xx or 429 is answered before anything ran.
    """

    http_429: float = 0.0
    http_5xx: float = 0.0
    timeout: float = 0.0
    throttled: float = 0.0
    media_failed: float = 0.0
    retry_after: float = 1.0  # seconds, sent as Retry-After on 429s
    timeout_sleep: float = 2.0  # how long a "timeout" response is held back (longer than the client's timeout)
    operations: set[str] | None = None  # restrict request faults to these operation names (None: all)
    injected: Counter = field(default_factory=Counter)
    _rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)
    _forced: Counter = field(default_factory=Counter, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def configure(self, *, seed: int | None = None, **shares: float) -> Faults:
        """Set shares (e.g. configure(http_5xx=0.1, timeout=0.05, seed=3)); unknown names raise."""
        for name, value in shares.items():
            if not hasattr(self, name) or name.startswith("_") or name in ("injected",):
                raise AttributeError(f"unknown fault setting {name!r}; known: {', '.join(KINDS)}")
            setattr(self, name, value)
        if seed is not None:
            self.seed(seed)
        return self

    def seed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def force(self, kind: str, times: int = 1) -> None:
        """The next `times` opportunities for `kind` fail regardless of shares (deterministic tests)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
        with self._lock:
            self._forced[kind] += times

    def reset(self) -> None:
        with self._lock:
            for kind in KINDS:
                setattr(self, kind, 0.0)
            self._forced.clear()
            self.operations = None

    def roll(self, kind: str, operation: str | None = None) -> bool:
        if kind != "media_failed" and self.operations is not None and operation not in self.operations:
            return False
        with self._lock:
            if self._forced[kind] > 0:
                self._forced[kind] -= 1
                self.injected[kind] += 1
                return True
            share = getattr(self, kind)
            hit = share > 0 and self._rng.random() < share
            if hit:
                self.injected[kind] += 1
            return hit
