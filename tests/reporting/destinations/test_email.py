"""Email through a real SMTP server (aiosmtpd): content rules, Message-ID, TLS, auth, retries."""

from __future__ import annotations

import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reporting.destinations.email import EmailConfig, EmailDestination, SmtpSettings
from reporting.destinations.secret import Secret
from reporting.events import Event, EventError, make_test_event
from reporting.testing.smtp_sink import SmtpSink

T0 = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
JPEG_MAGIC = b"\xff\xd8\xff"


def event(case_id: int, url: str, block: str = "active", kind: str = "match", minutes: int = 0) -> Event:
    return Event(
        id=str(uuid.uuid4()),
        kind=kind,
        customer_id="cust-1",
        occurred_at=T0 + timedelta(minutes=minutes),
        case_id=case_id,
        payload={
            "url": url,
            "block": block,
            "hits": [{"list": "ncmec", "entry_id": 7, "algorithm": "pdq", "distance": 4}],
        },
    )


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def email_to(sink: SmtpSink, mode: str = "immediate", **smtp: object) -> EmailDestination:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=sink.port,
        from_addr="alerts@hashwatch.example",
        timeout_s=3.0,
        **smtp,  # type: ignore[arg-type]
    )
    return EmailDestination(EmailConfig(to=("owner@shop.example", "sec@shop.example"), mode=mode), settings)


def _assert_no_content_or_links(raw: bytes) -> None:
    assert JPEG_MAGIC not in raw
    assert b"\x89PNG" not in raw
    text = raw.decode("utf-8", "replace").lower()
    assert "http://" not in text and "https://" not in text
    assert "<a " not in text and "<img" not in text


def test_one_plain_text_message_without_the_image_or_a_link(sink: SmtpSink) -> None:
    match = event(42, "https://shop.example/uploads/2026/cat.jpg")
    result = email_to(sink).deliver(match)
    assert result.ok, result.detail
    (received,) = sink.wait_for(1)
    assert set(received.rcpt_tos) == {"owner@shop.example", "sec@shop.example"}
    message = received.message
    assert not message.is_multipart()
    assert message.get_content_type() == "text/plain"
    assert list(message.iter_attachments()) == []
    assert message["Message-ID"] == f"<{match.id}@hashwatch.example>"
    assert message["X-Hashwatch-Event-Id"] == match.id
    assert "case 42" in message["Subject"]
    body = message.get_content()
    assert "hxxps[:]//shop[.]example/uploads/2026/cat[.]jpg" in body
    assert "2026-11-26T09:30:00Z" in body
    assert "active" in body
    _assert_no_content_or_links(received.data)


def test_a_retried_send_carries_the_same_message_id(sink: SmtpSink) -> None:
    match = event(1, "https://shop.example/a.png")
    sender = email_to(sink)
    sink.reject_next(1, 451)
    first = sender.deliver(match)
    second = sender.deliver(match)
    assert (first.ok, first.retryable) == (False, True)
    assert second.ok
    assert second.external_id == f"<{match.id}@hashwatch.example>"


def test_a_block_failure_says_so(sink: SmtpSink) -> None:
    assert email_to(sink).deliver(event(3, "https://shop.example/b.gif", kind="block_failed")).ok
    message = sink.wait_for(1)[0].message
    assert "block failed" in message["Subject"].lower()
    assert "FAILED" in message.get_content()


def test_the_digest_is_one_message_listing_urls_times_and_block_state(sink: SmtpSink) -> None:
    events = [
        event(10, "https://shop.example/1.jpg", "active", minutes=5),
        event(11, "https://cdn.shop.example/2.jpg", "pending", minutes=1),
        event(12, "https://shop.example/3.jpg", "failed", kind="block_failed", minutes=9),
    ]
    sender = email_to(sink, mode="digest")
    period = (T0, T0 + timedelta(days=1))
    result = sender.deliver_digest("cust-1", [*events, events[0]], period)
    assert result.ok, result.detail
    (received,) = sink.wait_for(1)
    body = received.message.get_content()
    assert "3 item(s)" in body
    for url in ("shop[.]example/1[.]jpg", "cdn[.]shop[.]example/2[.]jpg", "shop[.]example/3[.]jpg"):
        assert url in body
    assert body.index("2[.]jpg") < body.index("1[.]jpg") < body.index("3[.]jpg")  # in time order
    for moment in ("09:31:00Z", "09:35:00Z", "09:39:00Z"):
        assert moment in body
    assert "pending" in body and "active" in body and "FAILED" in body
    _assert_no_content_or_links(received.data)
    # The same digest again (a retry) has the same Message-ID.
    assert sender.deliver_digest("cust-1", list(reversed(events)), period).external_id == result.external_id


