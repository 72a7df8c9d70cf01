"""Export cursors: where an export stands, as an opaque string the client hands back.

A cursor names the last (day, customer id) delivered; the export resumes strictly after it in
(day, customer id) order, so each row comes once across an interruption. It is not a secret
and not signed: a forged cursor only moves the starting point, and what a caller may see is
checked on every row regardless.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date

from scanner.errors import InvalidRequest
from scanner.rpc.convert import CONTEXT_LIMITS, require_storable

_VERSION = 1
# Longer than any cursor given out (a customer id is at most 200 bytes), and short enough that
# JSON's parser never nests deep enough to hit the recursion limit.
MAX_LENGTH = 1024


def encode(day: date, customer_id: str) -> str:
    body = json.dumps({"v": _VERSION, "day": day.isoformat(), "customer": customer_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[date, str]:
    """The (day, customer id) a cursor names; ``InvalidRequest`` for any cursor not given out,
    so none reaches the database with a customer id it cannot hold (a NUL)."""
    try:
        if len(cursor) > MAX_LENGTH:
            raise ValueError("too long for a cursor")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        customer = body.get("customer")
        if body.get("v") != _VERSION or not isinstance(customer, str):
            raise ValueError("unknown cursor version")
        require_storable("cursor", customer, CONTEXT_LIMITS["customer_id"])
        return date.fromisoformat(body["day"]), customer
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        binascii.Error,
        UnicodeDecodeError,
        InvalidRequest,
    ):
        raise InvalidRequest("cursor is not one this service gave out", field="cursor") from None
