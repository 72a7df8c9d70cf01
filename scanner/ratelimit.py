"""Per-customer rate limits: a token bucket per ``customer_id``.

Each customer may scan ``rate`` requests per second on average and ``burst`` at once. A request
over the limit is refused before any work (RESOURCE_EXHAUSTED with the time until a token is
back), so one customer's flood cannot fill the queue that every customer shares.
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
    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def admit(self, customer_id: str) -> None:
        """Take a token for ``customer_id`` or raise ``Overloaded`` saying when one is back."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(customer_id)
            if bucket is None:
                if len(self._buckets) >= _PRUNE_AT:
                    self._prune(now)
                bucket = self._buckets[customer_id] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = (1.0 - bucket.tokens) / self.rate
        REJECTED.labels("rate_limit").inc()
        raise Overloaded(
            f"customer {customer_id!r} is over its rate limit of {self.rate:g} scans per second",
            wait,
            "rate_limit",
        )

    def _prune(self, now: float) -> None:
        full = [key for key, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]
