"""Scoped API tokens: create (secret shown once), list, revoke, verify.

What a secret looks like, and why only its SHA-256 is stored: ``reporting.access.token_format``.

``TokenStore.authenticate`` runs on every RPC. A token it has read from the database is kept in
memory for ``cache_seconds`` (30 s), so the scan path asks the database at most once per token
per window; revoking a token therefore takes effect on running servers within that window.
A well-formed id that names no token is remembered for as long, in a cache of its own (bounded:
anyone can mint such ids), so junk costs one read per id and never evicts a real token.
Expiry and the secret itself are checked on every call. ``last_used_at`` is written at the
first use and then at most once per ``last_used_seconds`` (60 s) per token, never on an unknown
id's lookup, so it lags by up to a minute and a server that stops loses its latest unwritten
uses (``flush_last_used`` writes them).
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from reporting import audit
from reporting.access.recent import Recent
from reporting.access.token_format import make_secret, parse_secret, secret_hash
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

log = structlog.get_logger(__name__)

# Tokens that exist: as many as were ever created, so this bound is only a backstop.
_CACHE_LIMIT = 10_000
# Well-formed ids that name no token (the checksum stops typos, not an attacker): kept apart.
_UNKNOWN_LIMIT = 10_000


class TokenError(Exception):
    """A token operation that cannot be done (unknown token, bad arguments)."""


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


@dataclass(frozen=True)
class _Cached:
    # None: no token with this public id.
    info: TokenInfo | None
    secret_hash: str
    principal: Principal | None


_UNKNOWN = _Cached(None, "", None)


class TokenStore:
    """Tokens in the database; the server's ``scanner.auth.TokenVerifier``."""

    def __init__(
        self,
        engine: Engine,
        cache_seconds: float = 30.0,
        last_used_seconds: float = 60.0,
    ) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.last_used_seconds = last_used_seconds
        self._sessions = session_factory(engine)
        # Two caches: junk ids have their own bound, so a flood of them never pushes a real
        # token out of memory (and onto the database) on the scan path.
        self._known: Recent[str, _Cached] = Recent(_CACHE_LIMIT, cache_seconds)
        self._unknown: Recent[str, bool] = Recent(_UNKNOWN_LIMIT, cache_seconds)
        # Per token: the last use not yet written, and when its last use was written.
        self._used: dict[str, datetime] = {}
        self._written: dict[str, float] = {}
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
            self._known.pop(public_id)
        return True

    def verify(self, secret: str) -> TokenInfo:
        """The token a secret belongs to, if it is usable now (a fresh read, no cache)."""
        public_id = parse_secret(secret)
        info = self._check(secret, self._fetch(public_id), utcnow()).info
        assert info is not None
        return info

    def authenticate(self, secret: str) -> Principal:
        public_id = parse_secret(secret)
        clock = time.monotonic()
        with self._lock:
            entry = _UNKNOWN if self._unknown.get(public_id, clock) else self._known.get(public_id, clock)
        if entry is None:
            entry = self._fetch(public_id)
            with self._lock:
                if entry.info is None:
                    self._unknown.put(public_id, True, clock)
                else:
                    self._known.put(public_id, entry, clock)
        now = utcnow()
        checked = self._check(secret, entry, now)
        assert checked.principal is not None
        self._note_use(public_id, now, clock)
        return checked.principal

    def flush_last_used(self) -> int:
        """Write the remembered last-use times now; returns how many tokens were updated."""
        clock = time.monotonic()
        with self._lock:
            used, self._used = self._used, {}
            self._written.update(dict.fromkeys(used, clock))
        return self._write_last_used(used)

    def _note_use(self, public_id: str, now: datetime, clock: float) -> None:
        # At most one write per token per ``last_used_seconds``: the first use is written at
        # once, later ones when the interval has passed (or by ``flush_last_used``).
        with self._lock:
            self._used[public_id] = now
            if clock - self._written.get(public_id, -math.inf) < self.last_used_seconds:
                return
            self._written[public_id] = clock
            due = {public_id: self._used.pop(public_id)}
        self._write_last_used(due)

    def _write_last_used(self, used: dict[str, datetime]) -> int:
        if not used:
            return 0
        try:
            with self._sessions.begin() as session:
                for public_id, at in used.items():
                    session.execute(
                        update(ApiToken).where(ApiToken.public_id == public_id).values(last_used_at=at)
                    )
        except SQLAlchemyError as exc:
            # Bookkeeping only: a token that verified keeps working while the database is away.
            log.warning("could not record when tokens were last used", error=type(exc).__name__)
            return 0
        return len(used)

    def _fetch(self, public_id: str) -> _Cached:
        # A read only: an unknown id costs one SELECT, and never a write.
        with self._sessions() as session:
            row = session.scalars(select(ApiToken).where(ApiToken.public_id == public_id)).one_or_none()
            if row is None:
                return _UNKNOWN
            info = TokenInfo.of(row)
            principal = Principal(
                info.actor,
                info.name,
                frozenset(info.scopes),
                parse_networks(info.allowed_cidrs),
                info.partner_id,
                info.customer_id,
            )
            return _Cached(info, row.secret_hash, principal)

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
