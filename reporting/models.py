"""Database models (SQLAlchemy 2 typed ORM). The schema itself is owned by the Alembic
migrations in ``reporting/migrations``; these classes must agree with them (a test checks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive and hands them back naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UtcDateTime()}


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class HashList(Base):
    __tablename__ = "hash_lists"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Per-algorithm Hamming thresholds (inclusive) overriding the defaults, e.g. {"pdq": 31}.
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    entries: Mapped[list[ListEntry]] = relationship(back_populates="hash_list")


class ListEntry(Base):
    __tablename__ = "list_entries"
    # Re-importing the same file is idempotent: one row per (list, algorithm, hash).
    __table_args__ = (UniqueConstraint("list_id", "algorithm", "hash_hex", name="uq_list_entry_hash"),)

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
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    hash_list: Mapped[HashList] = relationship(back_populates="entries")


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

    match: Mapped[Match] = relationship(back_populates="hits")
