"""Applying a block at the edge through an operator-configured HTTP hook.

The hook receives ``{"event_id", "customer_id", "url", "match_id"}`` as JSON and answers 2xx
once the URL is blocked (a CDN purge plus deny rule, say). 429 and 5xx are retried; any other
answer means the block could not be applied, and the customer is told.

It goes out through the same guarded send as every destination (``transport.post``): no
environment proxy, no redirects, a bounded read of the answer. The hook is the operator's own
(often an internal API), so private addresses are allowed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reporting.events import DeliveryResult, Event
from reporting.http.client import post, retry_after_seconds
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
    answer = post(
        settings.block_hook_url,
        body,
        {"Content-Type": "application/json", "X-Hashwatch-Event-Id": event.id},
        timeout=settings.http_timeout_seconds,
        allow_private=True,
    )
    if isinstance(answer, DeliveryResult):
        return answer
    if 200 <= answer.status < 300:
        return DeliveryResult.success(f"block hook answered {answer.status}")
    if answer.status == 429 or answer.status >= 500:
        return DeliveryResult.retry(
            f"block hook answered {answer.status}", retry_after_seconds(answer.headers.get("retry-after"))
        )
    return DeliveryResult.failure(f"block hook refused the block: {answer.status}")
