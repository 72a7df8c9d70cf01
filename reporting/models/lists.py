"""Hash lists and their entries: the source of truth the in-memory indexes are built from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
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
    # What a match on this list sets in motion; see ``reporting.lists.policy.ActionPolicy``.
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "match" (known material) or "negative" (known-benign hashes that suppress perceptual hits
    # on other lists); see ``scanner.decision``.
    kind: Mapped[str] = mapped_column(String(16), default="match", server_default="match")
    # Per algorithm, the upper end (inclusive) of the review band above the threshold, e.g.
    # {"pdq": 40}: hits in it are queued for an analyst and never block.
    review: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # How hits of different algorithms combine: "any" or "at_least_two".
    combine: Mapped[str] = mapped_column(String(16), default="any", server_default="any")
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
    # A PDQ entry of quality below 50 (a near-flat image): flagged at import, since it matches
    # unrelated flat images; it stays on the list for an operator to judge.
    low_quality: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    external_id: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    # active | disabled | removed. Removed entries are tombstones, never deleted.
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The list version that last added or changed this entry.
    changed_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    hash_list: Mapped[HashList] = relationship(back_populates="entries")


class EntryHold(Base):
    """An entry held by flood protection (``scanner.flood``): while ``state`` is "held" its hits
    are queued for review instead of blocking; an operator releases it."""

    __tablename__ = "entry_holds"
    __table_args__ = (Index("ix_entry_holds_list_state", "list_id", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="RESTRICT"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("list_entries.id", ondelete="RESTRICT"))
    # The match that was held first.
    match_id: Mapped[int | None] = mapped_column(ForeignKey("matches.id", ondelete="SET NULL"), nullable=True)
    # held | released
    state: Mapped[str] = mapped_column(String(16), default="held")
    held_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(nullable=True)
    released_by: Mapped[str] = mapped_column(String(200), default="")
