"""The in-memory scan counter and its flusher, against a sink that keeps what it is given."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import date

import pytest

from scanner.analytics import cursor
from scanner.analytics.counter import CountFlusher, ScanCounter
from scanner.analytics.ports import CountDelta, DayCounts
from scanner.errors import InvalidRequest

NOV_26 = 1_795_651_200.0  # 2026-11-26 00:00:00 UTC


class KeepingSink:
    """Keeps what it is given, as the store does: once per batch id. ``fail`` refuses a batch;
    ``fail_after_commit`` keeps it and still raises, as a connection lost during the commit."""

    def __init__(self) -> None:
        self.kept: Counter[tuple[date, str, str]] = Counter()
        self.batches: set[str] = set()
        self.fail = False
        self.fail_after_commit = False

    def add_counts(self, deltas: Sequence[CountDelta], batch_id: str = "") -> None:
        if self.fail:
            raise ConnectionError("database away")
        if batch_id not in self.batches:
            self.batches.add(batch_id)
            for d in deltas:
                self.kept[(d.day, d.customer_id, d.metric)] += d.n
        if self.fail_after_commit:
            raise ConnectionError("connection lost during the commit")


def test_counts_fall_on_the_utc_day_of_the_scan() -> None:
    now = [NOV_26 - 0.5]
    counter = ScanCounter(clock=lambda: now[0])
    counter.count("shop", "scanned", "allow")
    now[0] = NOV_26
    counter.count("shop", "scanned", "allow")
    counter.count("shop", "corrupt", "allow")
    sink = KeepingSink()
    assert CountFlusher(counter, sink).flush() == 3
    assert sink.kept == {
        (date(2026, 11, 25), "shop", "scans:scanned:allow"): 1,
        (date(2026, 11, 26), "shop", "scans:scanned:allow"): 1,
        (date(2026, 11, 26), "shop", "scans:corrupt:allow"): 1,
    }


def test_no_count_is_lost_between_threads_or_to_flushes_running_meanwhile() -> None:
    counter = ScanCounter()
    sink = KeepingSink()
    flusher = CountFlusher(counter, sink)
    threads, per_thread = 8, 20_000
    stop = threading.Event()
    flushing = threading.Thread(target=lambda: [flusher.flush() for _ in iter(stop.is_set, True)])
    flushing.start()

    def scan(n: int) -> None:
        for i in range(per_thread):
            counter.count(f"c{n % 3}", "scanned", "block" if i % 10 == 0 else "allow")

    workers = [threading.Thread(target=scan, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    flushing.join()
    flusher.flush()
    assert sum(sink.kept.values()) == threads * per_thread
    blocked = sum(n for (_, _, metric), n in sink.kept.items() if metric.endswith(":block"))
    assert blocked == threads * per_thread // 10


def test_a_failed_flush_keeps_the_counts_for_the_next_one() -> None:
    counter = ScanCounter()
    sink = KeepingSink()
    flusher = CountFlusher(counter, sink)
    counter.count("shop", "scanned", "allow")
    sink.fail = True
    assert flusher.flush() == 0
    assert flusher.flush() == 0
    counter.count("shop", "scanned", "allow")
    sink.fail = False
    assert flusher.flush() == 2
    assert sum(sink.kept.values()) == 2
    assert counter.pending() == 0 and flusher.flush() == 0


def test_a_batch_whose_commit_was_not_confirmed_is_not_counted_twice() -> None:
    counter = ScanCounter()
    sink = KeepingSink()
    flusher = CountFlusher(counter, sink)
    for _ in range(3):
        counter.count("shop", "scanned", "allow")
    sink.fail_after_commit = True
    assert flusher.flush() == 0
    counter.count("shop", "empty", "allow")
    sink.fail_after_commit = False
    assert flusher.flush() == 4  # the unconfirmed batch again (ignored by the sink), then the new one
    assert sum(sink.kept.values()) == 4
    assert len(sink.batches) == 2


def test_run_flushes_once_more_when_stopped() -> None:
    counter = ScanCounter()
    sink = KeepingSink()
    stop = threading.Event()
    stop.set()
    counter.count("shop", "empty", "allow")
    CountFlusher(counter, sink, interval=3600).run(stop)
    assert sum(sink.kept.values()) == 1


def test_day_counts_sum_scans_by_outcome_and_by_verdict() -> None:
    counts = DayCounts.from_metrics(
        "shop",
        date(2026, 11, 26),
        {"scans:scanned:allow": 5, "scans:scanned:block": 2, "scans:corrupt:allow": 1, "matches": 2},
    )
    assert counts.scans == 8
    assert counts.scans_by_outcome == {"scanned": 7, "corrupt": 1}
    assert counts.scans_by_verdict == {"allow": 6, "block": 2}
    assert (counts.matches, counts.blocks) == (2, 0)


@pytest.mark.parametrize("customer", ["shop", "", "ünïcode/with:colons", "x" * 200])
def test_cursors_round_trip(customer: str) -> None:
    assert cursor.decode(cursor.encode(date(2026, 11, 26), customer)) == (date(2026, 11, 26), customer)


@pytest.mark.parametrize("bad", ["nonsense", "e30", cursor.encode(date(2026, 1, 1), "c")[:-3], "!!!!"])
def test_a_cursor_not_given_out_is_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        cursor.decode(bad)
