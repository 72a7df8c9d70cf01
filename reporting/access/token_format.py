"""What a token's secret looks like, and how a token's lifetime is written.

A secret reads ``hw_<public id>_<random>_<checksum>``:

* ``hw_`` lets secret scanners (and people) recognise a leaked hashwatch token;
* the public id (8 base62 characters) names the token in listings, logs and the audit log;
* the random part is 43 base62 characters (256 bits from ``secrets``);
* the checksum is the CRC-32 of everything before it, in 6 base62 characters, so a typo or a
  truncated paste is refused without asking the database.

Only the SHA-256 of the secret is stored. With 256 random bits there is nothing to brute-force,
so a slow hash (or a pepper) would add cost and no safety.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from datetime import timedelta

from scanner.auth import Unauthenticated

PREFIX = "hw"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_LEN = 8
_RANDOM_LEN = 43  # 62**43 > 2**256
_CHECK_LEN = 6  # 62**6 > 2**32
MAX_TTL = timedelta(days=3650)


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(_ALPHABET[rem])
    text = "".join(reversed(digits)).rjust(width, _ALPHABET[0])
    if len(text) != width:
        raise ValueError("number too large for width")
    return text


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK_LEN)


def make_secret(public_id: str | None = None) -> tuple[str, str]:
    """A new (public id, secret)."""
    public_id = public_id or "".join(secrets.choice(_ALPHABET) for _ in range(_ID_LEN))
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LEN))
    body = f"{PREFIX}_{public_id}_{random_part}"
    return public_id, f"{body}_{_checksum(body)}"


def parse_secret(secret: str) -> str:
    """The public id of a well-formed secret; ``Unauthenticated`` (without the secret) otherwise."""
    parts = secret.split("_")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise Unauthenticated("not a hashwatch token (expected hw_…)")
    _, public_id, random_part, check = parts
    if (
        len(public_id) != _ID_LEN
        or len(random_part) != _RANDOM_LEN
        or len(check) != _CHECK_LEN
        or not set(public_id + random_part + check) <= set(_ALPHABET)
    ):
        raise Unauthenticated("malformed token (truncated or mistyped?)")
    if not hmac.compare_digest(check, _checksum(secret.rsplit("_", 1)[0])):
        raise Unauthenticated("token checksum does not match (truncated or mistyped?)")
    return public_id


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_ttl(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``45s``, ``2w``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    text = text.strip().lower()
    found = re.fullmatch(r"([0-9]+)([smhdw])", text)  # ASCII digits only
    if found is None or int(found[1]) <= 0:
        raise ValueError(f"not a TTL: {text!r} (use e.g. 90d, 12h, 30m)")
    seconds = int(found[1]) * units[found[2]]
    # Past this, timedelta and the expiry's datetime overflow; no token should outlive it anyway.
    if seconds > MAX_TTL.total_seconds():
        raise ValueError(f"a TTL is at most {MAX_TTL.days} days, got {text!r}")
    return timedelta(seconds=seconds)
