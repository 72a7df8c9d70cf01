"""A customer's notification address: set it (a one-time code is mailed to it), then verify it
with that code. Notices go to an address only once it is verified.

The code is stored hashed and bound to the customer's row (``reporting.customers.codes``); it
expires after ``code_ttl`` and allows ``code_attempts`` wrong tries. How often codes may be
mailed: ``resend_after`` per customer, and ``reporting.customers.mail_limits``.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from sqlalchemy import delete, select

from reporting import audit, models
from reporting.customers.codes import code_hash, new_code, normal_code, spaced
from reporting.customers.destinations import point_email_destination
from reporting.customers.email import VerificationMailer
from reporting.customers.mail_limits import MailLimits, release
from reporting.customers.rows import CustomerTable, find_customer, touch, view_of
from reporting.customers.values import CustomerView, check_email, mask_email
from scanner.errors import FailedPrecondition, InvalidRequest, Unavailable

CODE_TTL = timedelta(hours=24)
CODE_ATTEMPTS = 5
# The least time between two codes sent for one customer.
RESEND_AFTER = timedelta(seconds=60)


class WrongCode(InvalidRequest):
    def __init__(self, message: str) -> None:
        super().__init__(message, "code")


class EmailVerification(CustomerTable):
    mailer: VerificationMailer | None
    mail_limits: MailLimits
    code_ttl: timedelta
    code_attempts: int
    resend_after: timedelta

    def set_email(
        self, customer_id: str, partner: str | None, email: str, actor: str = "system"
    ) -> CustomerView:
        """Set the notification address (state pending) and send it a one-time code.

        Notices keep going to the previously verified address, if any, until this one is
        verified. If the code cannot be sent nothing changes (``Unavailable``: try again).
        Past the sending limits (``MailLimits``) nothing is sent (``Overloaded``)."""
        address = check_email(email)
        if self.mailer is None:
            raise FailedPrecondition("this server sends no email (no SMTP server configured)")
        code = new_code()
        expires = models.utcnow() + self.code_ttl
        # Counted, then sent outside any transaction (SMTP may take seconds), then stored: a
        # code that never left is never stored; one whose storing failed is simply useless.
        with self._sessions.begin() as session:
            reservation = self.mail_limits.reserve(session, partner, actor, address)
            row = find_customer(session, customer_id, partner)
            owner = row.partner_id
            last = session.scalar(
                select(models.EmailVerification.created_at).where(
                    models.EmailVerification.customer_pk == row.id
                )
            )
            if last is not None and models.utcnow() - last < self.resend_after:
                raise FailedPrecondition(
                    f"a code was sent less than {int(self.resend_after.total_seconds())} s ago; "
                    "wait before asking again"
                )
        sent = self.mailer.send_code(address, owner, spaced(code), expires)
        if not sent.ok:
            with self._sessions.begin() as session:
                release(session, reservation)
            raise Unavailable(f"the verification email could not be sent: {sent.detail}")
        with self._sessions.begin() as session:
            row = find_customer(session, customer_id, partner, lock=True)
            session.execute(
                delete(models.EmailVerification).where(models.EmailVerification.customer_pk == row.id)
            )
            session.add(
                models.EmailVerification(
                    customer_pk=row.id,
                    email=address,
                    code_hash=code_hash(row.id, code),
                    attempts=0,
                    created_at=models.utcnow(),
                    expires_at=expires,
                )
            )
            row.email, row.email_state = address, "pending"
            touch(session, row)
            audit.record(
                session,
                actor,
                "customer.email_set",
                f"customer:{customer_id}",
                {"email": mask_email(address)},
            )
            return view_of(session, row)

    def verify_email(
        self, customer_id: str, partner: str | None, code: str, actor: str = "system"
    ) -> CustomerView:
        """Check a code: right → verified (and notices go to the address); wrong → one attempt
        used; expired or out of attempts → ``FailedPrecondition`` until a new code is asked for."""
        wrong: WrongCode | None = None
        with self._sessions.begin() as session:
            row = find_customer(session, customer_id, partner, lock=True)
            pending = session.scalar(
                select(models.EmailVerification).where(models.EmailVerification.customer_pk == row.id)
            )
            if pending is None:
                raise FailedPrecondition("no verification is pending: set the email first")
            if pending.expires_at <= models.utcnow():
                raise FailedPrecondition("the code has expired: set the email again for a new one")
            if pending.attempts >= self.code_attempts:
                raise FailedPrecondition("too many wrong codes: set the email again for a new one")
            if hmac.compare_digest(code_hash(row.id, normal_code(code)), pending.code_hash):
                session.delete(pending)
                row.email, row.verified_email, row.email_state = pending.email, pending.email, "verified"
                point_email_destination(session, row)
                touch(session, row)
                audit.record(
                    session,
                    actor,
                    "customer.email_verified",
                    f"customer:{customer_id}",
                    {"email": mask_email(pending.email)},
                )
                return view_of(session, row)
            # The used attempt commits with this transaction; the caller hears of it after.
            pending.attempts += 1
            left = self.code_attempts - pending.attempts
            audit.record(
                session, actor, "customer.email_verify_failed", f"customer:{customer_id}", {"left": left}
            )
            wrong = WrongCode(f"wrong code; {left} attempt(s) left")
        raise wrong
