"""Why content was or was not scanned. Mirrors ``hashwatch.v1.Outcome``."""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    SCANNED = "scanned"
    EMPTY = "empty"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT = "corrupt"
    TOO_LARGE = "too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    LOW_QUALITY = "low_quality"
    TIMEOUT = "timeout"
    INTERNAL_ERROR = "internal_error"
    # Not scanned for want of room (a full queue, a rate limit): ScanStream's per-item answer.
    OVERLOADED = "overloaded"
    # Not scanned: the customer_id names no enabled customer (HASHWATCH_UNKNOWN_CUSTOMER=reject).
    UNKNOWN_CUSTOMER = "unknown_customer"

    @property
    def hashed(self) -> bool:
        """Whether hashes were computed (and so matching took place)."""
        return self in (Outcome.SCANNED, Outcome.LOW_QUALITY)
