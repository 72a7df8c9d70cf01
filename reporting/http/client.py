"""What every HTTP destination shares: one bounded POST and one status-to-result mapping.

The rule (webhooks, PagerDuty, partner webhooks alike): 2xx delivered; 429, 5xx, timeouts and
connection errors retried; any other status (other 4xx, and 3xx because redirects are never
followed) is a permanent failure to dead-letter.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from reporting.events import DeliveryResult
from reporting.http.guard import AddressNotAllowed, Deadline, guarded_client

# A receiver's answer is read only this far: enough for an error message, never a memory bomb.
MAX_RESPONSE_BYTES = 8192
# Longest Retry-After we pass on; beyond it the worker's own backoff applies.
MAX_RETRY_AFTER_S = 3600.0
USER_AGENT = "hashwatch/0.1 (+https://github.com/hashwatch/hashwatch)"


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), clamped; None if absent."""
    if not value:
        return None
    value = value.strip()
    # ASCII digits only: str.isdigit() is true of "²" and "٣", which float() refuses.
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, min(when.timestamp() - current, MAX_RETRY_AFTER_S))


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace").strip()


def post(
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    allow_private: bool,
) -> Answer | DeliveryResult:
    """POST once through the SSRF guard; a transport problem comes back as a ``DeliveryResult``.
    ``timeout`` bounds each wait and the exchange as a whole."""
    all_headers = {"User-Agent": USER_AGENT, **headers}
    deadline = Deadline()
    deadline.start(timeout)
    try:
        with (
            guarded_client(timeout, allow_private, deadline=deadline) as client,
            client.stream("POST", url, content=content, headers=all_headers) as response,
        ):
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= MAX_RESPONSE_BYTES:
                    body = body[:MAX_RESPONSE_BYTES]
                    break
            return Answer(response.status_code, response.headers, body)
    except AddressNotAllowed as exc:
        return DeliveryResult.failure(f"refused: {exc}")
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return DeliveryResult.failure(f"bad URL: {exc}")
    except httpx.TimeoutException as exc:
        if deadline.passed:
            return DeliveryResult.retry(f"timed out: the exchange took longer than {timeout:g} s")
        return DeliveryResult.retry(f"timed out: {type(exc).__name__}")
    except httpx.TransportError as exc:
        return DeliveryResult.retry(f"network error: {type(exc).__name__}: {exc}")


def classify(answer: Answer, what: str, external_id: str = "") -> DeliveryResult:
    """The shared status rule; ``what`` names the receiver in the detail."""
    status = answer.status
    if 200 <= status < 300:
        return DeliveryResult.success(f"{what} answered {status}", external_id)
    detail = f"{what} answered {status}: {answer.text()}".rstrip(": ")
    if status == 429 or 500 <= status < 600:
        return DeliveryResult.retry(detail, retry_after_seconds(answer.headers.get("retry-after")))
    if 300 <= status < 400:
        return DeliveryResult.failure(f"{detail} (redirects are not followed; fix the URL)")
    return DeliveryResult.failure(detail)
