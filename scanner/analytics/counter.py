"""Scan counts kept in memory on the scan path and flushed to the database off it.

``count`` is one dictionary update under a lock (bench/bench_analytics.py measures it); the
database is only touched by ``CountFlusher``, on its own thread, every ``interval`` seconds
and once more on shutdown. A crash loses what was counted since the last flush: at most one
interval. A flush that fails keeps its batch and sends it again, so a database outage delays
counts but neither drops nor doubles them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta

import structlog

from scanner.analytics.ports import CountDelta, ScanCountSink, scan_metric

log = structlog.get_logger(__name__)

_EPOCH = date(1970, 1, 1)
_SECONDS_PER_DAY = 86400
# (UTC day number, customer id, outcome, verdict) -> scans
Key = tuple[int, str, str, str]


class ScanCounter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[Key, int] = {}
        self._lock = threading.Lock()

    def count(self, customer_id: str, outcome: str, verdict: str) -> None:
        # The day is the integer part of Unix time / 86400: UTC days, and no datetime per scan.
        key = (int(self._clock()) // _SECONDS_PER_DAY, customer_id, outcome, verdict)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def take(self) -> dict[Key, int]:
        """Everything counted so far; the counter starts again from zero."""
        with self._lock:
            taken, self._counts = self._counts, {}
        return taken

    def pending(self) -> int:
        with self._lock:
            return sum(self._counts.values())


def deltas(counts: dict[Key, int]) -> list[CountDelta]:
    # Sorted, so that writers adding to the same rows lock them in one order (no deadlock).
    return [
        CountDelta(_EPOCH + timedelta(days=day), customer_id, scan_metric(outcome, verdict), n)
        for (day, customer_id, outcome, verdict), n in sorted(counts.items())
    ]


class CountFlusher:
    """Writes the counter out in batches. A batch whose write failed is sent again, unchanged and
    under the same id, before anything newer: if the failure came after the database committed
    it (the connection broke during the commit), the store recognises the id and adds nothing."""

    def __init__(self, counter: ScanCounter, sink: ScanCountSink, interval: float = 10.0) -> None:
        self.counter, self.sink, self.interval = counter, sink, interval
        # One flush at a time: the periodic thread and an explicit flush (tests, shutdown).
        self._flushing = threading.Lock()
        self._unsent: tuple[str, dict[Key, int]] | None = None

    def flush(self) -> int:
        """Write what was counted; return how many scans that was (0 when the write failed)."""
        with self._flushing:
            written = 0
            # A batch left by a failed flush goes first, then what was counted since.
            for batch in (self._unsent, None) if self._unsent is not None else (None,):
                if batch is None:
                    counts = self.counter.take()
                    if not counts:
                        break
                    batch = (uuid.uuid4().hex, counts)
                self._unsent = batch
                try:
                    self.sink.add_counts(deltas(batch[1]), batch[0])
                except Exception as exc:  # the database may be away: keep the batch for next time
                    log.error("scan counts not written; kept for the next flush", error=str(exc)[:300])
                    return written
                self._unsent = None
                written += sum(batch[1].values())
            return written

    def run(self, stop: threading.Event) -> None:
        """Flush every ``interval`` seconds until ``stop``, then once more."""
        while not stop.wait(self.interval):
            self.flush()
        self.flush()
