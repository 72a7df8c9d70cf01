"""The webhook signature, for senders and for receivers.

``X-Hashwatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`` where the
timestamp is the ``X-Hashwatch-Timestamp`` header (Unix seconds). Signing the timestamp with the
body lets a receiver refuse replays older than its tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SCHEME = "sha256="
TIMESTAMP_HEADER = "X-Hashwatch-Timestamp"
SIGNATURE_HEADER = "X-Hashwatch-Signature"


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = str(timestamp).encode("ascii") + b"." + body
    return SCHEME + hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The two headers that sign ``body`` (customer webhooks and partner webhooks alike)."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: bytes,
    header: str,
    tolerance_s: float = 300.0,
    *,
    now: float | None = None,
) -> bool:
    """True iff ``header`` signs ``body`` at ``timestamp`` and the timestamp is fresh.

    Give the raw request body (not re-serialised JSON) and the two headers as received.
    The comparison is constant-time.
    """
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_s:
        return False
    expected = sign(secret, sent_at, body)
    return hmac.compare_digest(expected.encode(), header.strip().encode())
