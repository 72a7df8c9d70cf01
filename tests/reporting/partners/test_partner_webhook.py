"""The generic partner report: signed JSON, one idempotency key per report, retry rules."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from reporting.destinations.secret import Secret
from reporting.events import Event
from reporting.partners.partner_webhook import PartnerWebhookConfig, PartnerWebhookReporter
from reporting.testing.webhook_receiver import WebhookReceiver

SECRET = "partner-secret-0123456789"


def report_event(case_id: int = 5) -> Event:
    return Event(
        id=str(uuid.uuid4()),
        kind="report",
        customer_id="cust-1",
        occurred_at=datetime(2026, 11, 26, 7, 0, tzinfo=UTC),
        case_id=case_id,
        payload={"url": "https://shop.example/x.jpg", "hashes": {"pdq": "ab" * 32}, "partner": "iwf"},
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET, status=201) as server:
        yield server


def reporter(receiver: WebhookReceiver) -> PartnerWebhookReporter:
    return PartnerWebhookReporter(
        PartnerWebhookConfig(
            url=receiver.url, secret=Secret(SECRET), partner="iwf", allow_private=True, timeout_s=2
        )
    )


def test_a_report_is_signed_json_with_an_idempotency_key(receiver: WebhookReceiver) -> None:
    event = report_event()
    result = reporter(receiver).report(event, {"url": "https://shop.example/x.jpg", "md5": "0" * 32})
    assert result.ok, result.detail
    (request,) = receiver.requests
    assert request.header("idempotency-key") == event.id
    assert request.header("x-hashwatch-case-id") == "5"
    timestamp = request.header("x-hashwatch-timestamp")
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.header("x-hashwatch-signature") == f"sha256={expected}"
    body = json.loads(request.body)
    assert body["type"] == "hashwatch.report" and body["case_id"] == 5
    assert body["report"] == {"url": "https://shop.example/x.jpg", "md5": "0" * 32}


def test_retries_reuse_the_key_and_the_body(receiver: WebhookReceiver) -> None:
    event = report_event()
    sender = reporter(receiver)
    receiver.fail_next(1, 500)
    assert sender.deliver(event).retryable
    assert sender.deliver(event).ok
    keys = {r.header("idempotency-key") for r in receiver.seen}
    assert keys == {event.id}
    assert receiver.seen[0].body == receiver.seen[1].body


@pytest.mark.parametrize(
    ("status", "retryable"), [(409, True), (429, True), (503, True), (400, False), (422, False), (401, False)]
)
def test_retry_rules(receiver: WebhookReceiver, status: int, retryable: bool) -> None:
    receiver.fail_next(1, status)
    result = reporter(receiver).deliver(report_event())
    assert (result.ok, result.retryable) == (False, retryable), result.detail


def test_content_bytes_cannot_be_reported(receiver: WebhookReceiver) -> None:
    result = reporter(receiver).report(report_event(), {"image": b"\xff\xd8\xff"})
    assert (result.ok, result.retryable) == (False, False)
    assert receiver.seen == []


def test_private_targets_need_allow_private(receiver: WebhookReceiver) -> None:
    config = PartnerWebhookConfig.from_config({"url": receiver.url, "secret": SECRET, "partner": "iwf"})
    result = PartnerWebhookReporter(config).deliver(report_event())
    assert (result.ok, result.retryable) == (False, False)
    assert receiver.seen == []
    with pytest.raises(ValueError, match="unknown"):
        PartnerWebhookConfig.from_config({"url": receiver.url, "secret": SECRET, "colour": "red"})
    assert SECRET not in repr(config)
