"""An outbound exchange is held to its timeout as a whole: a receiver that answers one byte at a
time, in its headers or its body, cannot hold a delivery (and the worker running it) for longer."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from reporting.destinations.pagerduty import PagerDutyConfig, PagerDutyDestination
from reporting.destinations.secret import Secret
from reporting.destinations.webhook import WebhookConfig, WebhookDestination
from reporting.events import DeliveryResult, make_test_event
from tests.reporting.http.trickle import Trickle

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n"
BODY = b"x" * 2000


def _webhook(url: str) -> DeliveryResult:
    config = WebhookConfig(url=url, secret=Secret("s" * 16), allow_private=True, timeout_s=1.0)
    return WebhookDestination(config).deliver(make_test_event("shop"))


def _pagerduty(url: str) -> DeliveryResult:
    config = PagerDutyConfig(Secret("R" * 32), events_url=url, allow_private=True, timeout_s=1.0)
    return PagerDutyDestination(config).deliver(make_test_event("shop"))


@pytest.mark.parametrize("send", [_webhook, _pagerduty])
@pytest.mark.parametrize(
    ("answer", "burst"), [(HEADERS + BODY, 0), (HEADERS + BODY, len(HEADERS))], ids=["headers", "body"]
)
def test_a_trickling_receiver_is_given_up_on_as_a_whole(
    send: Callable[[str], DeliveryResult], answer: bytes, burst: int
) -> None:
    with Trickle(answer, burst=burst) as receiver:
        started = time.monotonic()
        result = send(receiver.url)
        took = time.monotonic() - started
    assert (result.ok, result.retryable) == (False, True), result.detail
    assert "timed out: the exchange took longer than 1 s" in result.detail
    assert took < 2.5
