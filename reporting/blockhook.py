"""Applying a block at the edge through an operator-configured HTTP hook.

The hook receives ``{"event_id", "customer_id", "url", "match_id"}`` as JSON and answers 2xx
once the URL is blocked (a CDN purge plus deny rule, say). 429 and 5xx are retried; any other
answer means the block could not be applied, and the customer is told.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from reporting.events import DeliveryResult, Event
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
    )
    try:
        response = httpx.post(
            settings.block_hook_url,
            content=body,
            headers={"Content-Type": "application/json", "X-Hashwatch-Event-Id": event.id},
            timeout=settings.http_timeout_seconds,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return DeliveryResult.retry(f"block hook unreachable: {type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return DeliveryResult.success(f"block hook answered {response.status_code}")
    if response.status_code == 429 or response.status_code >= 500:
        return DeliveryResult.retry(f"block hook answered {response.status_code}")
    return DeliveryResult.failure(f"block hook refused the block: {response.status_code}")
