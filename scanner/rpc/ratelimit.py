"""Rate limits: a token bucket per key.

The server keeps two limiters with the same rate and burst (``HASHWATCH_RATE_LIMIT_*``): one
for scans, keyed by ``customer_id``, and one for ``Match``, which names no customer, keyed by
the caller (its token's actor with authentication on, else its IP address). Each key may make
``rate`` requests per second on average and ``burst`` at once. A request counts once however
many hashes it carries (a ``Match`` holds at most ``HASHWATCH_MAX_MATCH_HASHES``, which bounds its
cost). One over the limit is refused before any work (RESOURCE_EXHAUSTED with the time until a
token is back), so one flood cannot fill the queue or the CPU that everyone shares.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from scanner.errors import Overloaded
from scanner.metrics import REJECTED

# Buckets kept before idle (full) ones are forgotten: a full bucket is the same as no bucket.
_PRUNE_AT = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, key_name: str = "customer", unit: str = "scans") -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = float(burst)
        # For the refusal's message: "<key_name> 'x' is over its rate limit of N <unit> per second".
        self._key_name = key_name
        self._unit = unit
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> None:
        """Take a token for ``key`` or raise ``Overloaded`` saying when one is back."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _PRUNE_AT:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = (1.0 - bucket.tokens) / self.rate
        REJECTED.labels("rate_limit").inc()
        raise Overloaded(
            f"{self._key_name} {key!r} is over its rate limit of {self.rate:g} {self._unit} per second",
            wait,
            "rate_limit",
        )

    def _prune(self, now: float) -> None:
        full = [key for key, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]
