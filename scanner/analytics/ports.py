"""What analytics needs from storage, and the values that cross that line.

``reporting.analytics.DailyCountStore`` implements both protocols; the composition root
(``scanner.app``) hands it over, so the scanner never imports the database layer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

# One stored counter per (day, customer, metric). A scan is counted once, under
# "scans:<outcome>:<verdict>"; totals by outcome and by verdict are sums of those.
SCANS_PREFIX = "scans:"
MATCHES = "matches"
BLOCKS = "blocks"
REPORTS_FILED = "reports_filed"
NOTIFICATIONS_SENT = "notifications_sent"
NOTIFICATIONS_FAILED = "notifications_failed"
EVENT_METRICS = (MATCHES, BLOCKS, REPORTS_FILED, NOTIFICATIONS_SENT, NOTIFICATIONS_FAILED)


def scan_metric(outcome: str, verdict: str) -> str:
    return f"{SCANS_PREFIX}{outcome}:{verdict}"


@dataclass(frozen=True)
class CountDelta:
    """Add ``n`` to one counter."""

    day: date
    customer_id: str
    metric: str
    n: int


@dataclass(frozen=True)
class DayCounts:
    """Everything counted for one customer on one UTC day."""

    customer_id: str
    day: date
    scans_by_outcome: Mapping[str, int] = field(default_factory=dict)
    scans_by_verdict: Mapping[str, int] = field(default_factory=dict)
    matches: int = 0
    blocks: int = 0
    reports_filed: int = 0
    notifications_sent: int = 0
    notifications_failed: int = 0

    @property
    def scans(self) -> int:
        return sum(self.scans_by_outcome.values())

    @classmethod
    def from_metrics(cls, customer_id: str, day: date, metrics: Mapping[str, int]) -> DayCounts:
        by_outcome: dict[str, int] = {}
        by_verdict: dict[str, int] = {}
        events = dict.fromkeys(EVENT_METRICS, 0)
        for metric, n in metrics.items():
            if metric.startswith(SCANS_PREFIX):
                outcome, _, verdict = metric.removeprefix(SCANS_PREFIX).partition(":")
                by_outcome[outcome] = by_outcome.get(outcome, 0) + n
                by_verdict[verdict] = by_verdict.get(verdict, 0) + n
            elif metric in events:
                events[metric] += n
        return cls(customer_id, day, by_outcome, by_verdict, **events)


class ScanCountSink(Protocol):
    def add_counts(self, deltas: Sequence[CountDelta], batch_id: str = "") -> None:
        """Add every delta in one transaction: all of them or, raising, none. A ``batch_id``
        seen before (a retry whose first try did commit) adds nothing."""
        ...


class AnalyticsReader(Protocol):
    def days(self, customer_id: str, first: date, last: date) -> list[DayCounts]:
        """The customer's counts for each day in [first, last] that has any, oldest first."""
        ...

    def export(
        self,
        first: date,
        last: date,
        after: tuple[date, str] | None,
        customers: Sequence[str] | None,
        page_size: int,
    ) -> Iterator[DayCounts]:
        """Every (customer, day) in [first, last] with counts, ordered by (day, customer_id),
        strictly after ``after``, among ``customers`` (None: all), read ``page_size`` at a time."""
        ...
