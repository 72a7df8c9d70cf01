"""Who may do what, and the record of what they did: API tokens, analyst accounts, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reporting.models.base import Base, BigId, utcnow


class ApiToken(Base):
    """A scoped API token. Only the SHA-256 of the secret is kept; the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The public part of the secret (``hw_<public_id>_…``): safe to list, log and revoke by.
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # CIDRs the token may be used from; empty means anywhere.
    allowed_cidrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The partner a token with the "partner" scope is bound to (scanner.auth.check_partner).
    partner_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The customer a customer:… token acts for (scanner.auth.check_customer).
    customer_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Analyst(Base):
    """A person who reviews matches: argon2id password plus TOTP, locked after repeated failures."""

    __tablename__ = "analysts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # analyst | lead | auditor | admin (``reporting.access.accounts.ROLE_SCOPES``)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(Text)
    # Base32 RFC 6238 secret; it must be readable to check codes, so it cannot be hashed: it is
    # sealed with the local key instead (``reporting.sealed``). Migration 0012 widens the
    # PostgreSQL column for the sealed form; SQLite does not enforce the length.
    totp_secret: Mapped[str] = mapped_column(String(64).with_variant(Text(), "postgresql"))
    # The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step: Mapped[int] = mapped_column(BigId, default=0)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RecoveryCode(Base):
    """A one-time code that stands in for TOTP; kept as a SHA-256 (the codes carry 80 random bits)."""

    __tablename__ = "analyst_recovery_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    analyst_id: Mapped[int] = mapped_column(ForeignKey("analysts.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditRecord(Base):
    """One entry of the append-only, hash-chained audit log. Ids run 1, 2, 3 … without gaps and
    are assigned by ``reporting.audit`` under the chain-head lock, not by the database."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(300), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # HMAC of ``hash`` under the audit key, which the database does not hold
    # (``reporting.audit_seal``); None for records written before the key was in use.
    mac: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditHead(Base):
    """The single row (id 1) naming the newest audit record. Appenders lock it, so the chain never
    forks; ``verify`` checks the chain ends where it says, and its MAC (under the audit key) that
    nobody without the key moved it: deleting the newest records shows."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigId, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SecretsKeyCheck(Base):
    """One value sealed with the local key when it was first used with this database, so a
    process holding another key is refused at start (``reporting.sealed``)."""

    __tablename__ = "secrets_key_check"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
