"""Review: the state of each case, every decision, customers' review requests (appeals), list
entries flagged by a false positive, evidence reveals (the exposure counter) and web sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reporting.models.base import Base, BigId, utcnow


class CaseReview(Base):
    """Where a case (a match) stands. A match without a row has never been touched: it is open."""

    __tablename__ = "case_reviews"
    __table_args__ = (Index("ix_case_reviews_queue", "state", "priority"),)

    match_id: Mapped[int] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # open | escalated | confirmed | false_positive
    state: Mapped[str] = mapped_column(String(16), default="open")
    # Higher first: 2 escalated, 1 with an open review request, 0 otherwise.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewDecision(Base):
    """Every decision ever taken on a case, overrides included; never updated."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    # confirm | false_positive | escalate
    decision: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    previous_state: Mapped[str] = mapped_column(String(16))
    # An admin re-deciding a case that was already decided.
    override: Mapped[bool] = mapped_column(default=False)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewRequest(Base):
    """A customer's request to review a block, with its attestation (an appeal)."""

    __tablename__ = "review_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    url: Mapped[str] = mapped_column(Text, default="")
    # not_as_listed | removed
    attestation: Mapped[str] = mapped_column(String(16))
    statement: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # open | resolved
    state: Mapped[str] = mapped_column(String(16), default="open")
    # The decision that resolved it.
    decision_id: Mapped[int | None] = mapped_column(
        ForeignKey("review_decisions.id", ondelete="SET NULL"), nullable=True
    )
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)


class EntryFlag(Base):
    """A list entry a false positive was decided on. While open, the entry's status is "flagged"
    and it matches nothing; someone decides later whether it goes back or goes away."""

    __tablename__ = "entry_flags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("list_entries.id", ondelete="RESTRICT"), index=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="RESTRICT"))
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    flagged_by: Mapped[str] = mapped_column(String(200))
    flagged_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The entry's status before the flag, restored when the flag is cleared.
    previous_status: Mapped[str] = mapped_column(String(16), default="active")
    # open | restored | disabled
    state: Mapped[str] = mapped_column(String(16), default="open")
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)


class EvidenceReveal(Base):
    """One un-blurred view of evidence by one analyst: the per-day exposure counter counts these."""

    __tablename__ = "evidence_reveals"
    __table_args__ = (Index("ix_evidence_reveals_actor_day", "actor", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(200))
    # The UTC day, YYYY-MM-DD, so the limit is one indexed count.
    day: Mapped[str] = mapped_column(String(10))
    revealed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Until when the reveal lets the original be fetched (one page view, not a standing pass).
    valid_until: Mapped[datetime] = mapped_column()


class WebSession(Base):
    """A signed-in (or half signed-in) analyst on the review page. Only the SHA-256 of the cookie
    is kept, so a database read does not hand out sessions."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    analyst_id: Mapped[int] = mapped_column(BigId, index=True)
    username: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    # password: the password was right, the second factor is still owed; full: signed in.
    stage: Mapped[str] = mapped_column(String(16))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Absolute expiry; idle expiry is checked against last_seen_at.
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    client_ip: Mapped[str] = mapped_column(String(64), default="")
