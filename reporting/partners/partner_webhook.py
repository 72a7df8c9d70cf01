"""A report to a partner that takes JSON over HTTPS instead of NCMEC's XML API.

Signed exactly like customer webhooks (``X-Hashwatch-Timestamp`` + ``X-Hashwatch-Signature``),
through the same SSRF guard, and idempotent by ``Idempotency-Key: <event id>`` — the event is
written once per case and partner, so every retry of one report carries the same key and the
partner can keep the first. Answers: 2xx filed; 409 (the same key is still being processed) and
429/5xx/network retried; any other 4xx, including 422 (key reused with a different body), is final.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reporting.destinations.schema import config_field, fields_of, read_config
from reporting.destinations.secret import Secret
from reporting.destinations.signing import signed_headers
from reporting.events import DeliveryResult, Event, format_time
from reporting.http.client import Answer, Receiver, post, retry_after_seconds
from reporting.http.guard import check_url

IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class PartnerWebhookConfig:
    # Read from ``HASHWATCH_PARTNER_WEBHOOKS`` like a destination's stored config.
    url: str = config_field("the URL to POST reports to.")
    secret: Secret = config_field("the HMAC signing secret.")
    partner: str = config_field("the partner's name.", default="partner")
    allow_private: bool = config_field("allow private and loopback addresses.", default=False)
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_url(self.url)
        if len(self.secret.reveal()) < 16:
            raise ValueError("the partner webhook secret must be at least 16 characters")
        if not self.partner:
            raise ValueError("partner must name the partner")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], timeout_s: float = 30.0) -> PartnerWebhookConfig:
        return cls(**read_config("partner webhook", _FIELDS, config), timeout_s=timeout_s)


_FIELDS = fields_of("partner webhook", PartnerWebhookConfig)


def report_body(event: Event, report: Mapping[str, Any] | None) -> bytes:
    """The JSON sent: what happened and where, never content bytes (the event cannot hold any)."""
    content = dict(report) if report is not None else dict(event.payload)
    # Held to the same JSON rules as an event payload: no bytes, ever.
    Event(event.id, event.kind, event.customer_id, event.occurred_at, event.case_id, content)
    document = {
        "type": "hashwatch.report",
        "event_id": event.id,
        "case_id": event.case_id,
        "customer_id": event.customer_id,
        "occurred_at": format_time(event.occurred_at),
        "report": content,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class PartnerWebhookReporter:
    config: PartnerWebhookConfig
    kind: str = field(default="partner_webhook", init=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def deliver(self, event: Event) -> DeliveryResult:
        return self.report(event)

    def report(self, event: Event, report: Mapping[str, Any] | None = None) -> DeliveryResult:
        """File once; a retry with the same event sends the same key and the same body."""
        try:
            body = report_body(event, report)
        except ValueError as exc:
            return DeliveryResult.failure(f"report is not JSON-safe: {exc}")
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: event.id,
            "X-Hashwatch-Event-Id": event.id,
            "X-Hashwatch-Case-Id": str(event.case_id),
            **signed_headers(self.config.secret.reveal(), int(self.clock()), body),
        }
        receiver = Receiver(
            self.config.partner, self.config.timeout_s, allow_private=self.config.allow_private
        )
        sent = post(self.config.url, body, headers, receiver)
        if sent.answer is not None and sent.answer.status == 409:
            return DeliveryResult.retry(
                f"{self.config.partner} is still processing this report (409)",
                retry_after_seconds(sent.answer.headers.get("retry-after")),
            )
        if sent.answer is not None and sent.result.ok:
            return DeliveryResult.success(sent.result.detail, _reference(sent.answer))
        return sent.result


def _reference(answer: Answer) -> str:
    """The partner's id for the report, when its JSON answer names one."""
    try:
        data = json.loads(answer.body)
    except ValueError:
        return ""
    if isinstance(data, dict):
        for key in ("report_id", "id", "reference"):
            if isinstance(data.get(key), str | int):
                return str(data[key])
    return ""
