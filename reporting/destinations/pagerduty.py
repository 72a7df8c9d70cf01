"""PagerDuty Events API v2: one alert per case, resolved when the case closes.

``dedup_key`` is ``hashwatch-case-<case id>``, so every event about a case lands on the same
PagerDuty alert and a retried trigger is merged by PagerDuty rather than paging twice. PagerDuty
answers 202 when it accepted the event, 400 for an event it will never accept (not retried),
429 when the routing key is over its rate (retried, honouring Retry-After) and 5xx when it is in
trouble (retried).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from reporting.destinations.schema import DestinationKind, config_field, http_timeout
from reporting.destinations.secret import Secret
from reporting.events import DeliveryResult, Event, EventKind, format_time
from reporting.http.client import Answer, Receiver, post
from reporting.http.guard import check_url

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITIES = ("critical", "error", "warning", "info")
MAX_SUMMARY = 1024
RATE_LIMIT_RETRY_S = 30.0
_ROUTING_KEY = re.compile(r"^[A-Za-z0-9+_-]{32}$")


@dataclass(frozen=True)
class PagerDutyConfig:
    routing_key: Secret = config_field("the integration's routing key.")
    severity: str = config_field("the alerts' severity:", default="critical", choices=SEVERITIES)
    events_url: str = config_field("Events API URL (for testing).", default=EVENTS_URL)
    source: str = config_field("the alerts' source.", default="hashwatch")
    # Only for pointing events_url at a local receiver in tests.
    allow_private: bool = config_field("allow private and loopback addresses.", default=False)
    # From the settings, not the stored config.
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not _ROUTING_KEY.match(self.routing_key.reveal()):
            raise ValueError("routing_key must be the 32-character integration key of an Events v2 service")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        check_url(self.events_url)
        if not self.source:
            raise ValueError("source must not be empty")


def dedup_key(event: Event) -> str:
    if event.kind == EventKind.TEST:
        return f"hashwatch-test-{event.id}"
    return f"hashwatch-case-{event.case_id}"


def _summary(event: Event) -> str:
    url = str(event.payload.get("url", ""))
    block = str(event.payload.get("block", ""))
    if event.kind == EventKind.TEST:
        text = "hashwatch test event (no action needed)"
    elif event.kind == EventKind.MATCH:
        text = f"hashwatch: known-abuse-material match on {url} (case {event.case_id}), block {block}"
    elif event.kind == EventKind.BLOCK_FAILED:
        text = f"hashwatch: block FAILED for {url} (case {event.case_id})"
    else:
        text = f"hashwatch: {event.kind} for case {event.case_id}"
    return text[:MAX_SUMMARY]


def build_body(config: PagerDutyConfig, event: Event) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": config.routing_key.reveal(),
        "dedup_key": dedup_key(event),
    }
    if event.kind == EventKind.CASE_RESOLVED:
        body["event_action"] = "resolve"
        return body
    body["event_action"] = "trigger"
    body["client"] = "hashwatch"
    body["payload"] = {
        "summary": _summary(event),
        "source": config.source,
        "severity": "info" if event.kind == EventKind.TEST else config.severity,
        "timestamp": format_time(event.occurred_at),
        "component": "hashwatch",
        "group": event.customer_id,
        "class": event.kind,
        "custom_details": {"event_id": event.id, "case_id": event.case_id, **dict(event.payload)},
    }
    return body


@dataclass
class PagerDutyDestination:
    config: PagerDutyConfig
    kind: str = field(default="pagerduty", init=False)

    def deliver(self, event: Event) -> DeliveryResult:
        content = json.dumps(build_body(self.config, event), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "X-Hashwatch-Event-Id": event.id}
        receiver = Receiver("PagerDuty", self.config.timeout_s, allow_private=self.config.allow_private)
        sent = post(self.config.events_url, content, headers, receiver)
        result, answer = sent.result, sent.answer
        if answer is None:
            return result
        if answer.status == 429 and result.retry_after is None:
            # The limit is per minute per routing key; PagerDuty suggests retrying ~30 s apart.
            return replace(result, retry_after=RATE_LIMIT_RETRY_S)
        if result.ok:
            return DeliveryResult.success(result.detail, _answered_dedup_key(answer) or dedup_key(event))
        return result


def _answered_dedup_key(answer: Answer) -> str:
    try:
        data = json.loads(answer.body)
    except ValueError:
        return ""
    return str(data.get("dedup_key", "")) if isinstance(data, dict) else ""


KIND = DestinationKind(
    "pagerduty",
    PagerDutyConfig,
    lambda values, settings: PagerDutyDestination(
        PagerDutyConfig(**values, timeout_s=http_timeout(settings))
    ),
)
