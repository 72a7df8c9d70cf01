"""How many verification emails a caller may have sent: per partner, per caller (token or shell
user) and per address, in a sliding window, counted in the database so that the limits hold
across every server and every restart.

A verification code goes to whatever address the caller typed. The pause between two codes for
one customer does not bound a partner, which can create customers at will; these limits do. Each
mail is counted before it is sent, under one lock, so servers racing each other cannot pass a
limit together; one that could not be sent is taken back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from reporting import models
from reporting.settings import ReportingSettings
from scanner.errors import Overloaded

_Mail = models.VerificationMail


@dataclass(frozen=True)
class MailLimits:
    window: timedelta = timedelta(hours=1)
    # Mails per window for all of one partner's tokens together.
    per_partner: int = 20
    # Mails per window for one token (or one shell user), partner or operator.
    per_caller: int = 20
    # Mails per window to one address from one partner (or from the operators): a partner's
    # allowance cannot all go to one inbox. Not counted across partners, so the answer never
    # tells a partner what another one did.
    per_address: int = 3

    @classmethod
    def from_settings(cls, settings: ReportingSettings) -> MailLimits:
        return cls(
            timedelta(seconds=settings.verify_mail_window_seconds),
            settings.verify_mails_per_partner,
            settings.verify_mails_per_caller,
            settings.verify_mails_per_address,
        )

    def reserve(self, session: Session, partner: str | None, actor: str, address: str) -> int:
        """Count one mail to ``address`` asked for by ``actor`` (of ``partner``), or raise
        ``Overloaded`` with when a retry can succeed. Call first in its transaction (it takes
        the lock); returns the id to ``release`` if the mail is not sent."""
        # One writer at a time. The customers' change counter row serves as the lock: every
        # database has it, and a reservation holds it for a few statements. Taken before any
        # read, so SQLite's snapshot cannot go stale under it.
        session.execute(
            update(models.CustomersHead)
            .where(models.CustomersHead.id == 1)
            .values(version=models.CustomersHead.version)
            .execution_options(synchronize_session=False)
        )
        now = models.utcnow()
        since = now - self.window
        session.execute(delete(_Mail).where(_Mail.sent_at <= since))
        hashed = _address_hash(address)
        same_sender = _Mail.partner_id.is_(None) if partner is None else _Mail.partner_id == partner
        checks: list[tuple[str, ColumnElement[bool], int]] = [
            ("for this caller", _Mail.actor == actor, self.per_caller),
            ("to this address", (_Mail.address_hash == hashed) & same_sender, self.per_address),
        ]
        if partner is not None:
            checks.insert(0, ("for this partner", _Mail.partner_id == partner, self.per_partner))
        for what, where, limit in checks:
            sent = list(session.scalars(select(_Mail.sent_at).where(where).order_by(_Mail.sent_at)))
            if len(sent) >= limit:
                retry_after = self._free_at(sent, limit) - now
                seconds = max(1.0, retry_after.total_seconds())
                raise Overloaded(
                    f"{limit} verification email(s) {what} within {_span(self.window)} already; "
                    f"retry in {int(seconds)} s",
                    seconds,
                    "rate_limit",
                )
        mail = _Mail(partner_id=partner, actor=actor, address_hash=hashed, sent_at=now)
        session.add(mail)
        session.flush()
        return mail.id

    def _free_at(self, sent: list[datetime], limit: int) -> datetime:
        # Room for one more once all but limit - 1 of them have left the window.
        return sent[len(sent) - limit] + self.window


def release(session: Session, reservation: int) -> None:
    """Take back a mail that was not sent."""
    session.execute(delete(_Mail).where(_Mail.id == reservation))


def _address_hash(address: str) -> str:
    # The log is pruned within the window; still, it need not hold addresses.
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds} s"
