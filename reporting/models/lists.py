"""Hash lists and their entries: the source of truth the in-memory indexes are built from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reporting.models.base import Base, BigId, utcnow


class HashList(Base):
    __tablename__ = "hash_lists"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Per-algorithm Hamming thresholds (inclusive) overriding the defaults, e.g. {"pdq": 31}.
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What a match on this list sets in motion; see ``reporting.policy.ActionPolicy``.
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Bumped by every change to the list or its entries, under the row's lock, so changes
    # commit in version order and a server can fetch exactly what changed since it last looked.
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    entries: Mapped[list[ListEntry]] = relationship(back_populates="hash_list")


class ListEntry(Base):
    __tablename__ = "list_entries"
    # Re-importing the same file is idempotent: one row per (list, algorithm, hash).
    __table_args__ = (
        UniqueConstraint("list_id", "algorithm", "hash_hex", name="uq_list_entry_hash"),
        Index("ix_list_entries_changes", "list_id", "changed_version"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="RESTRICT"), index=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    hash_hex: Mapped[str] = mapped_column(String(64))
    # PDQ quality of the entry when it was hashed here (images import); None when unknown.
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    external_id: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    # active | disabled | removed. Removed entries are tombstones, never deleted.
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The list version that last added or changed this entry.
    changed_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    hash_list: Mapped[HashList] = relationship(back_populates="entries")
