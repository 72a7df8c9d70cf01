"""Reading a rescan item: a local file, or an http(s) URL fetched through the SSRF guard.

A manifest is often made from someone else's listing, so its URLs are treated like a customer's
webhook URL (``reporting.http.client``): only public addresses unless the operator opts in for private
object stores (``hashwatch rescan --allow-private-urls``), every connect pinned to the checked
address (DNS rebinding), no proxy from the environment, no redirects followed, and limits on
size and on the whole fetch's time, not just on each read.
"""

from __future__ import annotations

import functools
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from reporting.http.client import AnswerTooLarge, Outbound, Receiver, Refused, SendFailed, TimedOut
from reporting.http.guard import default_ssl_context

FETCH_TIMEOUT_SECONDS = 30.0
# Outcomes that are not from hashing: the content could not be read at all.
UNREADABLE = "unreadable"
TOO_LARGE = "too_large"
_PRIVATE_HINT = "rescan with --allow-private-urls to read from private addresses"


@dataclass(frozen=True)
class FetchPolicy:
    """How a rescan worker may fetch URLs; picklable, so it travels to worker processes."""

    allow_private: bool = False
    timeout_s: float = FETCH_TIMEOUT_SECONDS


# The default: public addresses only.
PUBLIC_ONLY = FetchPolicy()


def _ssl_context() -> ssl.SSLContext:
    # SSL_CERT_FILE / SSL_CERT_DIR name the CA of an internal object store; unlike a proxy, they
    # change whom we trust, not where we connect.
    return _context_for(os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))


@functools.cache
def _context_for(cafile: str, capath: str) -> ssl.SSLContext:
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    return default_ssl_context()


class Unreadable(Exception):
    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome, self.reason = outcome, reason


def read_content(location: str, max_bytes: int, policy: FetchPolicy = PUBLIC_ONLY) -> bytes:
    """The bytes at a local path or an http(s) URL, refusing more than ``max_bytes``."""
    if location.startswith(("http://", "https://")):
        return fetch(location, max_bytes, policy)
    if "://" in location:
        raise Unreadable(UNREADABLE, f"unsupported location scheme: {location.split('://')[0]}")
    try:
        with Path(location).open("rb") as handle:
            content = handle.read(max_bytes + 1)
    except OSError as exc:
        raise Unreadable(UNREADABLE, exc.strerror or str(exc)) from None
    if len(content) > max_bytes:
        raise Unreadable(TOO_LARGE, f"larger than {max_bytes} bytes")
    return content


def fetch(url: str, max_bytes: int, policy: FetchPolicy) -> bytes:
    receiver = Receiver(
        "object store",
        policy.timeout_s,
        allow_private=policy.allow_private,
        hint=_PRIVATE_HINT,
        answer_bytes=max_bytes,
        cut_long_answers=False,
        ssl_context=_ssl_context(),
    )
    try:
        with Outbound(receiver) as client:
            answer = client.request("GET", url, read_if=lambda status: status == 200)
    except AnswerTooLarge as exc:
        raise Unreadable(TOO_LARGE, str(exc)) from None
    except Refused as exc:
        raise Unreadable(UNREADABLE, str(exc)) from None
    except TimedOut as exc:
        if exc.whole:
            raise Unreadable(UNREADABLE, f"fetch took longer than {policy.timeout_s:g} s") from None
        raise Unreadable(UNREADABLE, f"fetch failed: {exc.error}") from None
    except SendFailed as exc:
        raise Unreadable(UNREADABLE, f"fetch failed: {exc.error}") from None
    if answer.is_redirect:
        raise Unreadable(
            UNREADABLE,
            f"HTTP {answer.status}: redirects are not followed; name the final URL in the manifest",
        )
    if answer.status != 200:
        raise Unreadable(UNREADABLE, f"HTTP {answer.status}")
    return answer.body
