"""RescanStore on both databases: a rescan match is recorded once, atomically with its marker."""

from __future__ import annotations

from sqlalchemy import func, select

from index.hashes import Hash
from index.matcher import Matcher
from reporting import models
from reporting.matches.rescans import RescanStore
from reporting.store import NewEntry, Store
from scanner.recording import ScanContext
from tests.decisions import as_decided

A = Hash.from_hex("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22", quality=90)


def _matches(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(models.Match)) or 0)


def test_the_same_customer_url_and_content_is_recorded_once(store: Store) -> None:
    store.import_entries("csam", [NewEntry(A, "e1")])
    hits = as_decided(store, Matcher(store.matcher_inputs()).match([A]))
    rescans = RescanStore(store)
    context = ScanContext("r1", "shop", "https://shop.example/a.jpg", source="rescan")
    first = rescans.record_once(context, "ab" * 32, [A], hits, b"bytes")
    assert first is not None
    assert rescans.record_once(context, "ab" * 32, [A], hits, b"bytes") is None
    assert rescans.record_once(context, "cd" * 32, [A], hits, b"other bytes") is not None
    other_customer = ScanContext("r2", "shop-2", "https://shop.example/a.jpg", source="rescan")
    assert rescans.record_once(other_customer, "ab" * 32, [A], hits, b"bytes") is not None
    assert _matches(store) == 3
    [view] = [m for m in store.matches() if m.id == first]
    assert view.url == "https://shop.example/a.jpg"
    with store.engine.connect() as conn:
        assert conn.scalar(select(models.Match.source).where(models.Match.id == first)) == "rescan"


def test_a_racing_second_recorder_rolls_back_its_whole_match(store: Store) -> None:
    store.import_entries("csam", [NewEntry(A, "e1")])
    hits = as_decided(store, Matcher(store.matcher_inputs()).match([A]))
    one, two = RescanStore(store), RescanStore(store)
    context = ScanContext("r1", "shop", "https://shop.example/a.jpg", source="rescan")
    assert one.record_once(context, "ab" * 32, [A], hits, b"bytes") is not None
    # The other run checked before the first committed: only the unique key stops it now.
    answers = [False]
    real_check = two.already_recorded

    def stale_then_real(customer_id: str, url: str, content_sha256: str) -> bool:
        return answers.pop() if answers else real_check(customer_id, url, content_sha256)

    two.already_recorded = stale_then_real  # type: ignore[method-assign]
    assert two.record_once(context, "ab" * 32, [A], hits, b"bytes") is None
    assert answers == [], "the stale check was used"
    assert _matches(store) == 1, "the refused marker took its match, block and events with it"
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(models.Event)) == 1


def test_scans_recorded_by_the_service_say_so(store: Store) -> None:
    store.import_entries("csam", [NewEntry(A)])
    hits = as_decided(store, Matcher(store.matcher_inputs()).match([A]))
    match_id = store.record_match(ScanContext("r", "shop", "https://x/1"), [A], hits)
    with store.engine.connect() as conn:
        assert conn.scalar(select(models.Match.source).where(models.Match.id == match_id)) == "scan"
