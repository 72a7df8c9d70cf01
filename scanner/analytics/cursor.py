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

_VERSION = 1


def encode(day: date, customer_id: str) -> str:
    body = json.dumps({"v": _VERSION, "day": day.isoformat(), "customer": customer_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[date, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        if body.get("v") != _VERSION or not isinstance(body.get("customer"), str):
            raise ValueError("unknown cursor version")
        return date.fromisoformat(body["day"]), body["customer"]
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("cursor is not one this service gave out", field="cursor") from None
