"""Webhooks against a real HTTP receiver: signature, headers, retry rules, the SSRF guard."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from reporting.destinations.secret import Secret
from reporting.destinations.signing import sign, verify_signature
from reporting.destinations.webhook import WebhookConfig, WebhookDestination
from reporting.events import Event
from reporting.http.guard import GuardedTransport
from reporting.testing.webhook_receiver import WebhookReceiver

SECRET = "whsec-0123456789abcdef"


def match_event(case_id: int = 42) -> Event:
    return Event(
        id=str(uuid.uuid4()),
        kind="match",
        customer_id="cust-1",
        occurred_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        case_id=case_id,
        payload={
            "url": "https://shop.example/img/1.jpg",
            "block": "active",
            "hits": [{"list": "ncmec", "entry_id": 7, "algorithm": "pdq", "distance": 3}],
        },
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET) as server:
        yield server


def destination(url: str, allow_private: bool = True, timeout_s: float = 2.0) -> WebhookDestination:
    return WebhookDestination(
        WebhookConfig(url=url, secret=Secret(SECRET), allow_private=allow_private, timeout_s=timeout_s)
    )


def test_a_delivery_is_signed_json_with_the_event_id(receiver: WebhookReceiver) -> None:
    event = match_event()
    result = destination(receiver.url).deliver(event)
    assert result.ok, result.detail
    (request,) = receiver.wait_for(1)
    assert request.method == "POST"
    assert request.header("content-type") == "application/json"
    assert request.header("x-hashwatch-event-id") == event.id
    timestamp = request.header("x-hashwatch-timestamp")
    # The signature, recomputed here from the spec, not with the code under test.
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.header("x-hashwatch-signature") == f"sha256={expected}"
    body = json.loads(request.body)
    assert body["id"] == event.id
    assert body["case_id"] == 42
    assert body["payload"]["url"] == "https://shop.example/img/1.jpg"
    assert body["occurred_at"] == "2026-11-26T12:00:00Z"


def test_a_retry_sends_the_same_body_and_event_id(receiver: WebhookReceiver) -> None:
    event = match_event()
    receiver.fail_next(1, 503)
    sender = destination(receiver.url)
    first = sender.deliver(event)
    second = sender.deliver(event)
    assert (first.ok, first.retryable) == (False, True)
    assert second.ok
    assert [r.header("x-hashwatch-event-id") for r in receiver.seen] == [event.id, event.id]
    assert receiver.seen[0].body == receiver.seen[1].body
    assert receiver.valid_signatures()


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [
        (200, True, False),
        (202, True, False),
        (204, True, False),
        (400, False, False),
        (401, False, False),
        (403, False, False),
        (404, False, False),
        (410, False, False),
        (422, False, False),
        (429, False, True),
        (500, False, True),
        (502, False, True),
        (503, False, True),
        (504, False, True),
    ],
)
def test_retry_classification_per_status(
    receiver: WebhookReceiver, status: int, ok: bool, retryable: bool
) -> None:
    receiver.status = status
    result = destination(receiver.url).deliver(match_event())
    assert (result.ok, result.retryable) == (ok, retryable), result.detail
    assert len(receiver.seen) == 1


def test_429_passes_retry_after_on(receiver: WebhookReceiver) -> None:
    receiver.fail_next(1, 429, headers={"Retry-After": "17"})
    result = destination(receiver.url).deliver(match_event())
    assert result.retryable and result.retry_after == 17.0


def test_a_retry_after_of_non_ascii_digits_is_ignored_not_a_crash(receiver: WebhookReceiver) -> None:
    # "\u00b2".isdigit() is true and float() refuses it: the worker must still get a result.
    receiver.fail_next(1, 429, headers={"Retry-After": "\u00b2"})
    result = destination(receiver.url).deliver(match_event())
    assert result.retryable and result.retry_after is None


def test_redirects_are_not_followed(receiver: WebhookReceiver) -> None:
    with WebhookReceiver() as elsewhere:
        receiver.fail_next(1, 302, headers={"Location": elsewhere.url})
        result = destination(receiver.url).deliver(match_event())
        assert (result.ok, result.retryable) == (False, False)
        assert "redirect" in result.detail
        assert elsewhere.seen == []


def test_a_timeout_is_retryable(receiver: WebhookReceiver) -> None:
    receiver.hang_next(1, seconds=2.0)
    result = destination(receiver.url, timeout_s=0.3).deliver(match_event())
    assert (result.ok, result.retryable) == (False, True)
    assert "timed out" in result.detail


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = destination(f"http://127.0.0.1:{port}/hook").deliver(match_event())
    assert (result.ok, result.retryable) == (False, True)


# -- SSRF guard -----------------------------------------------------------------------------


def test_loopback_is_refused_without_allow_private(receiver: WebhookReceiver) -> None:
    result = destination(receiver.url, allow_private=False).deliver(match_event())
    assert (result.ok, result.retryable) == (False, False)
    assert "private" in result.detail
    assert receiver.seen == []


def test_loopback_is_accepted_with_allow_private(receiver: WebhookReceiver) -> None:
    assert destination(receiver.url, allow_private=True).deliver(match_event()).ok


def test_a_name_resolving_to_loopback_is_refused(receiver: WebhookReceiver) -> None:
    url = f"http://localhost:{receiver.port}/hook"
    result = destination(url, allow_private=False).deliver(match_event())
    assert (result.ok, result.retryable) == (False, False)
    assert "localhost resolves to" in result.detail
    assert receiver.seen == []
    # The same name through the guard (resolved and pinned by us) works when allowed.
    assert destination(url, allow_private=True).deliver(match_event()).ok


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://[fe80::1]/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_private_and_reserved_addresses_are_refused(url: str) -> None:
    result = destination(url, allow_private=False, timeout_s=1.0).deliver(match_event())
    assert (result.ok, result.retryable) == (False, False)
    assert result.detail.startswith("refused:")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "http://user:pw@example.com/hook", "http:///nohost"]
)
def test_urls_that_are_not_plain_http_are_refused_at_config_time(url: str) -> None:
    with pytest.raises(ValueError):
        WebhookConfig(url=url, secret=Secret(SECRET))


def test_the_secret_stays_out_of_repr() -> None:
    sender = destination("https://hooks.example/x")
    assert SECRET not in repr(sender)
    assert SECRET not in str(sender.config)
    assert SECRET not in f"{sender.config.secret}"


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        WebhookConfig(url="https://hooks.example/x", secret=Secret("short"))


@pytest.fixture(scope="module")
def localhost_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_the_pinned_connection_still_verifies_the_certificate_name(
    localhost_certificate: tuple[Path, Path],
) -> None:
    cert, key = localhost_certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(str(cert), str(key))
    client_context = ssl.create_default_context(cafile=str(cert))
    with (
        WebhookReceiver(tls_context=server_context) as receiver,
        httpx.Client(transport=GuardedTransport(allow_private=True, ssl_context=client_context)) as client,
    ):
        # Connected to the address the guard resolved and checked, verified against the name.
        assert client.post(f"https://localhost:{receiver.port}/hook", content=b"{}").status_code == 204
        # Same server, same address, but the certificate does not name 127.0.0.1: refused.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.post(f"https://127.0.0.1:{receiver.port}/hook", content=b"{}")
    assert len(receiver.requests) == 1


# -- verify_signature, for receivers --------------------------------------------------------


def test_verify_signature_accepts_a_fresh_valid_signature() -> None:
    body = b'{"id":"x"}'
    header = sign(SECRET, 1_800_000_000, body)
    assert verify_signature(SECRET, "1800000000", body, header, 300, now=1_800_000_100)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "now"),
    [
        ("wrong-secret-0123456789", "1800000000", b'{"id":"x"}', 1_800_000_000),
        (SECRET, "1800000000", b'{"id":"y"}', 1_800_000_000),
        (SECRET, "1800000001", b'{"id":"x"}', 1_800_000_000),
        (SECRET, "1800000000", b'{"id":"x"}', 1_800_000_301),
        (SECRET, "not-a-number", b'{"id":"x"}', 1_800_000_000),
    ],
)
def test_verify_signature_refuses_tampering_and_replays(
    secret: str, timestamp: str, body: bytes, now: float
) -> None:
    header = sign(SECRET, 1_800_000_000, b'{"id":"x"}')
    assert not verify_signature(secret, timestamp, body, header, 300, now=now)
