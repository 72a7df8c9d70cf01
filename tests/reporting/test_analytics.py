"""``DailyCountStore`` on SQLite and PostgreSQL, checked against plain dictionaries."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import date, timedelta

import pytest

from reporting.analytics import DailyCountStore
from reporting.store import Store
from scanner.analytics.ports import EVENT_METRICS, CountDelta, DayCounts

DAY = date(2026, 11, 26)
OUTCOMES = ("scanned", "empty", "corrupt", "unsupported_format", "low_quality")


def _random_deltas(rng: random.Random, customers: int, days: int, n: int) -> list[CountDelta]:
    metrics = [f"scans:{o}:{v}" for o in OUTCOMES for v in ("allow", "block")] + list(EVENT_METRICS)
    return [
        CountDelta(
            DAY + timedelta(rng.randrange(days)),
            f"cust-{rng.randrange(customers):03d}",
            rng.choice(metrics),
            rng.randint(1, 5),
        )
        for _ in range(n)
    ]


def _oracle(deltas: list[CountDelta]) -> dict[tuple[date, str], dict[str, int]]:
    rows: dict[tuple[date, str], Counter[str]] = {}
    for d in deltas:
        rows.setdefault((d.day, d.customer_id), Counter())[d.metric] += d.n
    return {key: dict(rows[key]) for key in sorted(rows)}


def _as_rows(counts: list[DayCounts]) -> list[tuple[date, str, DayCounts]]:
    return [(c.day, c.customer_id, c) for c in counts]


def test_adding_is_additive_and_export_pages_agree_with_the_oracle(store: Store) -> None:
    rng = random.Random(7)
    deltas = _random_deltas(rng, customers=40, days=3, n=1500)
    counts = DailyCountStore(store.engine)
    for start in range(0, len(deltas), 200):
        counts.add_counts(deltas[start : start + 200])
    expected = [DayCounts.from_metrics(c, d, m) for (d, c), m in _oracle(deltas).items()]
    first, last = DAY, DAY + timedelta(2)
    for page_size in (1, 2, 7, 500):
        assert list(counts.export(first, last, None, None, page_size)) == expected
    # One customer-day split over several pages (page_size 1 reads four counters at a time).
    assert max(len(m) for m in _oracle(deltas).values()) > 4
    assert counts.days("cust-005", first, last) == [e for e in expected if e.customer_id == "cust-005"]


def test_export_resumes_after_any_row_with_each_later_row_once(store: Store) -> None:
    rng = random.Random(11)
    deltas = _random_deltas(rng, customers=12, days=2, n=300)
    counts = DailyCountStore(store.engine)
    counts.add_counts(deltas)
    whole = list(counts.export(DAY, DAY + timedelta(1), None, None, 3))
    for i, row in enumerate(whole):
        rest = list(counts.export(DAY, DAY + timedelta(1), (row.day, row.customer_id), None, 3))
        assert rest == whole[i + 1 :]


def test_export_keeps_to_the_customers_given_and_the_days_asked(store: Store) -> None:
    counts = DailyCountStore(store.engine)
    counts.add_counts(
        [
            CountDelta(DAY, "a", "matches", 1),
            CountDelta(DAY, "b", "matches", 2),
            CountDelta(DAY, "c", "matches", 3),
            CountDelta(DAY + timedelta(1), "a", "matches", 4),
        ]
    )
    seen = [(r.day, r.customer_id, r.matches) for r in counts.export(DAY, DAY, None, ["c", "a", "zz"], 10)]
    assert seen == [(DAY, "a", 1), (DAY, "c", 3)]
    assert list(counts.export(DAY, DAY, None, [], 10)) == []
    assert [r.customer_id for r in counts.export(DAY, DAY + timedelta(1), None, None, 10)] == [
        "a",
        "b",
        "c",
        "a",
    ]


def test_export_orders_customer_ids_by_their_bytes_on_every_database(store: Store) -> None:
    names = ["b", "B", "a-1", "a1", "a_1", "Ä", "a"]
    counts = DailyCountStore(store.engine)
    counts.add_counts([CountDelta(DAY, name, "matches", 1) for name in names])
    exported = [r.customer_id for r in counts.export(DAY, DAY, None, None, 2)]
    assert exported == sorted(names, key=lambda s: s.encode())


def test_writers_adding_to_the_same_counters_at_once_lose_nothing(store: Store) -> None:
    counts = DailyCountStore(store.engine)
    rounds, writers = 25, 4
    batch = [CountDelta(DAY, f"c{i}", "scans:scanned:allow", 1) for i in range(20)]

    def write() -> None:
        for _ in range(rounds):
            counts.add_counts(batch)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = list(counts.export(DAY, DAY, None, None, 100))
    assert [r.scans for r in rows] == [rounds * writers] * 20


def test_a_customer_id_longer_than_the_column_is_counted_under_its_first_200_characters(
    store: Store,
) -> None:
    counts = DailyCountStore(store.engine)
    long_id = "x" * 300
    counts.add_counts([CountDelta(DAY, long_id, "matches", 1), CountDelta(DAY, long_id + "y", "matches", 1)])
    [row] = counts.export(DAY, DAY, None, None, 10)
    assert (row.customer_id, row.matches) == ("x" * 200, 2)


@pytest.mark.parametrize("customers", [None, ["cust-001"]])
def test_an_empty_range_has_no_rows(store: Store, customers: list[str] | None) -> None:
    counts = DailyCountStore(store.engine)
    counts.add_counts([CountDelta(DAY, "cust-001", "matches", 1)])
    assert list(counts.export(DAY + timedelta(1), DAY + timedelta(9), None, customers, 10)) == []


def test_a_batch_sent_again_is_added_once(store: Store) -> None:
    counts = DailyCountStore(store.engine)
    batch = [CountDelta(DAY, "shop", "scans:scanned:allow", 3)]
    counts.add_counts(batch, "batch-1")
    counts.add_counts(batch, "batch-1")
    counts.add_counts(batch, "batch-2")
    [row] = counts.export(DAY, DAY, None, None, 10)
    assert row.scans == 6