def test_an_empty_digest_sends_nothing_and_strangers_are_refused(sink: SmtpSink) -> None:
    sender = email_to(sink, mode="digest")
    period = (T0, T0 + timedelta(days=1))
    assert sender.deliver_digest("cust-1", [], period).ok
    stranger = event(5, "https://other.example/x.jpg")
    refused = sender.deliver_digest("cust-2", [stranger], period)
    assert (refused.ok, refused.retryable) == (False, False)
    assert sink.messages == []


def test_the_test_event_is_marked_as_a_test(sink: SmtpSink) -> None:
    assert email_to(sink).deliver(make_test_event("cust-1")).ok
    message = sink.wait_for(1)[0].message
    assert "Test" in message["Subject"]
    assert "not real" in message.get_content()


def test_a_permanent_refusal_is_not_retried(sink: SmtpSink) -> None:
    sink.reject_next(1, 554)
    result = email_to(sink).deliver(event(1, "https://shop.example/a.png"))
    assert (result.ok, result.retryable) == (False, False)


def test_no_server_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = SmtpSettings(host="127.0.0.1", port=port, from_addr="a@hashwatch.example", timeout_s=1)
    result = EmailDestination(EmailConfig(to=("o@shop.example",)), settings).deliver(
        event(1, "https://x.example/")
    )
    assert (result.ok, result.retryable) == (False, True)


def test_bytes_cannot_enter_an_event() -> None:
    with pytest.raises(EventError, match="bytes"):
        Event(str(uuid.uuid4()), "match", "c", T0, 1, {"content": JPEG_MAGIC + b"rest"})


@pytest.mark.parametrize(
    "address",
    ["not-an-address", "a@b", "x@y.example\r\nBcc: victim@z.example", "", "a@b..example", "(c)a@b.example"],
)
def test_bad_recipients_are_refused(address: str) -> None:
    with pytest.raises(ValueError):
        EmailConfig(to=(address,))


def test_a_local_sender_domain_is_fine() -> None:
    assert SmtpSettings(host="127.0.0.1", from_addr="hashwatch@localhost").message_id_domain == "localhost"


def test_credentials_are_never_sent_in_the_clear() -> None:
    with pytest.raises(ValueError, match="TLS"):
        SmtpSettings(host="smtp.example", username="u", password=Secret("p"), security="none")


# -- TLS and AUTH ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_tls_with_auth(certificate: tuple[Path, Path], mode: str) -> None:
    with SmtpSink(mode=mode, tls_context=_server_context(certificate), credentials=("hw", "s3cret")) as sink:
        sender = email_to(
            sink, security=mode, username="hw", password=Secret("s3cret"), ca_file=str(certificate[0])
        )
        result = sender.deliver(event(7, "https://shop.example/t.jpg"))
        assert result.ok, result.detail
        assert len(sink.wait_for(1)) == 1
        assert sink.logins == ["hw"]


def test_a_wrong_password_is_not_retried(certificate: tuple[Path, Path]) -> None:
    context = _server_context(certificate)
    with SmtpSink(mode="starttls", tls_context=context, credentials=("hw", "s3cret")) as sink:
        sender = email_to(
            sink, security="starttls", username="hw", password=Secret("nope"), ca_file=str(certificate[0])
        )
        result = sender.deliver(event(7, "https://shop.example/t.jpg"))
        assert (result.ok, result.retryable) == (False, False)
        assert "authentication" in result.detail
        assert sink.messages == []


def test_an_untrusted_certificate_is_not_retried(certificate: tuple[Path, Path]) -> None:
    with SmtpSink(mode="tls", tls_context=_server_context(certificate)) as sink:
        result = email_to(sink, security="tls").deliver(event(7, "https://shop.example/t.jpg"))
        assert (result.ok, result.retryable) == (False, False)
        assert "certificate" in result.detail
