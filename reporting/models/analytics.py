"""Per-customer daily counters (``reporting.analytics``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from reporting.models.base import Base, utcnow


class DailyCount(Base):
    """One counter: ``n`` of ``metric`` for one customer on one UTC day. Writers only ever add
    to ``n`` (INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n), so any number of servers
    and workers can count the same thing at once. The key's order, day first, is the export's."""

    __tablename__ = "daily_counts"
    # By customer too: whether an id was ever counted decides who may create it
    # (reporting/customers/ids.py), and the key leads with the day.
    __table_args__ = (Index("ix_daily_counts_customer_id", "customer_id"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # Byte order on PostgreSQL too (SQLite's is already): the export's order, and its cursors,
    # do not depend on the database's locale.
    customer_id: Mapped[str] = mapped_column(
        String(200).with_variant(String(200, collation="C"), "postgresql"), primary_key=True
    )
    # "scans:<outcome>:<verdict>", "matches", "blocks", "reports_filed", "notifications_sent",
    # "notifications_failed" (scanner.analytics.ports).
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class CountBatch(Base):
    """A batch of scan counts already added. A server that lost the answer to its commit sends
    the same batch again; finding its id here, the store adds nothing the second time."""

    __tablename__ = "count_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
