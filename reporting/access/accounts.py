"""Analyst accounts: argon2id password plus TOTP (RFC 6238), one-time recovery codes, lockout.

A login needs the password and a second factor: a current TOTP code or one unused recovery
code. A TOTP code is accepted once (the time step is remembered), a recovery code once (it is
marked used). After ``max_failures`` failed logins in a row the account is locked for
``lockout``; a success resets the count. The caller only ever learns "login failed": which
part was wrong goes to the audit log, so an attacker cannot probe usernames or passwords one
at a time.

Each role maps to the same scopes API tokens carry (``ROLE_SCOPES``), so the review page checks
an analyst exactly as the gRPC server checks a token.

The TOTP secret must be read back to check a code, so it cannot be hashed: it is sealed with
the local key (``reporting.sealed``), which is not in the database, so whoever reads the
database cannot mint codes. Recovery codes carry 80 random bits, so a SHA-256 of each is enough
to keep them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from reporting import audit
from reporting.db import session_factory
from reporting.keys import LocalKey
from reporting.models import Analyst, RecoveryCode, utcnow
from reporting.sealed import SealedSecrets
from scanner.auth import ADMIN, AUDIT_READ, LISTS_READ, LISTS_WRITE, REVIEW_READ, REVIEW_WRITE, Principal

log = structlog.get_logger(__name__)

ROLE_SCOPES: dict[str, frozenset[str]] = {
    # Reviews matches: sees the queue, reveals, decides.
    "analyst": frozenset({REVIEW_READ, REVIEW_WRITE}),
    # An analyst who also manages lists.
    "lead": frozenset({REVIEW_READ, REVIEW_WRITE, LISTS_READ, LISTS_WRITE}),
    # Reads the audit log and nothing else.
    "auditor": frozenset({AUDIT_READ}),
    "admin": frozenset({ADMIN}),
}
MIN_PASSWORD = 12
RECOVERY_CODES = 10
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


class AccountError(Exception):
    """An account operation that cannot be done; the message is for the operator."""


class LoginFailed(Exception):
    """The login did not succeed. ``str()`` is safe to show; ``reason`` is for logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__("login failed")
        self.reason = reason


@dataclass(frozen=True)
class AnalystInfo:
    username: str
    display_name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    locked_until: datetime | None
    failed_attempts: int
    last_login_at: datetime | None
    recovery_codes_left: int

    @property
    def scopes(self) -> frozenset[str]:
        return ROLE_SCOPES[self.role]


@dataclass(frozen=True)
class Enrolment:
    """What the new analyst is given once: the TOTP secret (as a URI for an authenticator app)
    and the recovery codes. None of it can be shown again."""

    info: AnalystInfo
    totp_secret: str
    provisioning_uri: str
    recovery_codes: list[str]


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").replace(" ", "").encode()).hexdigest()


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(_B32) for _ in range(16))  # 80 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


