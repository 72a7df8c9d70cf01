"""Per-customer daily counters: written by adding, read per customer or exported in order.

Two kinds of writer add to the same table. Scans are counted in memory by the serving process
(``scanner.analytics.counter``) and added here in batches (``add_counts``). Matches, blocks,
filed reports and notifications are added by ``add`` inside the very transaction that records
them, so they are exact: they commit, or roll back, with what they count, and they outlive the
purges of resolved blocks and old deliveries that aggregating those tables would miss.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, String, any_, bindparam, delete, func, select, tuple_
from sqlalchemy.orm import Session

from reporting import models
from reporting.db import session_factory
from scanner.analytics.ports import CountDelta, DayCounts

# The column's width; a longer customer id (scan requests do not limit it) is counted under
# its first 200 characters rather than fail the whole batch it is in.
_CUSTOMER_CHARS = 200
_KEY = ("day", "customer_id", "metric")
# About how many counters one (customer, day) has; turns a page of rows into a query limit.
_COUNTERS_PER_ROW = 4


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def add(session: Session, customer_id: str, day: date, metrics: Mapping[str, int]) -> None:
    """Add to one customer's counters for ``day`` in the caller's transaction."""
    _upsert(session, [CountDelta(day, customer_id, m, n) for m, n in metrics.items() if n])


def _upsert(session: Session, deltas: Iterable[CountDelta]) -> None:
    merged: dict[tuple[date, str, str], int] = {}
    for d in deltas:
        key = (d.day, d.customer_id[:_CUSTOMER_CHARS], d.metric)
        merged[key] = merged.get(key, 0) + d.n
    if not merged:
        return
    # In key order, so concurrent writers lock shared rows in the same order and never deadlock.
    rows = [{"day": k[0], "customer_id": k[1], "metric": k[2], "n": n} for k, n in sorted(merged.items())]
    table: Any = models.DailyCount.__table__
    statement: Any
    if session.connection().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(table)
    else:
        from sqlalchemy.dialects import sqlite

        statement = sqlite.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEY), set_={"n": table.c.n + statement.excluded.n}
    )
    session.execute(statement, rows)


# Batch ids are kept this long; a server sends a batch again at its next flush, seconds later.
BATCH_RETENTION = timedelta(days=2)


def _first_time(session: Session, batch_id: str) -> bool:
    """Record the batch; False when it was recorded before. Old ids are dropped on the way."""
    table: Any = models.CountBatch.__table__
    now = models.utcnow()
    session.execute(delete(models.CountBatch).where(models.CountBatch.added_at < now - BATCH_RETENTION))
    if session.connection().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement: Any = postgresql.insert(table)
    else:
        from sqlalchemy.dialects import sqlite

        statement = sqlite.insert(table)
    # RETURNING, not rowcount: drivers do not all report a row count for an INSERT.
    added = session.scalar(
        statement.values(id=batch_id, added_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(table.c.id)
    )
    return added is not None


class DailyCountStore:
    """``ScanCountSink`` and ``AnalyticsReader`` (``scanner.analytics.ports``) over the database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)

    def add_counts(self, deltas: Sequence[CountDelta], batch_id: str = "") -> None:
        with self._sessions.begin() as session:
            if batch_id and not _first_time(session, batch_id):
                return
            _upsert(session, deltas)

    def days(self, customer_id: str, first: date, last: date) -> list[DayCounts]:
        t = models.DailyCount
        with self._sessions() as session:
            rows = session.execute(
                select(t.day, t.customer_id, t.metric, t.n)
                .where(t.customer_id == customer_id, t.day >= first, t.day <= last)
                .order_by(t.day, t.metric)
            ).all()
        return list(_grouped(rows))

    def export(
        self,
        first: date,
        last: date,
        after: tuple[date, str] | None,
        customers: Sequence[str] | None,
        page_size: int,
    ) -> Iterator[DayCounts]:
        t = models.DailyCount
        limit = max(1, page_size) * _COUNTERS_PER_ROW
        # Keyset paging on the primary key: each page is one short read, nothing is held open
        # between pages, and a (customer, day) split across two pages is joined up here.
        position: tuple[date, str, str] | None = None
        pending: list[Any] = []
        while True:
            query = select(t.day, t.customer_id, t.metric, t.n).where(t.day >= first, t.day <= last)
            if customers is not None:
                query = query.where(self._among(t.customer_id, customers))
            if position is not None:
                query = query.where(tuple_(t.day, t.customer_id, t.metric) > tuple_(*_params(*position)))
            elif after is not None:
                query = query.where(tuple_(t.day, t.customer_id) > tuple_(*_params(*after)))
            query = query.order_by(t.day, t.customer_id, t.metric).limit(limit)
            with self._sessions() as session:
                page = list(session.execute(query).all())
            if page:
                position = (page[-1].day, page[-1].customer_id, page[-1].metric)
            rows = pending + page
            if len(page) < limit:
                yield from _grouped(rows)
                return
            # The last (customer, day) may go on in the next page: hold it back until it ends.
            tail = (rows[-1].day, rows[-1].customer_id)
            cut = len(rows)
            while cut and (rows[cut - 1].day, rows[cut - 1].customer_id) == tail:
                cut -= 1
            pending = rows[cut:]
            yield from _grouped(rows[:cut])

    def _among(self, column: Any, customers: Sequence[str]) -> Any:
        """``column`` is one of ``customers``, as ONE bound value: a partner with 100 000
        customers must not hit the databases' limits on parameters per statement."""
        ids = sorted(set(customers))
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import ARRAY

            return column == any_(bindparam("visible_customers", ids, type_=ARRAY(String)))
        each = func.json_each(json.dumps(ids)).table_valued("value")
        return column.in_(select(each.c.value))


def _params(*values: object) -> list[Any]:
    return [
        bindparam(None, v, type_=models.DailyCount.day.type if isinstance(v, date) else String)
        for v in values
    ]


def _grouped(rows: Sequence[Any]) -> Iterator[DayCounts]:
    key: tuple[date, str] | None = None
    metrics: dict[str, int] = {}
    for row in rows:
        if (row.day, row.customer_id) != key:
            if key is not None:
                yield DayCounts.from_metrics(key[1], key[0], metrics)
            key, metrics = (row.day, row.customer_id), {}
        metrics[row.metric] = metrics.get(row.metric, 0) + int(row.n)
    if key is not None:
        yield DayCounts.from_metrics(key[1], key[0], metrics)
