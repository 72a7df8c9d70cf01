"""The block hook against a real HTTP receiver: what its answers come to. Its detail becomes the
``block_failed`` event the customer is sent, so it names the status and never quotes the hook."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from reporting.events import Event
from reporting.matches.blockhook import apply_block
from reporting.settings import ReportingSettings
from reporting.testing.webhook_receiver import WebhookReceiver

INTERNAL = b"edge-api 10.0.0.7: rule table ops-blocks full"
PAYLOAD = {"url": "https://shop.example/img/1.jpg"}


def _event() -> Event:
    return Event(str(uuid.uuid4()), "block", "shop", datetime(2026, 1, 1, tzinfo=UTC), 7, dict(PAYLOAD))


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(status=200) as server:
        yield server


def _settings(hook: WebhookReceiver) -> ReportingSettings:
    return ReportingSettings(block_hook_url=hook.url, http_timeout_seconds=2.0)


def test_an_accepted_block_sends_the_match_and_is_done(hook: WebhookReceiver) -> None:
    event = _event()
    result = apply_block(_settings(hook), PAYLOAD, event)
    assert (result.ok, result.detail) == (True, "block hook answered 200")
    [request] = hook.requests
    assert json.loads(request.body) == {
        "event_id": event.id,
        "customer_id": "shop",
        "url": PAYLOAD["url"],
        "match_id": 7,
    }
    assert request.header("x-hashwatch-event-id") == event.id


@pytest.mark.parametrize(
    ("status", "retryable", "detail"),
    [
        (503, True, "block hook answered 503"),
        (429, True, "block hook answered 429"),
        (403, False, "block hook refused the block: 403"),
        (302, False, "block hook refused the block: 302"),
    ],
)
def test_a_failed_block_names_the_status_and_never_quotes_the_hook(
    hook: WebhookReceiver, status: int, retryable: bool, detail: str
) -> None:
    hook.fail_next(1, status, body=INTERNAL, headers={"Location": hook.url})
    result = apply_block(_settings(hook), PAYLOAD, _event())
    assert (result.ok, result.retryable, result.detail) == (False, retryable, detail)


def test_no_hook_means_the_block_is_active_in_hashwatch_alone() -> None:
    result = apply_block(ReportingSettings(), PAYLOAD, _event())
    assert result.ok and "no block hook" in result.detail
