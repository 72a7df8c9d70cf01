"""Rescans: which rescanned content was already recorded, and the optional log of scanned hashes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reporting.models.base import Base, BigId, utcnow


class RescanSeen(Base):
    """One row per (customer, URL, content) a rescan recorded a match for, written in the match's
    own transaction: a rerun or a resumed run finds it and records nothing twice."""

    __tablename__ = "rescan_seen"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # sha256 of customer, URL and content sha256: a URL may be longer than an index allows.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    content_sha256: Mapped[str] = mapped_column(String(64), default="")
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScanHashLog(Base):
    """The hashes of content the service scanned for a customer who opted in: never the content."""

    __tablename__ = "scan_hash_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200), default="", index=True)
    url: Mapped[str] = mapped_column(Text, default="")
    content_sha256: Mapped[str] = mapped_column(String(64), default="")
    # [[algorithm, hex, quality or null, frame], ...]
    hashes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The service matched it when it scanned it: recorded then, not re-matched later.
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    scanned_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
