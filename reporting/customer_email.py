"""The email that verifies a customer's notification address, sent through the same SMTP path
(``reporting.destinations.email.send_message``) as every notice.

Sent at once, not through the outbox: the caller is waiting for it, and a code that could not
be sent is reported to the caller (who can ask again) rather than retried behind its back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from typing import Protocol

from reporting.destinations.email import SmtpSettings, send_message
from reporting.events import DeliveryResult, format_time


class VerificationMailer(Protocol):
    def send_code(self, to: str, customer_name: str, code: str, expires_at: datetime) -> DeliveryResult: ...


class SmtpVerificationMailer:
    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp

    def send_code(self, to: str, customer_name: str, code: str, expires_at: datetime) -> DeliveryResult:
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = self.smtp.from_addr
        message["To"] = to
        message["Subject"] = "[hashwatch] Confirm your notification address"
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=self.smtp.message_id_domain)
        message["Auto-Submitted"] = "auto-generated"
        name = "".join(ch for ch in customer_name if ch.isprintable())[:200] or "your sites"
        body = [
            f"This address was given to hashwatch for notices about {name}.",
            "",
            f"Verification code: {code}",
            "",
            f"The code works once and expires at {format_time(expires_at)}.",
            "If you did not expect this message, ignore it: nothing is sent here until the code",
            "is entered.",
        ]
        message.set_content("\n".join(body) + "\n", subtype="plain", charset="utf-8")
        return send_message(self.smtp, message, [to])
