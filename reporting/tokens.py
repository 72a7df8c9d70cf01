"""Scoped API tokens: create (secret shown once), list, revoke, verify.

A secret reads ``hw_<public id>_<random>_<checksum>``:

* ``hw_`` lets secret scanners (and people) recognise a leaked hashwatch token;
* the public id (8 base62 characters) names the token in listings, logs and the audit log;
* the random part is 43 base62 characters (256 bits from ``secrets``);
* the checksum is the CRC-32 of everything before it, in 6 base62 characters, so a typo or a
  truncated paste is refused without asking the database.

Only the SHA-256 of the secret is stored. With 256 random bits there is nothing to brute-force,
so a slow hash (or a pepper) would add cost and no safety.

``TokenStore.authenticate`` runs on every RPC. A token it has read from the database is kept in
memory for ``cache_seconds`` (30 s), so the scan path asks the database at most once per token
per window; revoking a token therefore takes effect on running servers within that window.
Expiry and the secret itself are checked on every call. ``last_used_at`` is written when a
cached entry is refreshed (or by ``flush_last_used``), not on each call, so it lags by up to
``cache_seconds`` and a server that stops loses its latest unwritten uses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from reporting import audit
from reporting.db import session_factory
from reporting.models import ApiToken, utcnow
from scanner.auth import (
    Principal,
    Unauthenticated,
    check_customer,
    check_partner,
    check_scopes,
    parse_networks,
)

PREFIX = "hw"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_LEN = 8
_RANDOM_LEN = 43  # 62**43 > 2**256
_CHECK_LEN = 6  # 62**6 > 2**32
_CACHE_LIMIT = 10_000


class TokenError(Exception):
    """A token operation that cannot be done (unknown token, bad arguments)."""


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
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise ValueError(f"not a TTL: {text!r} (use e.g. 90d, 12h, 30m)")
    return timedelta(seconds=int(text[:-1]) * units[text[-1]])


@dataclass(frozen=True)
class TokenInfo:
    public_id: str
    name: str
    scopes: list[str]
    allowed_cidrs: list[str]
    partner_id: str | None
    customer_id: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def actor(self) -> str:
        return f"token:{self.public_id}"

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    @classmethod
    def of(cls, row: ApiToken) -> TokenInfo:
        return cls(
            row.public_id,
            row.name,
            list(row.scopes),
            list(row.allowed_cidrs),
            row.partner_id,
            row.customer_id,
            row.created_by,
            row.created_at,
            row.expires_at,
            row.revoked_at,
            row.last_used_at,
        )


@dataclass(frozen=True)
class NewToken:
    info: TokenInfo
    # Shown once; never stored.
    secret: str


@dataclass
class _Cached:
    fetched: float
    # None: no token with this public id (cached too, so junk cannot make every call a query).
    info: TokenInfo | None
    secret_hash: str
    principal: Principal | None


class TokenStore:
    """Tokens in the database; the server's ``scanner.auth.TokenVerifier``."""

    def __init__(self, engine: Engine, cache_seconds: float = 30.0) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._sessions = session_factory(engine)
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._used: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def create(
        self,
        scopes: Iterable[str],
        name: str = "",
        ttl: timedelta | None = None,
        cidrs: Iterable[str] = (),
        actor: str = "",
        partner_id: str | None = None,
        customer_id: str | None = None,
    ) -> NewToken:
        scope_list = sorted(check_scopes(scopes))
        partner_id = check_partner(scope_list, partner_id)
        customer_id = check_customer(scope_list, customer_id)
        cidr_list = [str(n) for n in parse_networks(cidrs)]
        if ttl is not None and ttl <= timedelta(0):
            raise TokenError("the TTL must be positive")
        now = utcnow()
        public_id, secret = make_secret()
        row = ApiToken(
            public_id=public_id,
            secret_hash=secret_hash(secret),
            name=name,
            scopes=scope_list,
            allowed_cidrs=cidr_list,
            partner_id=partner_id,
            customer_id=customer_id,
            created_by=actor,
            created_at=now,
            expires_at=now + ttl if ttl is not None else None,
        )
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            audit.record(
                session,
                actor or "unknown",
                "token.create",
                f"token:{public_id}",
                {
                    "name": name,
                    "scopes": scope_list,
                    "allowed_cidrs": cidr_list,
                    "expires_at": row.expires_at.isoformat() if row.expires_at else None,
                    "partner_id": partner_id,
                    "customer_id": customer_id,
                },
            )
            info = TokenInfo.of(row)
        return NewToken(info, secret)

    def list(self, include_revoked: bool = True) -> list[TokenInfo]:
        query = select(ApiToken).order_by(ApiToken.id)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        with self._sessions() as session:
            return [TokenInfo.of(row) for row in session.scalars(query)]

    def revoke(self, public_id: str, actor: str = "", reason: str = "") -> bool:
        """Revoke a token; False when it already was. Running servers notice within ``cache_seconds``."""
        with self._sessions.begin() as session:
            row = session.scalars(select(ApiToken).where(ApiToken.public_id == public_id)).one_or_none()
            if row is None:
                raise TokenError(f"no token {public_id}")
            if row.revoked_at is not None:
                return False
            row.revoked_at = utcnow()
            audit.record(
                session, actor or "unknown", "token.revoke", f"token:{public_id}", {"reason": reason}
            )
        with self._lock:
            self._cache.pop(public_id, None)
        return True

    def verify(self, secret: str) -> TokenInfo:
        """The token a secret belongs to, if it is usable now (a fresh read, no cache)."""
        public_id = parse_secret(secret)
        info = self._check(secret, self._fetch(public_id), utcnow()).info
        assert info is not None
        return info

    def authenticate(self, secret: str) -> Principal:
        public_id = parse_secret(secret)
        with self._lock:
            entry = self._cache.get(public_id)
            if entry is not None and time.monotonic() - entry.fetched < self.cache_seconds:
                self._cache.move_to_end(public_id)
            else:
                entry = None
        if entry is None:
            entry = self._fetch(public_id)
            with self._lock:
                self._cache[public_id] = entry
                while len(self._cache) > _CACHE_LIMIT:
                    self._cache.popitem(last=False)
        now = utcnow()
        checked = self._check(secret, entry, now)
        assert checked.principal is not None
        with self._lock:
            self._used[public_id] = now
        return checked.principal

    def flush_last_used(self) -> int:
        """Write the remembered last-use times; returns how many tokens were updated."""
        with self._lock:
            used, self._used = self._used, {}
        if not used:
            return 0
        with self._sessions.begin() as session:
            for public_id, at in used.items():
                session.execute(
                    update(ApiToken).where(ApiToken.public_id == public_id).values(last_used_at=at)
                )
        return len(used)

    def _fetch(self, public_id: str) -> _Cached:
        # A refresh is also when the last uses since the previous one are written down (of every
        # token: one that is used once and never again is recorded at the next refresh of any).
        with self._lock:
            used, self._used = self._used, {}
        with self._sessions.begin() as session:
            for used_id, at in used.items():
                session.execute(update(ApiToken).where(ApiToken.public_id == used_id).values(last_used_at=at))
            row = session.scalars(select(ApiToken).where(ApiToken.public_id == public_id)).one_or_none()
            if row is None:
                return _Cached(time.monotonic(), None, "", None)
            info = TokenInfo.of(row)
            principal = Principal(
                info.actor,
                info.name,
                frozenset(info.scopes),
                parse_networks(info.allowed_cidrs),
                info.partner_id,
                info.customer_id,
            )
            return _Cached(time.monotonic(), info, row.secret_hash, principal)

    @staticmethod
    def _check(secret: str, entry: _Cached, now: datetime) -> _Cached:
        # Compare even for an unknown id, so timing does not tell which ids exist.
        matches = hmac.compare_digest(secret_hash(secret), entry.secret_hash or "0" * 64)
        if entry.info is None or not matches:
            raise Unauthenticated("unknown token")
        if entry.info.revoked_at is not None:
            raise Unauthenticated(f"token {entry.info.public_id} has been revoked")
        if entry.info.expires_at is not None and entry.info.expires_at <= now:
            raise Unauthenticated(f"token {entry.info.public_id} has expired")
        return entry
