"""Building destinations from stored JSON configs, and the event values they deliver."""

from __future__ import annotations

import json
import pickle
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from reporting.destinations import Destination, DestinationConfigError, build_destination, redact_config
from reporting.destinations.email import EmailDestination, SmtpSettings
from reporting.destinations.pagerduty import PagerDutyDestination
from reporting.destinations.secret import Secret
from reporting.destinations.webhook import WebhookDestination
from reporting.events import DeliveryResult, Event, EventError, make_test_event
from reporting.settings import ReportingSettings

SMTP = SmtpSettings(host="smtp.example", port=587, security="starttls", from_addr="hw@hashwatch.example")
ROUTING_KEY = "R0123456789abcdef0123456789ABCDE"


class FakeSettings:
    """The shape of the reporting settings ``build_destination`` reads."""

    smtp_host = "smtp.example"
    smtp_port = 465
    smtp_security = "tls"
    smtp_username = "hw"
    smtp_password = "pw"
    smtp_from = "hw@hashwatch.example"
    smtp_timeout_seconds = 5.0
    http_timeout_seconds = 3.0


def test_each_kind_builds_from_json() -> None:
    email = build_destination(
        "email", json.loads('{"to": ["o@shop.example"], "mode": "digest"}'), FakeSettings()
    )
    assert isinstance(email, EmailDestination)
    assert email.mode == "digest" and email.smtp.port == 465 and email.smtp.password == Secret("pw")
    hook = build_destination(
        "webhook", {"url": "https://hooks.shop.example/hw", "secret": "s" * 20, "allow_private": False}, SMTP
    )
    assert isinstance(hook, WebhookDestination) and not hook.config.allow_private
    pd = build_destination("pagerduty", {"routing_key": ROUTING_KEY, "severity": "error"}, FakeSettings())
    assert isinstance(pd, PagerDutyDestination) and pd.config.timeout_s == 3.0
    for destination in (email, hook, pd):
        assert isinstance(destination, Destination)


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        ("carrier-pigeon", {}, "unknown destination kind"),
        ("webhook", {"url": "https://h.example/x"}, "'secret' is required"),
        ("webhook", {"url": "https://h.example/x", "secret": "s" * 20, "alow_private": True}, "unknown key"),
        (
            "webhook",
            {"url": "https://h.example/x", "secret": "s" * 20, "allow_private": "yes"},
            "true or false",
        ),
        ("webhook", {"url": "ftp://h.example/x", "secret": "s" * 20}, "http"),
        ("webhook", {"url": "https://h.example/x", "secret": "short"}, "at least"),
        ("email", {"to": "o@shop.example", "mode": "weekly"}, "mode"),
        ("email", {"to": [1]}, "list of strings"),
        ("email", {}, "'to' is required"),
        ("pagerduty", {"routing_key": "abc"}, "32-character"),
        ("pagerduty", {"routing_key": ROUTING_KEY, "severity": "meh"}, "severity"),
        ("pagerduty", [], "JSON object"),
    ],
)
def test_bad_configs_are_refused_clearly(kind: str, config: Any, message: str) -> None:
    with pytest.raises(DestinationConfigError, match=message):
        build_destination(kind, config, SMTP)


def test_the_real_reporting_settings_build_every_kind() -> None:
    settings = ReportingSettings(smtp_host="127.0.0.1", smtp_port=2525, http_timeout_seconds=4.0)
    email = build_destination("email", {"to": ["o@shop.example"]}, settings)
    assert isinstance(email, EmailDestination)
    assert (email.smtp.port, email.smtp.security, email.smtp.from_addr) == (2525, "none", settings.smtp_from)
    hook = build_destination("webhook", {"url": "https://h.example/x", "secret": "s" * 16}, settings)
    assert isinstance(hook, WebhookDestination) and hook.config.timeout_s == 4.0


def test_email_without_smtp_is_a_config_error() -> None:
    with pytest.raises(DestinationConfigError, match="HASHWATCH_SMTP_HOST"):
        build_destination("email", {"to": ["o@shop.example"]}, object())


def test_secrets_stay_out_of_repr_and_listings() -> None:
    secret = "whsec-very-secret-value-1234"
    hook = build_destination("webhook", {"url": "https://h.example/x", "secret": secret}, SMTP)
    email = build_destination("email", {"to": ["o@shop.example"]}, FakeSettings())
    assert secret not in repr(hook)
    assert isinstance(email, EmailDestination)
    assert "password=Secret('********')" in repr(email.smtp)
    shown = redact_config({"url": "https://h.example/x", "secret": secret, "routing_key": ROUTING_KEY})
    assert shown == {"url": "https://h.example/x", "secret": "****1234", "routing_key": "****BCDE"}
    with pytest.raises(TypeError):
        pickle.dumps(Secret(secret))


def test_events_are_validated_and_frozen() -> None:
    payload: dict[str, Any] = {"url": "https://x.example/", "hits": [{"distance": 3}]}
    event = Event(
        str(uuid.uuid4()),
        "match",
        "c",
        datetime(2026, 1, 1, 13, tzinfo=timezone(timedelta(hours=1))),
        5,
        payload,
    )
    payload["url"] = "changed"
    assert event.payload["url"] == "https://x.example/"
    assert event.occurred_at == datetime(2026, 1, 1, 12, tzinfo=UTC)
    with pytest.raises(TypeError):
        event.payload["url"] = "x"  # type: ignore[index]
    assert Event.from_json_dict(json.loads(json.dumps(event.to_json_dict()))) == event
    naive = Event(str(uuid.uuid4()), "match", "c", datetime(2026, 1, 1, 12), 5, {})
    assert naive.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "not-a-uuid"),
        ("kind", ""),
        ("case_id", "7"),
        ("payload", {"x": {1, 2}}),
        ("payload", {1: "x"}),
        ("payload", {"distance": float("nan")}),
    ],
)
def test_bad_events_are_refused(field: str, value: Any) -> None:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "kind": "match",
        "customer_id": "c",
        "occurred_at": datetime.now(UTC),
        "case_id": 1,
        "payload": {},
    }
    fields[field] = value
    with pytest.raises(EventError):
        Event(**fields)


def test_the_test_event_and_results() -> None:
    event = make_test_event("cust-9")
    assert (event.kind, event.case_id, event.customer_id) == ("test", 0, "cust-9")
    assert make_test_event("cust-9").id != event.id
    assert DeliveryResult.retry("x", 3.0) == DeliveryResult(False, True, "x", 3.0)
    assert DeliveryResult.failure("x").retryable is False
    assert DeliveryResult.success("x", "ext").external_id == "ext"
