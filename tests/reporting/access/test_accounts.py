"""Analyst accounts against real SQLite and PostgreSQL: argon2id, TOTP at fixed times, recovery
codes, lockout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from reporting import audit
from reporting.access.accounts import AccountError, Accounts, LoginFailed
from reporting.audit import AuditLog
from reporting.store import Store
from tests.reporting.audit_fixtures import emptied_store, module_database

access_database = module_database()
store = emptied_store()

PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 26, 12, 0, 15, tzinfo=UTC)
# Cheap parameters keep the tests quick; argon2id all the same.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def accounts(store: Store) -> Accounts:
    return Accounts(store.engine, max_failures=3, lockout=timedelta(minutes=15), hasher=FAST)


def test_enrolment_stores_only_hashes_and_an_argon2id_password(store: Store) -> None:
    enrolment = Accounts(store.engine).create("alice", PASSWORD, "analyst", "Alice A.", actor="cli:ops")
    assert enrolment.provisioning_uri.startswith("otpauth://totp/hashwatch:alice?secret=")
    assert len(enrolment.recovery_codes) == len(set(enrolment.recovery_codes)) == 10
    assert enrolment.info.recovery_codes_left == 10
    assert enrolment.info.scopes == {"review:read", "review:write"}
    with store.engine.connect() as conn:
        [password_hash] = conn.execute(text("SELECT password_hash FROM analysts")).scalars()
        stored = [str(v) for row in conn.execute(text("SELECT * FROM analyst_recovery_codes")) for v in row]
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    for code in enrolment.recovery_codes:
        assert not any(code in v or code.replace("-", "") in v for v in stored)
    [record] = AuditLog(store.engine).entries(10).entries
    assert (record.actor, record.action, record.subject) == ("cli:ops", "analyst.create", "analyst:alice")
    assert enrolment.totp_secret not in str(record.details)


def test_totp_codes_at_fixed_times_each_accepted_once(store: Store) -> None:
    acc = accounts(store)
    secret = acc.create("bob", PASSWORD, "auditor", actor="test").totp_secret
    totp = pyotp.TOTP(secret)

    principal = acc.authenticate("bob", PASSWORD, totp.at(T0), now=T0)
    assert (principal.actor, principal.scopes) == ("analyst:bob", frozenset({"audit:read"}))
    with pytest.raises(LoginFailed) as replay:
        acc.authenticate("bob", PASSWORD, totp.at(T0), now=T0 + timedelta(seconds=5))
    assert str(replay.value) == "login failed" and "reused" in replay.value.reason
    # One step of clock drift either way is tolerated, but never a step already passed.
    with pytest.raises(LoginFailed):
        acc.authenticate("bob", PASSWORD, totp.at(T0 - timedelta(seconds=30)), now=T0 + timedelta(seconds=30))
    later = T0 + timedelta(seconds=60)
    acc.authenticate("bob", PASSWORD, totp.at(later + timedelta(seconds=30)), now=later)
    # A code from two steps ago is too old.
    much_later = T0 + timedelta(minutes=10)
    with pytest.raises(LoginFailed):
        acc.authenticate("bob", PASSWORD, totp.at(much_later - timedelta(seconds=60)), now=much_later)
    with pytest.raises(LoginFailed) as wrong_password:
        acc.authenticate("bob", PASSWORD + "x", totp.at(much_later), now=much_later)
    assert wrong_password.value.reason == "wrong password"
    acc.authenticate("bob", PASSWORD, totp.at(much_later), now=much_later)


def test_a_recovery_code_works_once(store: Store) -> None:
    acc = accounts(store)
    enrolment = acc.create("carol", PASSWORD, "lead", actor="test")
    first, second = enrolment.recovery_codes[:2]
    assert acc.authenticate("carol", PASSWORD, first, now=T0).scopes >= {"lists:write"}
    with pytest.raises(LoginFailed) as again:
        acc.authenticate("carol", PASSWORD, first, now=T0)
    assert "used" in again.value.reason
    acc.authenticate("carol", PASSWORD, second.upper().replace("-", " "), now=T0)
    [info] = acc.list()
    assert info.recovery_codes_left == 8


def test_repeated_failures_lock_the_account_for_a_while(store: Store) -> None:
    acc = accounts(store)
    totp = pyotp.TOTP(acc.create("dave", PASSWORD, "analyst", actor="test").totp_secret)
    for i in range(3):
        with pytest.raises(LoginFailed):
            acc.authenticate("dave", "wrong password!", totp.at(T0), now=T0 + timedelta(seconds=i))
    [info] = acc.list()
    assert info.locked_until == T0 + timedelta(seconds=2) + timedelta(minutes=15)
    with pytest.raises(LoginFailed) as locked:
        acc.authenticate("dave", PASSWORD, totp.at(T0), now=T0 + timedelta(minutes=5))
    assert locked.value.reason == "account locked"
    after = T0 + timedelta(minutes=20)
    acc.authenticate("dave", PASSWORD, totp.at(after), now=after)
    [info] = acc.list()
    assert (info.failed_attempts, info.locked_until, info.last_login_at) == (0, None, after)

    actions = [e.action for e in reversed(AuditLog(store.engine).entries(20).entries)]
    assert actions == ["analyst.create"] + ["analyst.login_failed"] * 4 + ["analyst.login"]
    assert audit.verify(store.engine).ok


def test_unicode_digits_and_any_error_in_the_check_are_failed_logins(store: Store) -> None:
    acc = accounts(store)
    totp = pyotp.TOTP(acc.create("erin", PASSWORD, "analyst", actor="test").totp_secret)
    # The right code in Arabic-Indic digits is no code; a lone surrogate cannot even be encoded.
    arabic = totp.at(T0).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    reasons = []
    for code in (arabic, "12\ud80034"):
        with pytest.raises(LoginFailed) as failed:
            acc.authenticate("erin", PASSWORD, code, now=T0)
        reasons.append(failed.value.reason)
    assert reasons == ["wrong or used recovery code", "error while checking (UnicodeEncodeError)"]
    [info] = acc.list()
    assert info.failed_attempts == 2
    with pytest.raises(LoginFailed):
        acc.authenticate("erin", PASSWORD, "\ud800", now=T0)
    assert acc.list()[0].locked_until == T0 + timedelta(minutes=15)
    # An unknown account answers the same to the same input.
    with pytest.raises(LoginFailed):
        acc.authenticate("nobody", "\ud800", "\ud800", now=T0)
    details = [
        e.details for e in AuditLog(store.engine).entries(10).entries if e.action == "analyst.login_failed"
    ]
    assert len(details) == 3 and "locked_until" in details[0]


def test_a_disabled_or_unknown_analyst_cannot_log_in(store: Store) -> None:
    acc = accounts(store)
    totp = pyotp.TOTP(acc.create("erin", PASSWORD, "admin", actor="test").totp_secret)
    assert acc.disable("erin", actor="cli:ops", reason="left") is True
    assert acc.disable("erin", actor="cli:ops") is False
    with pytest.raises(LoginFailed) as disabled:
        acc.authenticate("erin", PASSWORD, totp.at(T0), now=T0)
    assert disabled.value.reason == "account disabled"
    with pytest.raises(LoginFailed) as unknown:
        acc.authenticate("nobody", PASSWORD, "123456", now=T0)
    assert str(unknown.value) == str(disabled.value) == "login failed"
    with pytest.raises(AccountError):
        acc.disable("nobody")
    assert acc.list()[0].disabled_at is not None


def test_accounts_are_validated(store: Store) -> None:
    acc = accounts(store)
    with pytest.raises(AccountError, match="at least 12"):
        acc.create("frank", "short", "analyst")
    with pytest.raises(AccountError, match="role"):
        acc.create("frank", PASSWORD, "superuser")
    with pytest.raises(AccountError, match="username"):
        acc.create("Frank Smith", PASSWORD, "analyst")
    acc.create("frank", PASSWORD, "analyst")
    with pytest.raises(AccountError, match="already exists"):
        acc.create("frank", PASSWORD, "analyst")
