"""Server-side sessions of the analysts' review page.

The cookie carries 256 random bits; only their SHA-256 is stored, so reading the table does not
hand out sessions. A session ends at its absolute expiry, after ``idle`` without a request, or
at logout; its scopes are the analyst's role's (``reporting.access.accounts.ROLE_SCOPES``), read from
the account on each request, so disabling an account or changing a role takes effect at once.
Start and end are written to the audit log with the session row.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from reporting import audit, models
from reporting.access.accounts import ROLE_SCOPES
from reporting.db import session_factory

# last_seen_at is written at most this often, so every page view is not a write.
_TOUCH_EVERY = timedelta(seconds=30)


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    username: str
    role: str
    scopes: frozenset[str]
    csrf_token: str
    expires_at: datetime

    @property
    def actor(self) -> str:
        return f"analyst:{self.username}"


class WebSessions:
    def __init__(
        self,
        engine: Engine,
        lifetime: timedelta = timedelta(hours=8),
        idle: timedelta = timedelta(minutes=30),
    ) -> None:
        self._sessions = session_factory(engine)
        self.lifetime = lifetime
        self.idle = idle

    def start(self, username: str, client_ip: str = "") -> tuple[str, SignedIn]:
        """A new session for an analyst who has just authenticated; returns (cookie, session)."""
        cookie = secrets.token_urlsafe(32)
        now = models.utcnow()
        with self._sessions.begin() as session:
            analyst = session.scalar(select(models.Analyst).where(models.Analyst.username == username))
            if analyst is None or analyst.disabled_at is not None:
                raise LookupError(f"no active analyst {username}")
            row = models.WebSession(
                id_hash=_digest(cookie),
                analyst_id=analyst.id,
                username=username,
                role=analyst.role,
                stage="full",
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                expires_at=now + self.lifetime,
                client_ip=client_ip[:64],
            )
            session.add(row)
            audit.record(
                session,
                f"analyst:{username}",
                "web.session_start",
                f"analyst:{username}",
                {"client_ip": client_ip, "expires_at": row.expires_at.isoformat()},
                at=now,
            )
            return cookie, self._signed_in(row, analyst.role)

    def get(self, cookie: str) -> SignedIn | None:
        """The live session a cookie names, or None (unknown, expired, idle, ended, disabled)."""
        if not cookie or len(cookie) > 100:
            return None
        now = models.utcnow()
        with self._sessions.begin() as session:
            row = session.get(models.WebSession, _digest(cookie))
            if row is None or row.ended_at is not None:
                return None
            analyst = session.get(models.Analyst, row.analyst_id)
            if (
                row.expires_at <= now
                or row.last_seen_at + self.idle <= now
                or analyst is None
                or analyst.disabled_at is not None
            ):
                return None
            if now - row.last_seen_at >= _TOUCH_EVERY:
                row.last_seen_at = now
            return self._signed_in(row, analyst.role)

    def end(self, cookie: str, reason: str = "logout") -> bool:
        now = models.utcnow()
        with self._sessions.begin() as session:
            row = session.get(models.WebSession, _digest(cookie))
            if row is None or row.ended_at is not None:
                return False
            session.execute(
                update(models.WebSession).where(models.WebSession.id_hash == row.id_hash).values(ended_at=now)
            )
            audit.record(
                session,
                f"analyst:{row.username}",
                "web.session_end",
                f"analyst:{row.username}",
                {"reason": reason},
            )
            return True

    @staticmethod
    def _signed_in(row: models.WebSession, role: str) -> SignedIn:
        return SignedIn(
            row.username, role, ROLE_SCOPES.get(role, frozenset()), row.csrf_token, row.expires_at
        )