class Accounts:
    def __init__(
        self,
        engine: Engine,
        max_failures: int = 5,
        lockout: timedelta = timedelta(minutes=15),
        issuer: str = "hashwatch",
        hasher: PasswordHasher | None = None,
        secrets: LocalKey | None = None,
    ) -> None:
        """``secrets``: the local key sealing TOTP secrets (default: the one ``open_store``
        unlocked the database with)."""
        self.engine = engine
        self._sealed = SealedSecrets(engine, secrets)
        self.max_failures = max_failures
        self.lockout = lockout
        self.issuer = issuer
        # argon2-cffi's defaults are argon2id with RFC 9106's low-memory parameters.
        self.hasher = hasher or PasswordHasher()
        self._sessions = session_factory(engine)
        self._dummy_hash = ""

    def create(
        self, username: str, password: str, role: str, display_name: str = "", actor: str = ""
    ) -> Enrolment:
        if not _USERNAME.fullmatch(username):
            raise AccountError("a username is 1-100 of a-z 0-9 . _ - and starts with a letter or digit")
        if role not in ROLE_SCOPES:
            raise AccountError(f"unknown role {role!r}; choose from {', '.join(ROLE_SCOPES)}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password must be at least {MIN_PASSWORD} characters")
        totp_secret = pyotp.random_base32()
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
        with self._sessions.begin() as session:
            if session.scalar(select(Analyst.id).where(Analyst.username == username)) is not None:
                raise AccountError(f"analyst {username} already exists")
            row = Analyst(
                username=username,
                display_name=display_name,
                role=role,
                password_hash=self.hasher.hash(password),
                # Sealed below, bound to the row's id; the plain seed is never written.
                totp_secret="",
                totp_last_step=0,
                failed_attempts=0,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            row.totp_secret = self._sealed.seal_totp(row.id, totp_secret)
            session.add_all(RecoveryCode(analyst_id=row.id, code_hash=_code_hash(c)) for c in codes)
            audit.record(
                session,
                actor or "unknown",
                "analyst.create",
                f"analyst:{username}",
                {"role": role, "display_name": display_name},
            )
            info = self._info(session, row)
        uri = pyotp.TOTP(totp_secret).provisioning_uri(name=username, issuer_name=self.issuer)
        return Enrolment(info, totp_secret, uri, codes)

    def list(self) -> list[AnalystInfo]:
        with self._sessions() as session:
            return [self._info(session, row) for row in session.scalars(select(Analyst).order_by(Analyst.id))]

    def disable(self, username: str, actor: str = "", reason: str = "") -> bool:
        """Disable an account; False when it already was."""
        with self._sessions.begin() as session:
            row = self._row(session, username)
            if row is None:
                raise AccountError(f"no analyst {username}")
            if row.disabled_at is not None:
                return False
            row.disabled_at = utcnow()
            audit.record(
                session, actor or "unknown", "analyst.disable", f"analyst:{username}", {"reason": reason}
            )
        return True

    def authenticate(self, username: str, password: str, code: str, now: datetime | None = None) -> Principal:
        """The analyst's principal, or ``LoginFailed``. ``code`` is a TOTP code or a recovery code."""
        now = now or utcnow()
        failure: LoginFailed | None = None
        with self._sessions.begin() as session:
            row = self._row(session, username, lock=True)
            if row is None:
                self._burn(password)
                log.info("login failed", username=username, reason="unknown user")
                raise LoginFailed("unknown user")
            subject = f"analyst:{username}"
            if row.disabled_at is not None:
                self._burn(password)
                failure = LoginFailed("account disabled")
            elif row.locked_until is not None and row.locked_until > now:
                self._burn(password)
                failure = LoginFailed("account locked")
            else:
                failure = self._check_or_fail(session, row, password, code, now)
            if failure is None:
                row.failed_attempts = 0
                row.locked_until = None
                row.last_login_at = now
                audit.record(session, subject, "analyst.login", subject, {}, at=now)
                return Principal(subject, row.display_name or username, ROLE_SCOPES[row.role])
            details: dict[str, Any] = {"reason": failure.reason}
            if failure.reason not in ("account disabled", "account locked"):
                row.failed_attempts += 1
                if row.failed_attempts >= self.max_failures:
                    row.locked_until = now + self.lockout
                    row.failed_attempts = 0
                    details["locked_until"] = row.locked_until.isoformat()
            audit.record(session, subject, "analyst.login_failed", subject, details, at=now)
        raise failure

    def _check_or_fail(
        self, session: Session, row: Analyst, password: str, code: str, now: datetime
    ) -> LoginFailed | None:
        """``_check``, where an error is a failed login like any other: it must not answer the
        right password differently from a wrong one, nor skip the lockout and the audit log."""
        try:
            return self._check(session, row, password, code, now)
        except Exception as exc:
            log.error("login check failed", username=row.username, error=type(exc).__name__)
            return LoginFailed(f"error while checking ({type(exc).__name__})")

    def _check(
        self, session: Session, row: Analyst, password: str, code: str, now: datetime
    ) -> LoginFailed | None:
        try:
            self.hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            return LoginFailed("wrong password")
        if self.hasher.check_needs_rehash(row.password_hash):
            row.password_hash = self.hasher.hash(password)
        code = code.strip()
        # ASCII digits only: "١٢٣٤٥٦".isdigit() is true too. Anything else is tried as a recovery code.
        if code.isascii() and code.isdigit():
            step = self._totp_step(row, code, now)
            if step is None:
                return LoginFailed("wrong or reused TOTP code")
            row.totp_last_step = step
            return None
        digest = _code_hash(code)
        unused = session.scalars(
            select(RecoveryCode).where(RecoveryCode.analyst_id == row.id, RecoveryCode.used_at.is_(None))
        ).all()
        found = None
        for candidate in unused:
            if hmac.compare_digest(candidate.code_hash, digest):
                found = candidate
        if found is None:
            return LoginFailed("wrong or used recovery code")
        found.used_at = now
        return None

    def _totp_step(self, row: Analyst, code: str, now: datetime) -> int | None:
        """The time step ``code`` belongs to (now, or one step either side for clock drift), if it
        is later than the last one accepted."""
        totp = pyotp.TOTP(self._sealed.open_totp(row.id, row.totp_secret))
        current = totp.timecode(now.timestamp())
        for step in (current - 1, current, current + 1):
            if step > row.totp_last_step and hmac.compare_digest(
                totp.generate_otp(step).encode(), code.encode()
            ):
                return step
        return None

    def _burn(self, password: str) -> None:
        # Spend the same time as a real check, so timing does not tell which accounts exist.
        if not self._dummy_hash:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        # Any error too: an unknown account must answer as a known one does (``_check_or_fail``).
        with contextlib.suppress(Exception):
            self.hasher.verify(self._dummy_hash, password)

    @staticmethod
    def _row(session: Session, username: str, lock: bool = False) -> Analyst | None:
        if lock:
            # Serialise logins of one account (a row lock on PostgreSQL, the write lock on SQLite),
            # so two logins cannot both spend the same TOTP code or miscount failures.
            session.execute(
                update(Analyst)
                .where(Analyst.username == username)
                .values(failed_attempts=Analyst.failed_attempts)
            )
        return session.scalars(select(Analyst).where(Analyst.username == username)).one_or_none()

    @staticmethod
    def _info(session: Session, row: Analyst) -> AnalystInfo:
        left = len(
            session.scalars(
                select(RecoveryCode.id).where(
                    RecoveryCode.analyst_id == row.id, RecoveryCode.used_at.is_(None)
                )
            ).all()
        )
        return AnalystInfo(
            row.username,
            row.display_name,
            row.role,
            row.created_at,
            row.disabled_at,
            row.locked_until,
            row.failed_attempts,
            row.last_login_at,
            left,
        )
