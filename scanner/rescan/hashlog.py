"""The scan hash log: for customers who opted in, the hashes of every scanned item (never the
content), so a list that grows later can be matched against what was already scanned.

The scan path only appends to an in-memory buffer; a background thread writes it out in
batches and purges rows past the retention period. A full buffer drops rows (and counts them)
rather than slow a scan down.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from scanner.engine import ScanEngine, ScanResult
from scanner.recording import ScanContext
from scanner.rescan.ports import HashLogSink, LoggedScan

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class HashLogPolicy:
    # Customer ids whose scans are logged; "*" logs everyone.
    customers: frozenset[str] = frozenset()
    days: int = 30

    @classmethod
    def parse(cls, customers: str, days: int) -> HashLogPolicy:
        return cls(frozenset(c.strip() for c in customers.split(",") if c.strip()), days)

    @property
    def enabled(self) -> bool:
        return bool(self.customers)

    def wants(self, customer_id: str) -> bool:
        return "*" in self.customers or customer_id in self.customers


class HashLogBuffer:
    def __init__(self, policy: HashLogPolicy, capacity: int = 100_000) -> None:
        self.policy = policy
        self._rows: deque[LoggedScan] = deque()
        self._capacity = capacity
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, context: ScanContext, content: bytes, result: ScanResult) -> None:
        # Content that did not decode is logged too: its MD5 and SHA-1 are matched like any hash.
        if not self.policy.wants(context.customer_id) or not result.hashing.hashes:
            return
        row = LoggedScan(
            context.customer_id,
            context.url,
            hashlib.sha256(content).hexdigest(),
            result.hashing.hashes,
            datetime.now(UTC),
            # Hits, not the verdict: with a degraded verdict of "allow" a spooled match is
            # still a match, and a stored rescan must not record it a second time.
            matched=bool(result.hits),
        )
        with self._lock:
            if len(self._rows) >= self._capacity:
                self.dropped += 1
                return
            self._rows.append(row)

    def take(self, limit: int = 5000) -> list[LoggedScan]:
        with self._lock:
            return [self._rows.popleft() for _ in range(min(limit, len(self._rows)))]

    def __len__(self) -> int:
        return len(self._rows)


class HashLoggingEngine(ScanEngine):
    """A ``ScanEngine`` that also hands every scan of an opted-in customer to the hash log."""

    def __init__(self, engine: ScanEngine, buffer: HashLogBuffer) -> None:
        super().__init__(
            engine.hashing,
            engine.matchers,
            engine.recorder,
            engine.algorithms,
            journal=engine.journal,
            degraded_verdict=engine.degraded_verdict,
            hash_function=engine.hash_function,
            flood=engine.flood,
            customers=engine.customers,
        )
        self.buffer = buffer

    def scan(self, content: bytes, context: ScanContext) -> ScanResult:
        result = super().scan(content, context)
        self.buffer.add(context, content, result)
        return result


class HashLogFlusher:
    """Writes the buffer out every ``interval`` seconds and purges expired rows hourly."""

    def __init__(
        self,
        buffer: HashLogBuffer,
        sink: HashLogSink,
        interval: float = 1.0,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.buffer, self.sink, self.interval, self.on_tick = buffer, sink, interval, on_tick
        self._last_purge: datetime | None = None

    def flush(self) -> int:
        written = 0
        while rows := self.buffer.take():
            try:
                self.sink.write_hash_log(rows)
            except Exception as exc:  # a database hiccup must not kill the thread
                log.error("hash log not written", error=str(exc), rows=len(rows))
                return written
            written += len(rows)
        return written

    def purge(self) -> None:
        now = datetime.now(UTC)
        if self._last_purge is None or now - self._last_purge >= timedelta(hours=1):
            self._last_purge = now
            try:
                removed = self.sink.purge_hash_log(now - timedelta(days=self.buffer.policy.days))
            except Exception as exc:
                log.error("hash log not purged", error=str(exc))
                return
            if removed:
                log.info("hash log purged", rows=removed)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.flush()
            self.purge()
            if self.on_tick is not None:
                try:
                    self.on_tick()
                except Exception as exc:
                    log.error("retroactive matching failed", error=str(exc))
        self.flush()
