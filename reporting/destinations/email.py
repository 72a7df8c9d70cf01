"""Email to the customer: one message per event, or one digest per period.

Plain text only. The message says where and when something matched and what state its block is
in; it never carries the image, and every value that could hold a URL, a domain or an address
(the URL, the site, list names, the customer id) is written defanged (``defang``) so no mail
program turns any part of it into a link. The Message-ID is derived from the event
id (or, for a digest, from the ids it lists), so a retried send is recognisable as the same message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from reporting.destinations.schema import DestinationConfigError, DestinationKind, config_field
from reporting.destinations.smtp import SmtpSettings, SmtpSettingsSource, check_address, send_message
from reporting.events import DeliveryResult, Event, EventKind, format_time

__all__ = ["KIND", "EmailConfig", "EmailDestination", "SmtpSettings", "defang", "send_message"]


MODES = ("immediate", "digest")
MAX_RECIPIENTS = 20


@dataclass(frozen=True)
class EmailConfig:
    to: tuple[str, ...] = config_field("the address to notify.")
    # Set with the destination's mode (``--digest``), and by the Customers service.
    mode: str = config_field("immediate or digest.", default="immediate", choices=MODES, flag=False)

    def __post_init__(self) -> None:
        if not self.to:
            raise ValueError("at least one recipient is needed")
        if len(self.to) > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} recipients")
        for address in self.to:
            check_address(address, "recipient")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")


# Every character that lets a mail program see a link or an address in text: dots (with the
# ideographic and full-width forms IDNA also reads as dots), colons and at signs.
_UNLINKABLE = str.maketrans(
    {
        ".": "[.]",
        "\u3002": "[.]",
        "\uff0e": "[.]",
        "\uff61": "[.]",
        ":": "[:]",
        "\uff1a": "[:]",
        "@": "[@]",
        "\uff20": "[@]",
    }
)
_HTTP = re.compile("(h)tt(p)", re.IGNORECASE)


def defang(text: str) -> str:
    """Text a person can read and no mail program will link: ``hxxps[:]//shop[.]example/1[.]jpg``.

    The whole string, not just the host: a URL's path or query may carry another URL
    (``?to=https://evil.example``), a bare domain or an address, and any of them would be made
    clickable. So every dot, colon and at sign is bracketed and every "http" becomes "hxxp"."""
    clean = "".join(ch for ch in text if ch.isprintable())
    return _HTTP.sub(r"\1xx\2", clean).translate(_UNLINKABLE)


def _one_line(value: Any, limit: int = 200) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return text[:limit]


def _hits(payload: Any) -> str:
    hits = payload.get("hits", []) if hasattr(payload, "get") else []
    parts = []
    for hit in hits if isinstance(hits, list | tuple) else []:
        if hasattr(hit, "get"):
            name = defang(_one_line(hit.get("list", "?"), 60))
            algorithm = _one_line(hit.get("algorithm", "?"), 20)
            distance = _one_line(hit.get("distance", "?"), 8)
            parts.append(f"list {name!r} ({algorithm}, distance {distance})")
    return "; ".join(parts) or "-"


def _site(event: Event) -> str:
    host = urlsplit(str(event.payload.get("url", ""))).hostname or ""
    return defang(host or event.customer_id)


_BLOCK_TEXT = {
    "active": "active (the content is blocked)",
    "pending": "pending (a block is being applied)",
    "failed": "FAILED (the content may still be served; act now)",
    "resolved": "resolved",
    "none": "none (this list does not block)",
}


def _block_state(event: Event) -> str:
    if event.kind == EventKind.BLOCK_FAILED:
        return _BLOCK_TEXT["failed"]
    state = _one_line(event.payload.get("block", "unknown"), 20)
    return _BLOCK_TEXT.get(state, defang(state))


def _event_lines(event: Event) -> list[str]:
    return [
        f"Case:        {event.case_id}",
        f"Detected at: {format_time(event.occurred_at)}",
        f"Location:    {defang(_one_line(event.payload.get('url', '-'), 2000))}",
        f"Block:       {_block_state(event)}",
        f"Matched:     {_hits(event.payload)}",
    ]


_FOOTER = [
    "",
    "This message never contains the matched image or a link to it. Locations are",
    "written so that mail programs do not turn them into links. If you believe a",
    "match is wrong, or the content has been removed, ask your hashwatch operator",
    "to review the block.",
]

_SUBJECTS: dict[str, str] = {
    EventKind.MATCH: "[hashwatch] Known abuse material matched on {site} (case {case})",
    EventKind.BLOCK_FAILED: "[hashwatch] ACTION NEEDED: block failed on {site} (case {case})",
    EventKind.CASE_RESOLVED: "[hashwatch] Case {case} on {site} resolved",
    EventKind.DEAD_LETTER: "[hashwatch] A notification could not be delivered (case {case})",
    EventKind.TEST: "[hashwatch] Test notification",
}

_INTROS: dict[str, str] = {
    EventKind.MATCH: "hashwatch found content on your site matching a known child sexual abuse hash list.",
    EventKind.BLOCK_FAILED: (
        "hashwatch could not block content matching a known child sexual abuse hash list."
    ),
    EventKind.CASE_RESOLVED: "A case on your site has been resolved.",
    EventKind.DEAD_LETTER: "hashwatch gave up delivering a notification after repeated failures.",
    EventKind.TEST: "This is a test notification from hashwatch. The details below are not real.",
}


@dataclass
class EmailDestination:
    config: EmailConfig
    smtp: SmtpSettings
    kind: str = field(default="email", init=False)

    @property
    def mode(self) -> str:
        return self.config.mode

    def render(self, event: Event) -> EmailMessage:
        subject = _SUBJECTS.get(event.kind, "[hashwatch] {kind} (case {case})").format(
            site=_site(event), case=event.case_id, kind=_one_line(event.kind, 40)
        )
        intro = _INTROS.get(event.kind, f"hashwatch event: {_one_line(event.kind, 40)}.")
        body = [intro, "", *_event_lines(event), "", f"Event id: {event.id}", *_FOOTER]
        return self._message(
            subject, body, f"{event.id}@{self.smtp.message_id_domain}", event.occurred_at, event.id
        )

    def render_digest(
        self, customer_id: str, events: Sequence[Event], period: tuple[datetime, datetime]
    ) -> EmailMessage:
        start, end = period
        unique = sorted({e.id: e for e in events}.values(), key=lambda e: (e.occurred_at, e.id))
        ids = "\n".join(sorted(e.id for e in unique))
        digest_id = hashlib.sha256(f"{customer_id}\n{format_time(start)}\n{ids}".encode()).hexdigest()[:32]
        subject = (
            f"[hashwatch] Daily digest: {len(unique)} match(es) for {defang(_one_line(customer_id, 60))}"
        )
        body = [
            f"hashwatch matches on your sites between {format_time(start)} and {format_time(end)}:",
            f"{len(unique)} item(s) matched a known child sexual abuse hash list.",
        ]
        for number, event in enumerate(unique, 1):
            body += ["", f"{number}."] + ["   " + line for line in _event_lines(event)]
        body += ["", f"Event ids: {', '.join(e.id for e in unique)}", *_FOOTER]
        return self._message(subject, body, f"digest-{digest_id}@{self.smtp.message_id_domain}", end, "")

    def deliver(self, event: Event) -> DeliveryResult:
        try:
            message = self.render(event)
        except (ValueError, TypeError) as exc:  # a payload no message can be made of
            return DeliveryResult.failure(f"cannot render the message: {exc}")
        return self._send(message)

    def deliver_digest(
        self, customer_id: str, events: Sequence[Event], period: tuple[datetime, datetime]
    ) -> DeliveryResult:
        """One message listing ``events`` (all of ``customer_id``); nothing is sent for none."""
        strangers = [e.id for e in events if e.customer_id != customer_id]
        if strangers:
            return DeliveryResult.failure(f"events of other customers in a digest: {strangers[:3]}")
        if not events:
            return DeliveryResult.success("nothing to send")
        try:
            message = self.render_digest(customer_id, events, period)
        except (ValueError, TypeError) as exc:
            return DeliveryResult.failure(f"cannot render the digest: {exc}")
        return self._send(message)

    def _message(
        self, subject: str, lines: list[str], message_id: str, when: datetime, event_id: str
    ) -> EmailMessage:
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = self.smtp.from_addr
        message["To"] = ", ".join(self.config.to)
        message["Subject"] = _one_line(subject, 250)
        message["Date"] = format_datetime(when)
        message["Message-ID"] = f"<{message_id}>"
        message["Auto-Submitted"] = "auto-generated"
        if event_id:
            message["X-Hashwatch-Event-Id"] = event_id
        message.set_content("\n".join(lines) + "\n", subtype="plain", charset="utf-8")
        return message

    def _send(self, message: EmailMessage) -> DeliveryResult:
        return send_message(self.smtp, message, list(self.config.to))


def _smtp(settings: object) -> SmtpSettings:
    if isinstance(settings, SmtpSettings):
        return settings
    if getattr(settings, "smtp_host", ""):
        source: SmtpSettingsSource = settings  # type: ignore[assignment]
        return SmtpSettings.from_settings(source)
    raise DestinationConfigError("email: no SMTP server configured (set HASHWATCH_SMTP_HOST)")


KIND = DestinationKind(
    "email",
    EmailConfig,
    lambda values, settings: EmailDestination(EmailConfig(**values), _smtp(settings)),
    digest=True,
)
