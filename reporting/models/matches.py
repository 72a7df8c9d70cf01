"""Matches: one row per scan that matched, with a hit per list entry it came close to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reporting.models.base import Base, BigId, utcnow


class Match(Base):
    """One scan that matched: the case an analyst reviews and the actions hang off."""

    __tablename__ = "matches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    request_id: Mapped[str] = mapped_column(String(200), default="")
    customer_id: Mapped[str] = mapped_column(String(200), default="", index=True)
    url: Mapped[str] = mapped_column(Text, default="")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    content_type: Mapped[str] = mapped_column(String(200), default="")
    # Every hash of the content, {"pdq": "...", "phash": "...", "md5": "..."} (first frame).
    hashes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    verdict: Mapped[str] = mapped_column(String(16), default="block")
    # Who found it: "scan" (the service), "rescan" (a batch rescan), "stored" (logged hashes).
    source: Mapped[str] = mapped_column(String(16), default="scan", server_default="scan")
    # Set when the match was spooled to the scanner's journal while the database was away and
    # replayed later (scanner/journal.py); unique, so a replay after a crash records nothing twice.
    journal_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True, unique=True)

    hits: Mapped[list[MatchHit]] = relationship(back_populates="match", cascade="all, delete-orphan")


class MatchHit(Base):
    """One list entry a matched scan came within threshold of."""

    __tablename__ = "match_hits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="RESTRICT"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("list_entries.id", ondelete="RESTRICT"), index=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    distance: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    # Which form of the content matched ("" as uploaded, "rot90", "deborder", ...).
    variant: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # What the hit did: "block", or why it was queued for review (``scanner.decision.Action``).
    action: Mapped[str] = mapped_column(String(16), default="block", server_default="block")

    match: Mapped[Match] = relationship(back_populates="hits")
