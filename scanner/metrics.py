"""Prometheus metrics: what the hot path counts, and what is read only when Prometheus scrapes.

Counters and histograms on the scan path are in-process increments, never I/O. Index sizes, the
journal and the outbox are read at scrape time by collectors; the outbox one asks the database
with a deadline, caches the answer for a few seconds and reports ``hashwatch_outbox_up 0``
instead of failing when the database is away, so /metrics keeps answering in an outage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import structlog
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from index.matcher import Matcher
from scanner.addresses import bare_host

log = structlog.get_logger(__name__)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SCANS = Counter("hashwatch_scans", "Scans answered, by verdict and outcome.", ["verdict", "outcome"])
SCAN_SECONDS = Histogram(
    "hashwatch_scan_seconds", "Time to hash, match and record one scan.", buckets=_LATENCY_BUCKETS
)
RPCS = Counter("hashwatch_rpcs", "RPCs finished, by method and status code.", ["method", "code"])
RPC_SECONDS = Histogram(
    "hashwatch_rpc_seconds",
    "RPC duration, by method (a whole stream for ScanStream).",
    ["method"],
    buckets=_LATENCY_BUCKETS,
)
DEADLINE_EXCEEDED = Counter(
    "hashwatch_deadline_exceeded",
    "Requests dropped without work because their deadline had passed.",
    ["method"],
)
SUPPRESSED = Counter(
    "hashwatch_hits_suppressed",
    "Perceptual-hash hits suppressed because the content also hit a negative (known-benign) list.",
)
JOURNAL_SPOOLED = Counter(
    "hashwatch_journal_spooled", "Matches spooled to the local journal because the database failed."
)
INDEX_SNAPSHOTS_REFUSED = Counter(
    "hashwatch_index_snapshots_refused",
    "Index snapshots refused at start (corrupt, partial, unreadable); the list was loaded from the "
    "database instead. The list is '(manifest)' when the manifest itself was refused.",
    ["list"],
)


@dataclass(frozen=True)
class OutboxStats:
    depth: int
    # Age in seconds of the oldest undelivered row; 0 when there is none.
    oldest_age_seconds: float


class IndexCollector(Collector):
    """Entries and list version per list and algorithm, read from the matcher in use."""

    def __init__(self, current: Callable[[], Matcher]) -> None:
        self._current = current

    def collect(self) -> Iterator[GaugeMetricFamily]:
        matcher = self._current()
        sizes = GaugeMetricFamily(
            "hashwatch_index_entries", "Entries in the in-memory index.", labels=["list", "algorithm"]
        )
        for name, by_algorithm in matcher.sizes().items():
            for algorithm, count in by_algorithm.items():
                sizes.add_metric([name, str(algorithm)], count)
        versions = GaugeMetricFamily(
            "hashwatch_index_list_version", "List version the index is up to date with.", labels=["list"]
        )
        for config in matcher.configs().values():
            versions.add_metric([config.name], config.version)
        yield sizes
        yield versions


class JournalCollector(Collector):
    def __init__(self, depth: Callable[[], int]) -> None:
        self._depth = depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "hashwatch_journal_pending",
            "Matches spooled to the local journal, not yet recorded in the database.",
            value=self._depth(),
        )


class OutboxCollector(Collector):
    """Outbox depth and oldest age, from ``query`` run aside with a timeout and cached."""

    def __init__(
        self, query: Callable[[], OutboxStats], cache_seconds: float = 5.0, timeout_seconds: float = 1.0
    ) -> None:
        self._query = query
        self._cache_seconds = cache_seconds
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self._stats: OutboxStats | None = None
        self._ok = False
        self._at = -1e9
        self._running: threading.Thread | None = None

    def _refresh(self) -> None:
        try:
            stats: OutboxStats | None = self._query()
            ok = True
        except Exception as exc:  # the database is away: report it, keep the last known values
            log.warning("outbox metrics unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
            stats, ok = None, False
        with self._lock:
            if stats is not None:
                self._stats = stats
            self._ok = ok
            self._at = time.monotonic()
            self._running = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            stale = time.monotonic() - self._at > self._cache_seconds
            if stale and self._running is None:
                self._running = threading.Thread(target=self._refresh, name="outbox-metrics", daemon=True)
                self._running.start()
            running = self._running
        if running is not None:
            running.join(self._timeout)
        with self._lock:
            stats, ok = self._stats, self._ok and self._running is None
        yield GaugeMetricFamily(
            "hashwatch_outbox_up", "1 when the last outbox query answered in time.", value=int(ok)
        )
        if stats is not None:
            yield GaugeMetricFamily(
                "hashwatch_outbox_depth", "Deliveries not yet delivered or dead.", value=stats.depth
            )
            yield GaugeMetricFamily(
                "hashwatch_outbox_oldest_age_seconds",
                "Age of the oldest undelivered delivery.",
                value=stats.oldest_age_seconds,
            )


class _Combined(Collector):
    def __init__(self, collectors: Iterable[Collector]) -> None:
        self._collectors = (REGISTRY, *collectors)

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        for collector in self._collectors:
            yield from collector.collect()


class MetricsEndpoint:
    """``GET /metrics`` on its own port: the process-wide metrics plus ``collectors``."""

    def __init__(self, host: str, port: int, collectors: Iterable[Collector] = ()) -> None:
        self._server, self._thread = start_http_server(port, bare_host(host), registry=_Combined(collectors))
        self.port = int(self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


# The hashing pool and admission (scanner/hashpool, scanner/rpc/ratelimit.py). All recorded in the
# service process: workers only hash and report nothing, so no multiprocess mode is needed.
HASH_QUEUE_DEPTH = Gauge("hashwatch_hash_queue_depth", "Requests waiting for a hashing process.")
HASH_WORKERS_BUSY = Gauge("hashwatch_hash_workers_busy", "Hashing processes working on a request.")
REJECTED = Counter(
    "hashwatch_rejected",
    "Requests refused without work: queue_full, rate_limit and stream_limit (RESOURCE_EXHAUSTED), "
    "deadline (it passed while the request waited for a hashing process).",
    ["reason"],
)
STREAMS_OPEN = Gauge(
    "hashwatch_streams_open",
    "Streams open, by lane: scan_stream (ScanStream), other_stream (health watches, reflection, exports).",
    ["lane"],
)
WORKER_RESTARTS = Counter(
    "hashwatch_hash_worker_restarts",
    "Hashing processes replaced: timeout (killed over the time limit), crash (died mid-request), "
    "died_idle (found dead between requests).",
    ["cause"],
)
STAGE_SECONDS = Histogram(
    "hashwatch_stage_seconds",
    "Time per stage of a pooled hash: queue (waiting for a process), hash (decode and hash in "
    "the process), transfer (the round trip's remainder: pipe, encoding, scheduling).",
    ["stage"],
    buckets=(0.0001, 0.00025, 0.0005, *_LATENCY_BUCKETS),
)
