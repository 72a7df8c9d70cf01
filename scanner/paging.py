"""Reading back the page tokens the listings give out.

A token is row ids (and, for the review queue, a priority) as decimal digits joined by ".": what
comes back may have been made up, so it is read here, once, for every paged RPC. Each part must
be 1-19 ASCII digits naming a value that fits a signed 64-bit column; anything else is
``InvalidRequest`` naming the field. Before, 20 digits reached the database (which cannot bind
them: INTERNAL), 5 000 digits reached ``int()`` (which refuses more than 4 300: INTERNAL), and
``"²"`` passed ``str.isdigit`` and failed ``int()``.
"""

from __future__ import annotations

from scanner.errors import InvalidRequest

MAX_ID = 2**63 - 1
_MAX_DIGITS = len(str(MAX_ID))
_SEPARATOR = "."


def page_ids(token: str, parts: int = 1, field: str = "page_token") -> tuple[int, ...]:
    """The ``parts`` integers (each 0..2**63-1) of a token this service gave out."""
    # Length first: nothing longer than the longest valid token is split or converted.
    if len(token) <= parts * (_MAX_DIGITS + 1):
        pieces = token.split(_SEPARATOR)
        if len(pieces) == parts and all(_is_id(p) for p in pieces):
            return tuple(int(p) for p in pieces)
    raise InvalidRequest(f"{field} is not one this service gave out", field=field)


def page_id(token: str, field: str = "page_token") -> int:
    """The one integer of a single-id token."""
    return page_ids(token, 1, field)[0]


def _is_id(text: str) -> bool:
    return 0 < len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit() and int(text) <= MAX_ID
