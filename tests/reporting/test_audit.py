"""The hash-chained audit log against real SQLite and PostgreSQL, tampered with by raw SQL."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from reporting import audit
from reporting.audit import AuditLog
from reporting.db import make_engine, session_factory
from reporting.store import Store
from tests.reporting.audit_fixtures import emptied_store, module_database

access_database = module_database()
store = emptied_store()


def fill(store: Store, n: int = 5) -> AuditLog:
    log = AuditLog(store.engine)
    for i in range(1, n + 1):
        log.append(f"analyst:a{i % 2}", "match.view", f"match:{i}", {"i": i, "note": "ünïcode", "ok": True})
    return log


def sql(store: Store, statement: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_an_untouched_log_verifies(store: Store) -> None:
    assert audit.verify(store.engine).ok  # empty
    fill(store)
    result = audit.verify(store.engine)
    assert (result.ok, result.checked, result.head_id) == (True, 5, 5)
    entries = AuditLog(store.engine).entries(10).entries
    assert [e.id for e in entries] == [5, 4, 3, 2, 1]
    assert entries[-1].prev_hash == audit.GENESIS
    assert all(newer.prev_hash == older.hash for newer, older in itertools.pairwise(entries))
    assert entries[0].details == {"i": 5, "note": "ünïcode", "ok": True}
    assert result.head_hash == entries[0].hash


TAMPERINGS = [
    ("UPDATE audit_log SET actor = 'analyst:someone-else' WHERE id = 3", 3, "changed"),
    ("UPDATE audit_log SET subject = 'match:99' WHERE id = 1", 1, "changed"),
    ("UPDATE audit_log SET action = 'match.reveal' WHERE id = 5", 5, "changed"),
    ('UPDATE audit_log SET details = \'{"i": 4, "note": "x", "ok": true}\' WHERE id = 4', 4, "changed"),
    ("UPDATE audit_log SET at = :early WHERE id = 2", 2, "changed"),
    ("UPDATE audit_log SET prev_hash = hash WHERE id = 2", 2, "does not follow"),
    ("DELETE FROM audit_log WHERE id = 3", 3, "missing"),
    ("DELETE FROM audit_log WHERE id = 1", 1, "missing"),
    ("DELETE FROM audit_log WHERE id >= 4", 4, "missing"),
    ("DELETE FROM audit_log WHERE id = 5", 5, "missing"),
]


def test_each_edited_or_deleted_record_is_found(store: Store) -> None:
    fill(store)
    for statement, bad_id, problem in TAMPERINGS:
        # Each tampering in its own transaction, verified inside it and then rolled back.
        with store.engine.connect() as conn:
            conn.execute(text(statement), {"early": datetime(2020, 1, 1, tzinfo=UTC)})
            result = audit.verify(conn)
            conn.rollback()
        assert not result.ok, statement
        assert (result.bad_id, problem in result.problem) == (bad_id, True), (statement, result.problem)
    assert audit.verify(store.engine).ok


def test_swapped_rows_are_found(store: Store) -> None:
    fill(store)
    sql(store, "UPDATE audit_log SET id = -1 WHERE id = 2")
    sql(store, "UPDATE audit_log SET id = 2 WHERE id = 3")
    sql(store, "UPDATE audit_log SET id = 3 WHERE id = -1")
    result = audit.verify(store.engine)
    assert (result.ok, result.bad_id) == (False, 2)


def test_a_rewritten_tail_with_a_fixed_head_is_found_by_an_anchor(store: Store) -> None:
    """Someone who can write the database can rebuild the chain; an anchor kept elsewhere shows it."""
    fill(store)
    anchor = {5: audit.verify(store.engine).head_hash}
    sql(store, "DELETE FROM audit_log WHERE id = 5")
    sql(store, "UPDATE audit_head SET last_id = 4, last_hash = (SELECT hash FROM audit_log WHERE id = 4)")
    assert audit.verify(store.engine).ok  # the chain alone cannot tell
    result = audit.verify(store.engine, anchors=anchor)
    assert (result.ok, result.bad_id) == (False, 5)
    assert audit.verify(store.engine, anchors={3: "0" * 64}).bad_id == 3


def test_a_record_commits_or_rolls_back_with_its_transaction(store: Store) -> None:
    fill(store, 2)
    sessions = session_factory(store.engine)
    with pytest.raises(RuntimeError), sessions.begin() as session:
        audit.record(session, "cli:ops", "token.create", "token:x")
        raise RuntimeError("the action failed")
    with sessions.begin() as session:
        audit.record(session, "cli:ops", "token.create", "token:y")
        audit.record(session, "cli:ops", "token.revoke", "token:y")
    result = audit.verify(store.engine)
    assert (result.ok, result.checked) == (True, 4)
    assert [e.subject for e in AuditLog(store.engine).entries(2).entries] == ["token:y", "token:y"]


def test_details_must_be_plain_json(store: Store) -> None:
    with pytest.raises(ValueError, match="plain JSON"):
        AuditLog(store.engine).append("cli:ops", "x.y", details={"when": datetime.now(UTC)})
    with pytest.raises(ValueError):
        AuditLog(store.engine).append("", "x.y")


def test_paging_and_filters(store: Store) -> None:
    log = fill(store, 7)
    first = log.entries(3)
    assert [e.id for e in first.entries] == [7, 6, 5] and first.next_before_id == 5
    second = log.entries(3, before_id=first.next_before_id)
    assert [e.id for e in second.entries] == [4, 3, 2] and second.next_before_id == 2
    last = log.entries(3, before_id=second.next_before_id)
    assert [e.id for e in last.entries] == [1] and last.next_before_id == 0
    assert [e.id for e in log.entries(10, actor="analyst:a0").entries] == [6, 4, 2]
    assert log.entries(10, action="nothing").entries == []


def test_concurrent_appenders_never_fork_the_chain(store: Store) -> None:
    threads, per_thread = 6, 15
    url = store.engine.url.render_as_string(hide_password=False)
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def append(n: int) -> None:
        # One engine per thread: separate connections, as separate processes would have.
        engine = make_engine(url)
        try:
            log = AuditLog(engine)
            start.wait()
            for i in range(per_thread):
                log.append(f"worker:{n}", "test.append", f"n:{i}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert errors == []
    result = audit.verify(store.engine)
    assert (result.ok, result.checked) == (True, threads * per_thread), result.problem
