"""The audit log's seal against real SQLite and PostgreSQL: the audit key's MACs and the anchor
file, tampered with by someone who can write the database but holds neither."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from reporting import audit, models
from reporting.audit import AuditLog
from reporting.audit_seal import ANCHOR_FILE, Anchor, AnchorError, AuditSeal, read_anchor
from reporting.db import make_engine, session_factory
from reporting.store import Store
from tests.reporting.audit_fixtures import emptied_store, module_database

access_database = module_database()
store = emptied_store()

KEY = os.urandom(32)


def fill(store: Store, n: int) -> None:
    log = AuditLog(store.engine)
    for i in range(n):
        log.append("analyst:a", "case.view", f"match:{i}", {"i": i})


def sql(store: Store, statement: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def sealed(store: Store, tmp_path: Path, name: str = "server-a", key: bytes = KEY) -> AuditSeal:
    """The engine appends as a server with this key and this data directory would."""
    (tmp_path / name).mkdir(exist_ok=True)
    seal = AuditSeal(key, tmp_path / name / ANCHOR_FILE)
    audit.seal_engine(store.engine, seal)
    return seal


def elsewhere() -> AuditSeal:
    """The key without any anchor: a verifier on a machine that never appended."""
    return AuditSeal(KEY)


def move_head_to(store: Store, record_id: int) -> None:
    # The best a writer without the key can do: the record's own MAC in the head.
    sql(
        store,
        "UPDATE audit_head SET last_id = :id, last_hash = (SELECT hash FROM audit_log WHERE id = :id), "
        "mac = (SELECT mac FROM audit_log WHERE id = :id)",
        id=record_id,
    )


def test_a_cut_tail_with_the_head_moved_back_is_named(store: Store, tmp_path: Path) -> None:
    seal = sealed(store, tmp_path)
    fill(store, 8)
    result = audit.verify(store.engine)
    assert (result.ok, result.sealed, result.unsealed, result.checked) == (True, True, False, 8)
    assert seal.anchor() == Anchor(8, result.head_hash)

    sql(store, "DELETE FROM audit_log WHERE id > 5")
    move_head_to(store, 5)
    cut = audit.verify(store.engine)
    assert (cut.ok, cut.bad_id) == (False, 6)
    assert cut.problem.startswith(f"records 6..8 are missing: {seal.anchor_path} says record 8 was written")
    # Without an anchor the head's MAC still shows it: it was never the head at record 5.
    far = audit.verify(store.engine, seal=elsewhere())
    assert (far.ok, far.bad_id) == (False, 5) and "not one the audit key sealed" in far.problem
    sql(store, "UPDATE audit_head SET mac = NULL")
    assert "head (record 5) carries no MAC" in audit.verify(store.engine, seal=elsewhere()).problem


def test_a_replayed_old_head_is_older_than_the_anchor(store: Store, tmp_path: Path) -> None:
    seal = sealed(store, tmp_path)
    fill(store, 5)
    with store.engine.connect() as conn:
        old = conn.execute(text("SELECT last_id, last_hash, mac FROM audit_head")).one()
    fill(store, 3)
    # A copy of the database from when record 5 was the newest, put back.
    sql(store, "DELETE FROM audit_log WHERE id > 5")
    sql(store, "UPDATE audit_head SET last_id = :i, last_hash = :h, mac = :m", i=old[0], h=old[1], m=old[2])
    result = audit.verify(store.engine)
    assert (result.ok, result.bad_id) == (False, 6)
    assert "records 6..8 are missing" in result.problem and str(seal.anchor_path) in result.problem
    # The documented limit: with no anchor newer than it, a head that was valid once still reads as valid.
    assert audit.verify(store.engine, seal=elsewhere()).ok


def rebuild_from(store: Store, first: int, key: bytes | None = None) -> None:
    """Rewrite record ``first`` and rebuild the chain from it on, head included, as someone who
    can write the database does; with ``key``, also their MACs (someone who holds the key)."""
    seal = AuditSeal(key) if key else None
    attacker = make_engine(store.engine.url.render_as_string(hide_password=False))
    with Session(attacker) as session:
        rows = session.scalars(select(models.AuditRecord).order_by(models.AuditRecord.id)).all()
        prev = rows[first - 2].hash
        for row in rows[first - 1 :]:
            if row.id == first:
                row.actor = "analyst:nobody"
            row.prev_hash = prev
            row.hash = audit.chain_hash(
                prev, audit.canonical(row.id, row.at, row.actor, row.action, row.subject, row.details)
            )
            row.mac = seal.record_mac(row.hash) if seal else row.mac
            prev = row.hash
        head = session.get(models.AuditHead, 1)
        assert head is not None
        head.last_hash = prev
        head.mac = seal.head_mac(head.last_id, prev) if seal else head.mac
        session.commit()
    attacker.dispose()


def test_a_rebuilt_chain_is_named_without_any_anchor(store: Store, tmp_path: Path) -> None:
    sealed(store, tmp_path)
    fill(store, 6)
    rebuild_from(store, 3)
    for result in (audit.verify(store.engine, seal=elsewhere()), audit.verify(store.engine)):
        assert (result.ok, result.bad_id) == (False, 3)
        assert "record 3 does not carry the audit key's MAC" in result.problem


def test_whoever_holds_the_key_is_still_caught_by_the_anchor(store: Store, tmp_path: Path) -> None:
    seal = sealed(store, tmp_path)
    fill(store, 6)
    rebuild_from(store, 3, key=KEY)
    # The documented limit: with the key, a rebuilt chain reads as intact where no anchor is kept.
    assert audit.verify(store.engine, seal=elsewhere()).ok
    result = audit.verify(store.engine)
    assert (result.ok, result.bad_id) == (False, 6)
    assert result.problem == f"record 6 does not match {seal.anchor_path} (rewritten since)"


def test_removed_macs_are_named(store: Store, tmp_path: Path) -> None:
    seal = sealed(store, tmp_path)
    fill(store, 4)
    sql(store, "UPDATE audit_log SET mac = NULL WHERE id = 3")
    result = audit.verify(store.engine)
    assert (result.bad_id, "record 3 carries no MAC although record 1 does" in result.problem) == (3, True)
    # Every MAC removed: the log then reads as one from before the key, and verify says so
    # (`hashwatch audit verify` exits 1 for it).
    sql(store, "UPDATE audit_log SET mac = NULL")
    sql(store, "UPDATE audit_head SET mac = NULL")
    stripped = audit.verify(store.engine)
    assert (stripped.ok, stripped.unsealed, stripped.unsealed_records) == (True, True, 4)
    assert seal.anchor() == Anchor(4, stripped.head_hash)


def test_a_log_from_before_the_key_is_sealed_by_the_next_append(store: Store, tmp_path: Path) -> None:
    fill(store, 3)  # an engine without a seal: records from before the key
    seal = sealed(store, tmp_path)
    before = audit.verify(store.engine)
    assert (before.ok, before.unsealed, before.unsealed_records) == (True, True, 3)
    assert seal.anchor() is None
    fill(store, 1)
    after = audit.verify(store.engine)
    assert (after.ok, after.unsealed, after.unsealed_records, after.checked) == (True, False, 3, 4)
    # Cutting the sealed record off puts the log back to "not sealed" (which the CLI fails on)
    # where there is no anchor, and the anchor names it.
    sql(store, "DELETE FROM audit_log WHERE id = 4")
    move_head_to(store, 3)
    far = audit.verify(store.engine, seal=elsewhere())
    assert (far.ok, far.unsealed) == (True, True)
    assert audit.verify(store.engine).problem.startswith(f"record 4 is missing: {seal.anchor_path}")


def test_servers_sharing_a_database_and_a_key_check_each_other(store: Store, tmp_path: Path) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    a = sealed(store, tmp_path, "server-a")
    other = Store(make_engine(url))
    try:
        b = sealed(other, tmp_path, "server-b")
        fill(store, 2)
        fill(other, 3)
        assert audit.verify(store.engine).ok and audit.verify(other.engine).ok
        anchor_a, anchor_b = a.anchor(), b.anchor()
        assert anchor_a is not None and anchor_b is not None and (anchor_a.id, anchor_b.id) == (2, 5)
        # B's newest records cut: B's anchor names them; A's (older) cannot, but A's verify can
        # take B's anchor file, and the head's MAC shows the cut to anyone with the key.
        sql(store, "DELETE FROM audit_log WHERE id > 3")
        move_head_to(store, 3)
        assert "records 4..5 are missing" in audit.verify(other.engine).problem
        from_a = audit.verify(store.engine, anchor_sources={"server-b's anchor": anchor_b})
        assert from_a.bad_id == 4 and "server-b's anchor says record 5" in from_a.problem
        assert "not one the audit key sealed" in audit.verify(store.engine).problem
    finally:
        other.engine.dispose()


def test_a_server_with_another_key_is_named(store: Store, tmp_path: Path) -> None:
    sealed(store, tmp_path)
    fill(store, 2)
    url = store.engine.url.render_as_string(hide_password=False)
    stray = Store(make_engine(url))
    try:
        audit.seal_engine(stray.engine, AuditSeal(os.urandom(32), tmp_path / "stray" / ANCHOR_FILE))
        with capture_logs() as logs:
            fill(stray, 2)
    finally:
        stray.engine.dispose()
    # The appending process says so, once; the appends themselves go through.
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [
        "audit key mismatch: the audit log's head was sealed with another key, or altered"
    ]
    result = audit.verify(store.engine)
    assert result.bad_id == 3 and "written with another key" in result.problem


def test_the_anchor_moves_only_forward_and_only_after_a_commit(store: Store, tmp_path: Path) -> None:
    seal = sealed(store, tmp_path)
    fill(store, 2)
    sessions = session_factory(store.engine)
    with pytest.raises(RuntimeError), sessions.begin() as session:
        audit.record(session, "cli:ops", "token.create", "token:x")
        raise RuntimeError("the action failed")
    assert seal.anchor() is not None and seal.anchor().id == 2  # type: ignore[union-attr]
    with sessions.begin() as session:
        audit.record(session, "cli:ops", "token.create", "token:y")
        audit.record(session, "cli:ops", "token.revoke", "token:y")
    assert seal.anchor() == Anchor(4, audit.verify(store.engine).head_hash)
    seal.advance(Anchor(1, "0" * 64))
    assert seal.anchor() is not None and seal.anchor().id == 4  # type: ignore[union-attr]

    # Appenders in parallel (separate engines, one data directory) leave the newest record.
    url = store.engine.url.render_as_string(hide_password=False)
    errors: list[BaseException] = []

    def append() -> None:
        engine = make_engine(url)
        try:
            audit.seal_engine(engine, AuditSeal(KEY, seal.anchor_path))
            log = AuditLog(engine)
            for i in range(10):
                log.append("worker", "test.append", f"n:{i}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    workers = [threading.Thread(target=append) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    result = audit.verify(store.engine)
    assert errors == [] and result.ok and result.checked == 44
    assert seal.anchor() == Anchor(44, result.head_hash)


def test_an_unreadable_anchor_is_reported_not_trusted(store: Store, tmp_path: Path) -> None:
    seal = sealed(store, tmp_path)
    fill(store, 1)
    assert seal.anchor_path is not None
    seal.anchor_path.write_text("garbage")
    result = audit.verify(store.engine)
    assert not result.ok and "ID:HASH" in result.problem
    with pytest.raises(AnchorError):
        read_anchor(seal.anchor_path)
    fill(store, 1)  # the next append replaces it
    assert audit.verify(store.engine).ok
