"""Customers (site owners), the sites they scan, and the codes that verify their email."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from reporting.models.base import Base, BigId, utcnow


class Customer(Base):
    """A site owner. ``customer_id`` is the id scans carry; ``partner_id`` the hosting partner
    that created it (None: created by an operator)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200), unique=True)
    partner_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # The address last set; shown masked only. unverified (none set) | pending | verified
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    email_state: Mapped[str] = mapped_column(String(16), default="unverified")
    # The address notices go to: the last one verified (kept while a new one is pending).
    verified_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # ``reporting.customers.values.CustomerSettings`` as JSON.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The customers' change counter (``CustomersHead``) at this row's last change.
    version: Mapped[int] = mapped_column(BigId, default=0)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Deleted: a tombstone that keeps the id from being taken again (reporting/customers/editing.py).
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class CustomerSite(Base):
    """A hostname (``shop.example``) or a zone (``*.example.org``: every name under it) a
    customer scans. A name belongs to one customer at most."""

    __tablename__ = "customer_sites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(260), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailVerification(Base):
    """The one open verification code of a customer's email: a SHA-256 of the code, an expiry
    and the wrong guesses so far."""

    __tablename__ = "customer_email_verifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class VerificationMail(Base):
    """One verification email sent, kept while it counts against the sending limits
    (reporting/customers/mail_limits.py): who asked, and a SHA-256 of the address, not the address."""

    __tablename__ = "customer_verification_mails"
    __table_args__ = (
        Index("ix_customer_verification_mails_partner", "partner_id", "sent_at"),
        Index("ix_customer_verification_mails_actor", "actor", "sent_at"),
        Index("ix_customer_verification_mails_address", "address_hash", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The partner whose token asked; None for an operator.
    partner_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The caller as the audit log names it ("token:…", "cli:…").
    actor: Mapped[str] = mapped_column(String(200))
    address_hash: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomersHead(Base):
    """The single row (id 1) holding the customers' change counter. Every change takes the next
    value, so a server polls one row to know whether its cached settings are current."""

    __tablename__ = "customers_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigId, default=0)
