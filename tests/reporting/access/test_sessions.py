"""Server-side sessions of the review page: expiry, idle timeout, logout, disabled accounts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from reporting import audit, models
from reporting.access.accounts import Accounts
from reporting.access.sessions import WebSessions
from reporting.store import Store


def test_sessions_expire_idle_out_end_and_die_with_the_account(store: Store) -> None:
    accounts = Accounts(store.engine)
    accounts.create("ann", "a long enough password", "analyst", actor="test")
    accounts.create("aud", "a long enough password", "auditor", actor="test")
    sessions = WebSessions(store.engine, lifetime=timedelta(hours=1), idle=timedelta(minutes=5))

    cookie, signed_in = sessions.start("ann", "192.0.2.1")
    assert signed_in.actor == "analyst:ann" and "review:write" in signed_in.scopes
    again = sessions.get(cookie)
    assert again is not None and again.csrf_token == signed_in.csrf_token
    assert sessions.get("not-a-session") is None and sessions.get("") is None
    with store._sessions() as session:
        [row] = session.scalars(select(models.WebSession)).all()
        assert row.id_hash != cookie and cookie not in row.id_hash  # only the digest is kept

    def age(**delta: float) -> None:
        with store._sessions.begin() as session:
            for row in session.scalars(select(models.WebSession)):
                row.last_seen_at -= timedelta(**delta)
                row.created_at -= timedelta(**delta)

    age(minutes=6)
    assert sessions.get(cookie) is None, "idle past 5 minutes"

    cookie, _ = sessions.start("ann")
    with store._sessions.begin() as session:
        session.execute(update(models.WebSession).values(expires_at=models.utcnow() - timedelta(seconds=1)))
    assert sessions.get(cookie) is None, "past its absolute expiry"

    cookie, _ = sessions.start("ann")
    assert sessions.end(cookie) and not sessions.end(cookie)
    assert sessions.get(cookie) is None

    cookie, _ = sessions.start("ann")
    accounts.disable("ann", actor="test", reason="left")
    assert sessions.get(cookie) is None

    _, auditor = sessions.start("aud")
    assert auditor.scopes == frozenset({"audit:read"})
    actions = [e.action for e in audit.AuditLog(store.engine).entries(100).entries]
    assert actions.count("web.session_start") == 5 and actions.count("web.session_end") == 1
    assert audit.verify(store.engine).ok
