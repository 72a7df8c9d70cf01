"""The match journal: spooled durably when recording fails, replayed once when it works again."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from index.hashes import Algorithm, Hash
from reporting import models
from reporting.matches.evidence import EvidenceBox
from reporting.store import ActionConfig, NewEntry, Store
from scanner.app import build_matcher
from scanner.decision import Decision
from scanner.engine import MatcherHolder, ScanEngine, Verdict
from scanner.journal import AlreadyRecorded, Journal, JournalRecord
from scanner.pipeline import HashingConfig, hash_content
from scanner.recording import RecordingFailed, ScanContext
from scanner.store_ports import journal_sink
from tests.conftest import DEMO_LIST, DEMO_UNLISTED

LISTED = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
UNLISTED = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()


class DownRecorder:
    """A database that is away: every record fails."""

    def __init__(self) -> None:
        self.calls = 0

    def record_match(
        self, context: ScanContext, hashes: Sequence[Hash], decision: Decision, content: bytes
    ) -> int:
        self.calls += 1
        raise RecordingFailed("could not record match: OperationalError: connection refused")


def _engine(store: Store, journal: Journal | None, verdict: Verdict = Verdict.BLOCK) -> ScanEngine:
    [pdq] = hash_content(LISTED, [Algorithm.PDQ], HashingConfig()).hashes
    store.import_entries("demo", [NewEntry(pdq, "rocket")])
    return ScanEngine(
        HashingConfig(),
        MatcherHolder(build_matcher(store)),
        DownRecorder(),
        journal=journal,
        degraded_verdict=verdict,
    )


@pytest.fixture
def box() -> EvidenceBox:
    return EvidenceBox(os.urandom(32))


def _spooled_engine(
    store: Store, tmp_path: Path, box: EvidenceBox, verdict: Verdict
) -> tuple[ScanEngine, Journal]:
    journal = Journal(tmp_path / "journal", box)
    return _engine(store, journal, verdict), journal


def test_a_match_the_database_refuses_is_spooled_sealed_and_answered_with_the_degraded_verdict(
    store: Store, tmp_path: Path, box: EvidenceBox
) -> None:
    engine, journal = _spooled_engine(store, tmp_path, box, Verdict.BLOCK)
    context = ScanContext(request_id="r-spool", customer_id="shop", url="https://shop.example/a.jpg")
    result = engine.scan(LISTED, context)
    assert result.verdict is Verdict.BLOCK
    assert result.hits and result.match_id == 0
    assert "spooled to the local journal" in result.reason
    [path] = journal.pending()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert LISTED[:64] not in path.read_bytes()  # the evidence is sealed, not in the clear
    record = journal.read(path)
    assert (record.context, record.content) == (context, LISTED)
    assert [(h.list_name, h.entry_id) for h in record.hits] == [
        (h.list_name, h.entry_id) for h in result.hits
    ]
    # No match, no database, no journal.
    assert engine.scan(UNLISTED, ScanContext(request_id="r-clean")).verdict is Verdict.ALLOW
    assert journal.depth() == 1


def test_fail_open_is_a_setting(store: Store, tmp_path: Path, box: EvidenceBox) -> None:
    engine, journal = _spooled_engine(store, tmp_path, box, Verdict.ALLOW)
    result = engine.scan(LISTED, ScanContext(request_id="r-open", customer_id="shop", url="u"))
    assert result.verdict is Verdict.ALLOW and result.hits
    assert journal.depth() == 1


def test_without_a_journal_the_match_is_still_blocked(store: Store, tmp_path: Path) -> None:
    engine = _engine(store, None)
    result = engine.scan(LISTED, ScanContext(request_id="r", url="u"))
    assert (result.verdict, result.reason) == (Verdict.BLOCK, "match could not be recorded")


def test_replay_records_each_spooled_match_once_even_after_a_crash_before_the_delete(
    store: Store, tmp_path: Path, box: EvidenceBox
) -> None:
    engine, journal = _spooled_engine(store, tmp_path, box, Verdict.BLOCK)
    for n in range(3):
        engine.scan(LISTED, ScanContext(request_id=f"r{n}", customer_id="shop", url=f"https://s/{n}"))
    paths = journal.pending()
    assert len(paths) == 3
    store = Store(store.engine, ActionConfig(box))
    sink = journal_sink(store)
    # The process died after the first commit and before its file was deleted.
    first = journal.read(paths[0])
    match_id = sink(first)
    with pytest.raises(AlreadyRecorded) as seen:
        sink(first)
    assert seen.value.match_id == match_id
    assert journal.replay_once(sink) == 3
    assert journal.pending() == []
    with store.engine.connect() as conn:
        rows = conn.execute(select(models.Match.request_id, models.Match.journal_id)).all()
        evidence = conn.execute(select(models.Evidence.match_id, models.Evidence.ciphertext)).all()
        blocks = conn.scalar(select(func.count()).select_from(models.Block))
    assert sorted(r for r, _ in rows) == ["r0", "r1", "r2"]
    assert all(j for _, j in rows)
    assert blocks == 3
    # The evidence was kept through the outage, and seals under its match as usual.
    assert [box.open(m, c) for m, c in evidence if c is not None] == [LISTED] * 3
    [opened] = [m for m in store.matches() if m.request_id == "r0"]
    assert opened.url == "https://s/0"


def test_a_spooled_match_replays_with_what_its_scan_decided(
    store: Store, tmp_path: Path, box: EvidenceBox
) -> None:
    engine, journal = _spooled_engine(store, tmp_path, box, Verdict.BLOCK)
    for n in range(2):
        engine.scan(LISTED, ScanContext(request_id=f"r{n}", customer_id="shop", url=f"https://s/{n}"))
    # The list's policy changes while the matches wait; the scans decided "block, notify".
    store.set_policy("demo", {"notify": False, "report": "immediately"})
    # r1 as a journal of an earlier version wrote it, without the decision's actions: those come
    # from the lists' policies as they are when it is replayed.
    older = journal.pending()[1]
    data = json.loads(older.read_text())
    del data["actions"]
    older.write_text(json.dumps({**data, "v": 1}) + "\n")
    assert journal.replay_once(journal_sink(Store(store.engine, ActionConfig(box)))) == 2
    with store.engine.connect() as conn:
        ids = {
            request: match
            for request, match in conn.execute(select(models.Match.request_id, models.Match.id))
        }
        events = {
            (case, kind) for case, kind in conn.execute(select(models.Event.case_id, models.Event.kind))
        }
        reports = set(conn.scalars(select(models.Report.match_id)))
    assert events == {(ids["r0"], "match"), (ids["r1"], "report")}
    assert reports == {ids["r1"]}


def test_a_torn_record_is_set_aside_and_the_rest_replay(
    store: Store, tmp_path: Path, box: EvidenceBox
) -> None:
    engine, journal = _spooled_engine(store, tmp_path, box, Verdict.BLOCK)
    engine.scan(LISTED, ScanContext(request_id="before", customer_id="shop", url="https://s/1"))
    # A crash mid-write: a record cut off before its newline, between two good ones.
    (journal.directory / f"{1:020d}-00000000-0000-0000-0000-000000000000.json").write_text('{"v":1,"journ')
    engine.scan(LISTED, ScanContext(request_id="after", customer_id="shop", url="https://s/2"))
    assert journal.depth() == 3
    assert journal.replay_once(journal_sink(store)) == 2
    assert journal.depth() == 0
    assert len(list((journal.directory / "corrupt").iterdir())) == 1
    assert {m.request_id for m in store.matches()} == {"before", "after"}


def test_replay_stops_at_the_first_failure_and_keeps_the_files(tmp_path: Path, box: EvidenceBox) -> None:
    journal = Journal(tmp_path / "journal", box)
    journal.spool(ScanContext(request_id="a"), [], Decision(), b"x")
    journal.spool(ScanContext(request_id="b"), [], Decision(), b"y")
    seen: list[str] = []

    def down(record: JournalRecord) -> int:
        seen.append(record.context.request_id)
        raise RecordingFailed("still down")

    with pytest.raises(RecordingFailed):
        journal.replay_once(down)
    assert seen == ["a"]  # oldest first, and no hammering past the first failure
    assert journal.depth() == 2


def test_a_record_sealed_under_another_key_is_set_aside_not_retried_forever(tmp_path: Path) -> None:
    old = Journal(tmp_path / "journal", EvidenceBox(os.urandom(32)))
    old.spool(ScanContext(request_id="old-key"), [], Decision(), b"x")
    journal = Journal(tmp_path / "journal", EvidenceBox(os.urandom(32)))
    journal.spool(ScanContext(request_id="new-key"), [], Decision(), b"y")
    recorded: list[str] = []

    def sink(record: JournalRecord) -> int:
        recorded.append(record.context.request_id)
        return 1

    assert journal.replay_once(sink) == 1
    assert recorded == ["new-key"]
    assert len(list((journal.directory / "corrupt").iterdir())) == 1


def test_the_served_engine_spools_with_the_hash_log_on_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scanner.app import build_app
    from scanner.rescan.hashlog import HashLoggingEngine
    from scanner.settings import load_settings

    monkeypatch.setenv("HASHWATCH_HASH_LOG_CUSTOMERS", "*")
    app = build_app(load_settings(port=0, data_dir=tmp_path / "var", degraded_verdict="allow", threads=1))
    try:
        assert isinstance(app.engine, HashLoggingEngine)
        assert app.engine.journal is app.journal is not None
        assert app.engine.degraded_verdict is Verdict.ALLOW
    finally:
        app.server.drain(grace_seconds=0)
        app.store.engine.dispose()


def test_the_customers_of_spooled_matches_are_known_without_unsealing(tmp_path: Path) -> None:
    # No key to open the content with: the customer is read from the record's context alone.
    journal = Journal(tmp_path / "journal", EvidenceBox(os.urandom(32)))
    journal.spool(ScanContext(customer_id="host-a:spooled"), [], Decision(), LISTED)
    (journal.directory / f"{0:020d}-torn.json").write_text('{"context": {"customer_id": "host-a:torn"')
    reader = Journal(tmp_path / "journal")
    assert reader.holds_customer("host-a:spooled")
    assert not reader.holds_customer("host-a:torn") and not reader.holds_customer("host-a:other")
