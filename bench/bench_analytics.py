"""Analytics benchmark: what counting a scan costs the scan path, and what a flush costs.

* count: CPU ns per ``ScanCounter.count`` call (one lock, one dict update), median of
  ``--repeats`` blocks of ``--calls`` calls over ``--customers`` customer ids, against two
  baselines measured in the same run: a Python call of a function doing nothing with the same
  arguments (the floor of any hook), and a no-match scan of a small image through
  ``ScannerService._scan`` without a counter (the work the count is added to: decode, hash,
  match, building the reply). Printed: ns per call, and the count's share of the scan.
* contended: ``--threads`` threads counting at once, wall ns per call over all of them (the
  lock is held for a dict update only; the GIL already serialises that work).
* scan: the same no-match scan with the counter and without it, interleaved blocks, to show the
  difference is inside the noise of the scan itself.
* flush: wall ms of one flush of ``--flush-customers`` customers x 4 (outcome, verdict) pairs
  into a fresh SQLite database (additive upserts, one transaction): work done off the scan path.

Run:  taskset -c 0 .venv/bin/python bench/bench_analytics.py
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from index.matcher import Matcher  # noqa: E402
from reporting.analytics import DailyCountStore  # noqa: E402
from reporting.db import make_engine, migrate  # noqa: E402
from scanner.analytics.counter import CountFlusher, ScanCounter  # noqa: E402
from scanner.api.hashwatch.v1 import scanner_pb2 as pb  # noqa: E402
from scanner.engine import MatcherHolder, ScanEngine  # noqa: E402
from scanner.pipeline import HashingConfig  # noqa: E402
from scanner.recording import InMemoryRecorder  # noqa: E402
from scanner.rpc.scanner_service import ScannerService  # noqa: E402

PAIRS = (("scanned", "allow"), ("scanned", "block"), ("empty", "allow"), ("corrupt", "allow"))
IMAGE = ROOT / "tests" / "data" / "images" / "skimage_camera.png"


def _nothing(customer_id: str, outcome: str, verdict: str) -> None:
    return None


def per_call_ns(
    call: Callable[[str, str, str], None], customers: list[str], calls: int, repeats: int
) -> float:
    ids = [customers[i % len(customers)] for i in range(calls)]
    samples = []
    for _ in range(repeats + 1):  # the first block warms up
        start = time.process_time_ns()
        for customer in ids:
            call(customer, "scanned", "allow")
        samples.append((time.process_time_ns() - start) / calls)
    return statistics.median(samples[1:])


def contended_ns(counter: ScanCounter, threads: int, calls: int) -> float:
    barrier = threading.Barrier(threads + 1)

    def work(n: int) -> None:
        customer = f"cust-{n}"
        barrier.wait()
        for _ in range(calls):
            counter.count(customer, "scanned", "allow")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter_ns()
    for w in workers:
        w.join()
    elapsed = time.perf_counter_ns() - start
    assert counter.pending() >= threads * calls
    return elapsed / (threads * calls)


def small_png() -> bytes:
    out = io.BytesIO()
    Image.open(IMAGE).convert("RGB").resize((256, 256)).save(out, "PNG")
    return out.getvalue()


def scan_us(service: ScannerService, request: pb.ScanRequest, scans: int) -> float:
    start = time.process_time_ns()
    for _ in range(scans):
        service._scan(request)
    return (time.process_time_ns() - start) / scans / 1000


def flush_ms(customers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        counter = ScanCounter()
        for i in range(customers):
            for outcome, verdict in (
                ("scanned", "allow"),
                ("scanned", "block"),
                ("empty", "allow"),
                ("corrupt", "allow"),
            ):
                counter.count(f"cust-{i:06d}", outcome, verdict)
        flusher = CountFlusher(counter, DailyCountStore(engine))
        start = time.perf_counter()
        flushed = flusher.flush()
        elapsed = (time.perf_counter() - start) * 1000
        engine.dispose()
    assert flushed == customers * 4
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--scans", type=int, default=200)
    parser.add_argument("--flush-customers", type=int, default=10_000)
    args = parser.parse_args()
    customers = [f"cust-{i:06d}" for i in range(args.customers)]

    floor = per_call_ns(_nothing, customers, args.calls, args.repeats)
    counted = per_call_ns(ScanCounter().count, customers, args.calls, args.repeats)
    contended = contended_ns(ScanCounter(), args.threads, args.calls // args.threads)

    engine = ScanEngine(HashingConfig(), MatcherHolder(Matcher()), InMemoryRecorder())
    workers = ThreadPoolExecutor(1)
    plain = ScannerService(engine, InMemoryRecorder(), workers)
    with_counter = ScannerService(engine, InMemoryRecorder(), workers, counter=ScanCounter())
    request = pb.ScanRequest(request_id="bench", customer_id="cust-000001", content=small_png())
    assert plain._scan(request).outcome == pb.OUTCOME_SCANNED
    without, within = [], []
    for _ in range(args.repeats + 1):
        without.append(scan_us(plain, request, args.scans))
        within.append(scan_us(with_counter, request, args.scans))
    scan_plain, scan_counted = statistics.median(without[1:]), statistics.median(within[1:])
    workers.shutdown()

    flush = flush_ms(args.flush_customers)
    rows = [
        (f"count, 1 thread, {args.customers} customers (CPU ns/call)", f"{counted:.0f}"),
        ("  baseline: an empty function call (CPU ns/call)", f"{floor:.0f}"),
        ("  count / empty call", f"{counted / floor:.1f}x"),
        (f"count, {args.threads} threads at once (wall ns/call)", f"{contended:.0f}"),
        ("no-match scan of a 256x256 PNG, no counter (CPU us)", f"{scan_plain:.1f}"),
        ("the same scan with the counter (CPU us)", f"{scan_counted:.1f}"),
        ("  with / without", f"{scan_counted / scan_plain:.3f}"),
        ("  count / scan", f"{counted / (scan_plain * 1000) * 100:.3f} %"),
        (f"flush of {args.flush_customers} customers x 4 counters, SQLite (wall ms)", f"{flush:.1f}"),
    ]
    for label, value in rows:
        print(f"{label:<64} {value:>10}")


if __name__ == "__main__":
    main()
