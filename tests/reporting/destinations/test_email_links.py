"""No part of a notification email is a link or an address a mail program would make clickable,
however the URL nests other URLs: checked on what a real SMTP server (aiosmtpd) received."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from reporting.destinations.email import EmailConfig, EmailDestination, SmtpSettings
from reporting.events import Event
from reporting.testing.smtp_sink import SmtpSink

T0 = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
NESTED = [
    "https://a.example/redirect?to=https://evil.example/x",
    "https://a.example/path/http://b.example",
    "HTTPS://A.EXAMPLE/u?mail=user@evil.example&next=www.evil.example/login",
    "https://a.example/x#//evil.example/y",
    "https://a.example/files/payload.zip?u=ftp://c.example/f",
    "https://a.example/p/javascript:alert(1)/mailto:x@evil.example",
    # Dots IDNA reads as dots: an ideographic and a full-width full stop.
    "https://a.example/q/evil\u3002example/r\uff0eexample",
    "https://192.0.2.7:8443/raw/\u202eevil.example",
]
# What mail programs turn into links: a scheme, "www.", anything dotted like a domain or an IP
# address, an email address; with the dots and colons IDNA and browsers also accept.
LINKABLE = [
    re.compile(r"[a-z][a-z0-9+.\-]*\s*[:\uff1a]\s*/", re.IGNORECASE),
    re.compile(r"\b(?:mailto|javascript|data|file|ftp|tel|sms)\s*[:\uff1a]", re.IGNORECASE),
    re.compile(r"www\s*[.\u3002\uff0e\uff61]", re.IGNORECASE),
    re.compile(r"[\w\-]+(?:[.\u3002\uff0e\uff61][\w\-]+)+"),
    re.compile(r"[\w.+\-][@\uff20][\w\-]"),
]


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def _sender(sink: SmtpSink, mode: str = "immediate") -> EmailDestination:
    smtp = SmtpSettings(host="127.0.0.1", port=sink.port, from_addr="alerts@hashwatch.example", timeout_s=3.0)
    return EmailDestination(EmailConfig(to=("owner@shop.example",), mode=mode), smtp)


def _event(url: str, customer: str = "cust-1", minutes: int = 0) -> Event:
    hits = [{"list": "iwf.org.uk", "entry_id": 7, "algorithm": "pdq", "distance": 4}]
    return Event(
        id=str(uuid.uuid4()),
        kind="match",
        customer_id=customer,
        occurred_at=T0 + timedelta(minutes=minutes),
        case_id=minutes + 1,
        payload={"url": url, "block": "active", "hits": hits},
    )


def _readable_parts(message: EmailMessage) -> list[str]:
    """Everything a mail program shows: the subject and every text part (plain or HTML)."""
    parts = [str(message["Subject"])]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            assert isinstance(part, EmailMessage)
            parts.append(part.get_content())
    return parts


def _linkable(text: str) -> list[str]:
    return [found.group() for pattern in LINKABLE for found in pattern.finditer(text)]


@pytest.mark.parametrize("url", NESTED)
def test_a_message_carries_no_linkable_url_or_domain(sink: SmtpSink, url: str) -> None:
    assert _sender(sink).deliver(_event(url)).ok
    [received] = sink.wait_for(1)
    message = received.message
    assert [p.get_content_type() for p in message.walk()] == ["text/plain"]
    for text in _readable_parts(message):
        assert _linkable(text) == [], text
    # Still readable: the URL is all there, bracketed.
    body = message.get_content()
    if url == NESTED[0]:
        assert "hxxps[:]//a[.]example/redirect?to=hxxps[:]//evil[.]example/x" in body


def test_the_digest_carries_no_linkable_url_or_domain(sink: SmtpSink) -> None:
    events = [_event(url, "shop.example", minutes) for minutes, url in enumerate(NESTED)]
    period = (T0, T0 + timedelta(days=1))
    assert _sender(sink, "digest").deliver_digest("shop.example", events, period).ok
    [received] = sink.wait_for(1)
    parts = _readable_parts(received.message)
    assert "shop[.]example" in parts[0], "the customer id in the subject"
    for text in parts:
        assert _linkable(text) == [], text
    assert parts[1].count("hxxp") >= len(NESTED)


def test_the_check_itself_finds_what_it_must() -> None:
    # The patterns above are the test: each must catch what it is there for.
    for text in [*NESTED, "see www.evil.example", "evil.zip", "write to x@y", "10.0.0.1", "mailto:x"]:
        assert _linkable(text), text
    assert _linkable("hxxps[:]//a[.]example/x[.]zip?m=u[@]e[.]example") == []
