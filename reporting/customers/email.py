"""The email that verifies a customer's notification address, sent through the same SMTP path
(``reporting.destinations.email.send_message``) as every notice.

Sent at once, not through the outbox: the caller is waiting for it, and a code that could not
be sent is reported to the caller (who can ask again) rather than retried behind its back.

The caller chooses the address, so the message must not become a way to mail strangers words of
the caller's choosing: it holds no text a partner or customer wrote (not the customer's name,
not its id, not its sites), only this fixed text, the code, its expiry, and the partner id an
operator gave the partner's token. How often it may be sent: reporting/customers/mail_limits.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from typing import Protocol

from reporting.destinations.email import SmtpSettings, send_message
from reporting.events import DeliveryResult, format_time
from scanner.auth import PARTNER_ID


class VerificationMailer(Protocol):
    def send_code(
        self, to: str, partner_id: str | None, code: str, expires_at: datetime
    ) -> DeliveryResult: ...


class SmtpVerificationMailer:
    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp

    def send_code(self, to: str, partner_id: str | None, code: str, expires_at: datetime) -> DeliveryResult:
        """``partner_id``: the partner the customer belongs to (None: an operator's customer)."""
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = self.smtp.from_addr
        message["To"] = to
        message["Subject"] = "[hashwatch] Confirm your notification address"
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=self.smtp.message_id_domain)
        message["Auto-Submitted"] = "auto-generated"
        body = [
            "This address was given to hashwatch, a content scanning service, to receive its",
            f"notices about a website. {_who_asked(partner_id)}",
            "",
            f"Verification code: {code}",
            "",
            f"The code works once and expires at {format_time(expires_at)}.",
            "If you did not expect this message, ignore it: nothing is sent here until the code",
            "is entered, and this message asks nothing else of you.",
        ]
        message.set_content("\n".join(body) + "\n", subtype="plain", charset="utf-8")
        return send_message(self.smtp, message, [to])


def _who_asked(partner_id: str | None) -> str:
    # A partner id an operator set under today's rule is a short token of letters, digits and
    # . _ -; one from before it is left out rather than shown (it could be any text).
    if partner_id is None:
        return "The request came from the service's operators."
    if PARTNER_ID.match(partner_id):
        return f'The request came through the hosting partner "{partner_id}".'
    return "The request came through a hosting partner."
