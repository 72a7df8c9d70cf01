"""What a match sets in motion: blocks, events, the destinations customers configured, and the
outbox of deliveries the worker works through."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from reporting.models.base import Base, BigId, utcnow


class Block(Base):
    """A URL a customer must not serve. One row per customer + URL: blocking is idempotent."""

    __tablename__ = "blocks"
    __table_args__ = (UniqueConstraint("customer_id", "url", name="uq_block_customer_url"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    # pending (recorded, not yet applied) | active | resolved
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    # The match that (most recently) caused the block.
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Event(Base):
    """Something a customer or operator hears about. The id is the stable event id every
    delivery of it carries, retries included."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    # The match (case) the event is about; 0 for events about no case (tests, dead letters).
    case_id: Mapped[int] = mapped_column(BigId, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ``Destination.owner``
CUSTOMER_OWNED = "customer"
OPERATOR_OWNED = "operator"


class Destination(Base):
    """Where a customer's events go. ``customer_id`` "_operators" holds the operators' own."""

    __tablename__ = "destinations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    # Who made it, and so who may turn it off: "customer" (the Customers service's own, for a
    # verified address) or "operator" (``hashwatch destinations add``). Deleting a customer
    # disables only the customer's.
    owner: Mapped[str] = mapped_column(String(16), default=OPERATOR_OWNED, server_default=OPERATOR_OWNED)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    # Kind-specific settings, validated by ``reporting.destinations.build_destination``.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # immediate | digest
    mode: Mapped[str] = mapped_column(String(16), default="immediate")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_digest_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Delivery(Base):
    """One outbox row: deliver one event to one target. Claimed with a lease, so a worker
    killed mid-delivery loses nothing: the lease runs out and another worker takes it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "target", name="uq_delivery_event_target"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="RESTRICT"), index=True)
    # "destination:<id>", "report:<partner>", "block"
    target: Mapped[str] = mapped_column(String(64))
    destination_id: Mapped[int | None] = mapped_column(
        ForeignKey("destinations.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    # pending | in_progress | digest | delivered | dead
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    claimed_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
