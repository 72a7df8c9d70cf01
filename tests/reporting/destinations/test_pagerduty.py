"""PagerDuty Events v2 against a fake endpoint that enforces the documented schema."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from reporting.destinations.pagerduty import PagerDutyConfig, PagerDutyDestination
from reporting.destinations.secret import Secret
from reporting.events import Event, make_test_event
from reporting.testing.pagerduty_receiver import PagerDutyReceiver, schema_errors

ROUTING_KEY = "R0123456789abcdef0123456789ABCDE"


def case_event(kind: str, case_id: int = 9) -> Event:
    return Event(
        id=str(uuid.uuid4()),
        kind=kind,
        customer_id="cust-1",
        occurred_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        case_id=case_id,
        payload={"url": "https://shop.example/p.jpg", "block": "active"},
    )


@pytest.fixture
def receiver() -> Iterator[PagerDutyReceiver]:
    with PagerDutyReceiver() as server:
        yield server


def pagerduty(receiver: PagerDutyReceiver, severity: str = "critical") -> PagerDutyDestination:
    return PagerDutyDestination(
        PagerDutyConfig(
            routing_key=Secret(ROUTING_KEY),
            severity=severity,
            events_url=receiver.events_url,
            allow_private=True,
            timeout_s=2.0,
        )
    )


def test_a_match_triggers_one_alert_keyed_by_the_case(receiver: PagerDutyReceiver) -> None:
    result = pagerduty(receiver).deliver(case_event("match"))
    assert result.ok, result.detail
    assert result.external_id == "hashwatch-case-9"
    (body,) = receiver.accepted
    assert body["event_action"] == "trigger"
    assert body["routing_key"] == ROUTING_KEY
    assert body["dedup_key"] == "hashwatch-case-9"
    assert body["payload"]["severity"] == "critical"
    assert body["payload"]["source"] == "hashwatch"
    assert "case 9" in body["payload"]["summary"]
    assert receiver.alerts["hashwatch-case-9"].state == "triggered"


def test_a_retried_trigger_merges_and_closing_the_case_resolves(receiver: PagerDutyReceiver) -> None:
    sender = pagerduty(receiver)
    match = case_event("match")
    assert sender.deliver(match).ok
    assert sender.deliver(match).ok  # the worker retried after a lost answer
    assert sender.deliver(case_event("case_resolved")).ok
    alert = receiver.alerts["hashwatch-case-9"]
    assert (alert.state, alert.events) == ("resolved", 3)
    assert len(receiver.alerts) == 1
    resolve = receiver.accepted[-1]
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "hashwatch-case-9"}


def test_a_test_event_is_informational_and_has_its_own_key(receiver: PagerDutyReceiver) -> None:
    event = make_test_event("cust-1")
    assert pagerduty(receiver).deliver(event).ok
    body = receiver.accepted[0]
    assert body["payload"]["severity"] == "info"
    assert body["dedup_key"] == f"hashwatch-test-{event.id}"


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (401, False), (403, False), (404, False), (413, False),
                              (429, True), (500, True), (502, True), (503, True)]
)  # fmt: skip
def test_retry_rules(receiver: PagerDutyReceiver, status: int, retryable: bool) -> None:
    receiver.fail_next(1, status)
    result = pagerduty(receiver).deliver(case_event("match"))
    assert (result.ok, result.retryable) == (False, retryable), result.detail


def test_429_honours_retry_after_and_otherwise_waits_30_s(receiver: PagerDutyReceiver) -> None:
    receiver.fail_next(1, 429, headers={"Retry-After": "7"})
    result = pagerduty(receiver).deliver(case_event("match"))
    assert result.retryable and result.retry_after == 7.0
    receiver.fail_next(1, 429)
    result = pagerduty(receiver).deliver(case_event("match"))
    assert result.retryable and result.retry_after == 30.0


def test_a_timeout_is_retryable(receiver: PagerDutyReceiver) -> None:
    receiver.hang_next(1, 2.0)
    sender = PagerDutyDestination(
        PagerDutyConfig(
            Secret(ROUTING_KEY), events_url=receiver.events_url, allow_private=True, timeout_s=0.3
        )
    )
    result = sender.deliver(case_event("match"))
    assert (result.ok, result.retryable) == (False, True)


def test_the_fake_rejects_what_pagerduty_rejects(receiver: PagerDutyReceiver) -> None:
    assert schema_errors({"routing_key": "short", "event_action": "trigger"}) != []
    assert schema_errors({"routing_key": ROUTING_KEY, "event_action": "resolve"}) != []
    good = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "error"},
    }
    assert schema_errors(good) == []
    assert schema_errors({**good, "payload": {"summary": "s" * 1025, "source": "x", "severity": "error"}})
    # And it answers 400 on the wire, which the destination never retries.
    answer = httpx.post(receiver.events_url, content=json.dumps({"event_action": "nope"}))
    assert answer.status_code == 400


def test_a_long_summary_is_cut_to_the_limit(receiver: PagerDutyReceiver) -> None:
    event = Event(
        str(uuid.uuid4()), "match", "c", datetime.now(UTC), 1, {"url": "https://x.example/" + "a" * 3000}
    )
    assert pagerduty(receiver).deliver(event).ok
    assert len(receiver.accepted[0]["payload"]["summary"]) == 1024


@pytest.mark.parametrize("key", ["", "short", "x" * 33, "y" * 31, "has spaces in it 0123456789abcdef"])
def test_the_routing_key_must_be_32_characters(key: str) -> None:
    with pytest.raises(ValueError, match="routing_key"):
        PagerDutyConfig(routing_key=Secret(key))


def test_severity_is_validated_and_the_key_kept_out_of_repr() -> None:
    with pytest.raises(ValueError, match="severity"):
        PagerDutyConfig(routing_key=Secret(ROUTING_KEY), severity="fatal")
    assert ROUTING_KEY not in repr(PagerDutyDestination(PagerDutyConfig(routing_key=Secret(ROUTING_KEY))))


def test_the_default_endpoint_is_pagerdutys_and_private_targets_are_refused() -> None:
    config = PagerDutyConfig(routing_key=Secret(ROUTING_KEY))
    assert config.events_url == "https://events.pagerduty.com/v2/enqueue"
    local = PagerDutyDestination(
        PagerDutyConfig(Secret(ROUTING_KEY), events_url="http://127.0.0.1:9/v2/enqueue", timeout_s=1)
    )
    result = local.deliver(case_event("match"))
    assert (result.ok, result.retryable) == (False, False)
