"""Applying a block at the edge through an operator-configured HTTP hook.

The hook receives ``{"event_id", "customer_id", "url", "match_id"}`` as JSON and answers 2xx
once the URL is blocked (a CDN purge plus deny rule, say). 429 and 5xx are retried; any other
answer means the block could not be applied, and the customer is told.

It goes out through the one outbound client (``reporting.http.client``): no environment
proxy, no redirects, a bounded read of the answer, the exchange held to the HTTP timeout. The
hook is the operator's own (often an internal API), so private addresses are allowed. What goes
wrong becomes the ``block_failed`` event the customer is sent, so the detail names the status
and never quotes the hook's answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reporting.events import DeliveryResult, Event
from reporting.http.client import Receiver, post
from reporting.settings import ReportingSettings


def apply_block(settings: ReportingSettings, payload: Mapping[str, Any], event: Event) -> DeliveryResult:
    if not settings.block_hook_url:
        return DeliveryResult.success("no block hook configured; the block is active in hashwatch")
    body = json.dumps(
        {
            "event_id": event.id,
            "customer_id": event.customer_id,
            "url": payload.get("url", ""),
            "match_id": event.case_id,
        }
    ).encode()
    receiver = Receiver("block hook", settings.http_timeout_seconds, allow_private=True, quote_answers=False)
    headers = {"Content-Type": "application/json", "X-Hashwatch-Event-Id": event.id}
    sent = post(settings.block_hook_url, body, headers, receiver)
    if sent.answer is None or sent.result.ok or sent.result.retryable:
        return sent.result
    return DeliveryResult.failure(f"block hook refused the block: {sent.answer.status}")
