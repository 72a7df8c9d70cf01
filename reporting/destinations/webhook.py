"""Signed JSON webhooks to a customer's own endpoint.

Each attempt POSTs the event's JSON with ``X-Hashwatch-Event-Id`` (the same on every retry, so the
receiver can drop duplicates), ``X-Hashwatch-Timestamp`` (Unix seconds of this attempt) and
``X-Hashwatch-Signature`` (see ``signing``). The body is the same bytes on every retry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reporting.destinations.schema import DestinationKind, config_field, http_timeout
from reporting.destinations.secret import Secret
from reporting.destinations.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signed_headers,
    verify_signature,
)
from reporting.events import DeliveryResult, Event
from reporting.http.client import Receiver, post
from reporting.http.guard import check_url

__all__ = [
    "KIND",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookConfig",
    "WebhookDestination",
    "encode_body",
    "verify_signature",
]

EVENT_ID_HEADER = "X-Hashwatch-Event-Id"
MIN_SECRET_LENGTH = 16


@dataclass(frozen=True)
class WebhookConfig:
    url: str = config_field("the URL to POST to.")
    secret: Secret = config_field("the HMAC signing secret.")
    allow_private: bool = config_field("allow private and loopback addresses.", default=False)
    # From the settings, not the stored config.
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        check_url(self.url)
        if len(self.secret.reveal()) < MIN_SECRET_LENGTH:
            raise ValueError(f"the webhook secret must be at least {MIN_SECRET_LENGTH} characters")
        if self.timeout_s <= 0:
            raise ValueError("timeout must be positive")


def encode_body(event: Event) -> bytes:
    """Canonical JSON (sorted keys, no spaces, UTF-8): identical bytes on every retry."""
    return json.dumps(
        event.to_json_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


@dataclass
class WebhookDestination:
    config: WebhookConfig
    kind: str = field(default="webhook", init=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def deliver(self, event: Event) -> DeliveryResult:
        body = encode_body(event)
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: event.id,
            **signed_headers(self.config.secret.reveal(), int(self.clock()), body),
        }
        receiver = Receiver("webhook", self.config.timeout_s, allow_private=self.config.allow_private)
        return post(self.config.url, body, headers, receiver).result


KIND = DestinationKind(
    "webhook",
    WebhookConfig,
    lambda values, settings: WebhookDestination(WebhookConfig(**values, timeout_s=http_timeout(settings))),
)
