"""Partner reports and the evidence preserved for them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from reporting.models.base import Base, BigId, utcnow


class Report(Base):
    """One report of one case to one partner. The unique constraint is what makes a report
    filed once: a retry finds the row and resumes from its recorded step."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("match_id", "partner", name="uq_report_match_partner"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="RESTRICT"))
    partner: Mapped[str] = mapped_column(String(32))
    # new | submitted | uploaded | fileinfo | finished | retracted | failed
    step: Mapped[str] = mapped_column(String(16), default="new")
    partner_report_id: Mapped[str] = mapped_column(String(64), default="")
    partner_file_id: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Evidence(Base):
    """The matched bytes, encrypted, kept for the legal preservation period and then purged."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="RESTRICT"), unique=True)
    # Authenticated encryption of the content; NULL once purged.
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    key_id: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigId)
    content_type: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    preserve_until: Mapped[datetime] = mapped_column()
    purged_at: Mapped[datetime | None] = mapped_column(nullable=True)


class EvidenceAccess(Base):
    """Every read of preserved evidence: who, why, when."""

    __tablename__ = "evidence_access"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="RESTRICT"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    accessed_at: Mapped[datetime] = mapped_column(default=utcnow)
