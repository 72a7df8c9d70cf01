"""The one-time codes that verify a customer's email: made, shown, typed back, stored hashed."""

from __future__ import annotations

import hashlib
import secrets

# Unambiguous characters (no 0/O, 1/I/L): 12 of them carry 60 bits, enough that the stored
# SHA-256 cannot be reversed by trying every code before it expires.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_LENGTH = 12


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def code_hash(customer_pk: int, code: str) -> str:
    """What is stored: bound to the customer's row, so one hash cannot serve another customer."""
    return hashlib.sha256(f"{customer_pk}:{code}".encode()).hexdigest()


def spaced(code: str) -> str:
    """As mailed: ``K7QM-3XWD-PA9R``."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normal_code(code: str) -> str:
    """As typed back: dashes, spaces and case do not matter."""
    return "".join(ch for ch in code.upper() if ch.isalnum())
