"""The one way hashwatch sends HTTP: destinations, partner reports, the block hook, the
CyberTipline client and rescan fetches all go through ``Outbound``.

Every request goes through the SSRF guard (``guard``: each address checked, the connect pinned to
it, private ones only where the ``Receiver`` allows them), never through a proxy from the
environment and never after a redirect; its answer is read only so far, and the exchange is held
to its timeout as a whole. What differs from one sender to the next is its ``Receiver``: what to
call it in messages, whether it may be private, how much of an answer to read.

For a destination ``post`` sends once and ``classify`` applies the one status rule (webhooks,
PagerDuty, partner webhooks alike): 2xx delivered; 429, 5xx, timeouts and connection errors
retried; any other status (other 4xx, and 3xx because redirects are never followed) is a
permanent failure to dead-letter.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpx

from reporting.events import DeliveryResult
from reporting.http.guard import DESTINATION_HINT, AddressNotAllowed, Deadline, GuardedTransport

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
class Receiver:
    """Whom requests go to, and on what terms."""

    # What the receiver is called in every detail: "webhook", "PagerDuty", a partner's name.
    name: str
    # Each connect, write and read waits at most this long...
    timeout_s: float
    # ...and, unless False, so does the exchange as a whole (CyberTipline uploads may be large).
    timeout_whole: bool = True
    allow_private: bool = False
    # How a refused private address says it could be allowed.
    hint: str = DESTINATION_HINT
    # At most this much of an answer is read; the rest is cut off, or, with cut_long_answers
    # False, the answer is refused (``AnswerTooLarge``) unread when its length says so.
    answer_bytes: int = MAX_RESPONSE_BYTES
    cut_long_answers: bool = True
    # Certificates checked against these roots instead of certifi's.
    ssl_context: ssl.SSLContext | None = None
    # Whether a detail quotes the start of an answer (not where details reach someone else).
    quote_answers: bool = True


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace").strip()

    @property
    def is_redirect(self) -> bool:
        return httpx.codes.is_redirect(self.status) and "location" in self.headers


class SendFailed(Exception):
    """No answer came back. ``str()`` is the detail a delivery records; ``error`` names the cause
    (an httpx error's class name) and ``reason`` is its message; ``sent`` is false only when the
    request certainly never reached the receiver."""

    retryable = True

    def __init__(self, detail: str, error: str, *, sent: bool = True, reason: str = "") -> None:
        super().__init__(detail)
        self.error = error
        self.sent = sent
        self.reason = reason

    def result(self) -> DeliveryResult:
        detail = str(self)
        return DeliveryResult.retry(detail) if self.retryable else DeliveryResult.failure(detail)


class Refused(SendFailed):
    """The guard or the URL refused the request: nothing was sent."""

    retryable = False


class TimedOut(SendFailed):
    """A wait timed out; ``whole`` when it was the exchange's own limit that ran out."""

    def __init__(self, detail: str, error: str, *, sent: bool, whole: bool) -> None:
        super().__init__(detail, error, sent=sent, reason=error)
        self.whole = whole


class AnswerTooLarge(SendFailed):
    retryable = False


class Outbound:
    """A guarded client for one receiver; one request at a time (the deadline is shared)."""

    def __init__(self, receiver: Receiver, *, base_url: str = "", auth: httpx.Auth | None = None) -> None:
        self.receiver = receiver
        self._deadline = Deadline()
        transport = GuardedTransport(
            receiver.allow_private, receiver.ssl_context, receiver.hint, self._deadline
        )
        self._http = httpx.Client(
            transport=transport,
            base_url=base_url,
            auth=auth,
            headers={"User-Agent": USER_AGENT},
            timeout=httpx.Timeout(receiver.timeout_s),
            follow_redirects=False,
            trust_env=False,
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        read_if: Callable[[int], bool] = lambda status: True,
    ) -> Answer:
        """Send once and read the answer (its body only when ``read_if(status)``), or raise
        ``SendFailed``."""
        receiver = self.receiver
        self._deadline.start(receiver.timeout_s if receiver.timeout_whole else None)
        try:
            with self._http.stream(
                method, url, content=content, data=data, files=files, headers=headers
            ) as response:
                body = self._read(response) if read_if(response.status_code) else b""
                return Answer(response.status_code, response.headers, body)
        except AddressNotAllowed as exc:
            raise Refused(f"refused: {exc}", "AddressNotAllowed", sent=False) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise Refused(f"bad URL: {exc}", type(exc).__name__, sent=False) from None
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            if self._deadline.passed:
                detail = f"timed out: the exchange took longer than {receiver.timeout_s:g} s"
                raise TimedOut(detail, type(exc).__name__, sent=sent, whole=True) from None
            detail = f"timed out: {type(exc).__name__}"
            raise TimedOut(detail, type(exc).__name__, sent=sent, whole=False) from None
        except httpx.RequestError as exc:
            sent = not isinstance(exc, httpx.ConnectError)
            detail = f"network error: {type(exc).__name__}: {exc}"
            raise SendFailed(detail, type(exc).__name__, sent=sent, reason=str(exc)) from None

    def _read(self, response: httpx.Response) -> bytes:
        limit, cut = self.receiver.answer_bytes, self.receiver.cut_long_answers
        declared = response.headers.get("content-length", "")
        if not cut and declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise AnswerTooLarge(f"larger than {limit} bytes", "AnswerTooLarge")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                if not cut:
                    raise AnswerTooLarge(f"larger than {limit} bytes", "AnswerTooLarge")
                return bytes(body[:limit])
        return bytes(body)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class Sent:
    """What one ``post`` came to: its classified result, and the answer when there was one."""

    result: DeliveryResult
    answer: Answer | None = None


def post(url: str, content: bytes, headers: Mapping[str, str], receiver: Receiver) -> Sent:
    """POST once; never raises for network or HTTP trouble."""
    with Outbound(receiver) as client:
        try:
            answer = client.request("POST", url, content=content, headers=headers)
        except SendFailed as exc:
            return Sent(exc.result())
    return Sent(classify(answer, receiver.name, quote=receiver.quote_answers), answer)


def classify(answer: Answer, what: str, external_id: str = "", *, quote: bool = True) -> DeliveryResult:
    """The shared status rule; ``what`` names the receiver in the detail, which quotes the start
    of the answer unless ``quote`` is false."""
    status = answer.status
    if 200 <= status < 300:
        return DeliveryResult.success(f"{what} answered {status}", external_id)
    detail = f"{what} answered {status}: {answer.text() if quote else ''}".rstrip(": ")
    if status == 429 or 500 <= status < 600:
        return DeliveryResult.retry(detail, retry_after_seconds(answer.headers.get("retry-after")))
    if 300 <= status < 400:
        return DeliveryResult.failure(f"{detail} (redirects are not followed; fix the URL)")
    return DeliveryResult.failure(detail)
