"""Retroactive matching: the hash log written off the scan path, re-matched when lists grow."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from index.hashes import Algorithm, Hash
from index.matcher import Matcher
from reporting import models
from reporting.lists.changes import ListAdmin
from reporting.lists.matching import MatchingAdmin
from reporting.matches.evidence import EvidenceBox
from reporting.matches.rescans import RescanStore
from reporting.store import ActionConfig, NewEntry, Store
from scanner.customer_policy import CustomerPolicies, CustomerPolicy, PolicyChanges
from scanner.engine import MatcherHolder, ScanEngine
from scanner.pipeline import HashingConfig, hash_content
from scanner.recording import InMemoryRecorder, ScanContext
from scanner.rescan.hashlog import HashLogBuffer, HashLogFlusher, HashLoggingEngine, HashLogPolicy
from scanner.rescan.runner import run_stored
from scanner.rescan.service import RetroMatcher
from tests.scanner.rescan.rescan_images import import_demo_list, make_images


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = make_images(tmp_path_factory.mktemp("stored") / "images", per_listed=8, per_unrelated=3)
    return sorted(p for p in root.rglob("*") if p.is_file())


def _count(store: Store, model: type[models.Base]) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def test_logged_hashes_are_matched_against_entries_added_later(
    store: Store, images: list[Path], tmp_path: Path
) -> None:
    # Evidence is kept, so that a match without content visibly has none.
    store = Store(store.engine, ActionConfig(EvidenceBox.from_setting("", tmp_path)))
    rescans = RescanStore(store)
    buffer = HashLogBuffer(HashLogPolicy.parse("shop-1, shop-2", days=30))
    service = HashLoggingEngine(ScanEngine(HashingConfig(), MatcherHolder(), store), buffer)
    for n, path in enumerate(images):
        content = path.read_bytes()
        service.scan(content, ScanContext(customer_id="shop-1", url=f"https://one.example/{n}"))
        service.scan(content, ScanContext(customer_id="other", url=f"https://other.example/{n}"))
    # The empty file has no hashes; the text and the truncated image have their MD5 and SHA-1.
    scannable = len(images) - 1
    assert len(buffer) == scannable, "only opted-in customers, only content that has hashes"
    retro = RetroMatcher(rescans, every_seconds=0)
    assert HashLogFlusher(buffer, rescans).flush() == scannable
    assert rescans.hash_log_size("shop-1") == scannable and rescans.hash_log_size() == scannable
    assert _count(store, models.Match) == 0, "nothing was listed when these were scanned"

    since = datetime.now(UTC)
    import_demo_list(store)
    expected = set()
    today = ScanEngine(HashingConfig(), MatcherHolder(Matcher(store.matcher_inputs())), InMemoryRecorder())
    for n, path in enumerate(images):
        if today.scan(path.read_bytes(), ScanContext()).hits:
            expected.add(f"https://one.example/{n}")
    assert len(expected) >= 20
    # Once the service has the new entries, it matches (and records) what it scans itself:
    # such a scan is logged as matched, and not matched again from the log.
    listed = next(p for n, p in enumerate(images) if f"https://one.example/{n}" in expected)
    service.matchers.swap(Matcher(store.matcher_inputs()))
    assert service.scan(
        listed.read_bytes(), ScanContext(customer_id="shop-1", url="https://one.example/late")
    ).hits
    assert HashLogFlusher(buffer, rescans).flush() == 1

    first = run_stored(rescans, rescans, since)
    assert (first.files, first.matched, first.recorded) == (scannable, len(expected), len(expected))
    with store.engine.connect() as conn:
        found = dict(conn.execute(select(models.Match.url, models.Match.source)).all())
    assert found == {**dict.fromkeys(expected, "stored"), "https://one.example/late": "scan"}
    with store.engine.connect() as conn:
        evidence = set(conn.scalars(select(models.Evidence.match_id)))
    assert len(evidence) == 1, "the stored matches have no content to keep; the service's has"
    assert _count(store, models.Block) == len(expected) + 1

    again = run_stored(rescans, rescans, since)
    assert (again.recorded, again.already_recorded) == (0, len(expected))
    later = run_stored(rescans, rescans, datetime.now(UTC) + timedelta(seconds=1))
    assert later.files == 0, "no entries were added since then"
    retro.tick()  # the service's automatic run: finds the new entries, records nothing new
    assert retro.watermark is not None
    assert _count(store, models.Match) == len(expected) + 1

    assert rescans.purge_hash_log(datetime.now(UTC) + timedelta(days=1)) == scannable + 1
    assert rescans.hash_log_size() == 0


def _logged_scan(store: Store, content: bytes) -> RescanStore:
    """``content`` scanned for an opted-in customer while no list held it, its hashes logged."""
    rescans = RescanStore(store)
    buffer = HashLogBuffer(HashLogPolicy.parse("shop-1", days=30))
    service = HashLoggingEngine(ScanEngine(HashingConfig(), MatcherHolder(), store), buffer)
    assert not service.scan(content, ScanContext(customer_id="shop-1", url="https://one.example/x")).hits
    assert HashLogFlusher(buffer, rescans).flush() == 1
    return rescans


def _photo(images: list[Path]) -> bytes:
    """The first image whose PDQ hash can be trusted (the set holds unscannable files too)."""
    for path in images:
        pdq = hash_content(content := path.read_bytes()).get(Algorithm.PDQ)
        if pdq is not None and pdq.trustworthy:
            return content
    raise AssertionError("no photograph among the images")


def _flipped(value: Hash, bits: int) -> Hash:
    number = int.from_bytes(value.value, "big") ^ ((1 << bits) - 1)
    return Hash(value.algorithm, number.to_bytes(len(value.value), "big"))


def test_a_stored_rematch_is_decided_by_the_lists_policy_negative_lists_whatever_their_age(
    store: Store, images: list[Path]
) -> None:
    content = _photo(images)
    rescans = _logged_scan(store, content)
    outcome = hash_content(content)
    pdq, phash = outcome.get(Algorithm.PDQ), outcome.get(Algorithm.PHASH)
    assert pdq is not None and phash is not None and pdq.trustworthy
    # Known benign long before the run's window: it still suppresses.
    store.import_entries("benign", [NewEntry(pdq)])
    MatchingAdmin(store.engine).set_matching("benign", kind="negative")
    time.sleep(0.01)
    since = datetime.now(UTC)
    store.import_entries("known", [NewEntry(pdq), NewEntry(phash)])
    suppressed = run_stored(rescans, rescans, since)
    assert (suppressed.files, suppressed.matched, suppressed.recorded) == (1, 0, 0)
    assert _count(store, models.Match) == 0 and _count(store, models.Block) == 0

    # Without the negative list the same run records and blocks, as a scan would.
    ListAdmin(store.engine).set_enabled("benign", False)
    recorded = run_stored(rescans, rescans, since)
    assert (recorded.matched, recorded.recorded) == (1, 1)
    assert _count(store, models.Block) == 1


def test_a_stored_rematch_in_a_review_band_is_queued_not_blocked(store: Store, images: list[Path]) -> None:
    content = _photo(images)
    rescans = _logged_scan(store, content)
    pdq = hash_content(content).get(Algorithm.PDQ)
    assert pdq is not None
    since = datetime.now(UTC)
    store.import_entries("near", [NewEntry(_flipped(pdq, 35))])
    MatchingAdmin(store.engine).set_matching("near", review={"pdq": 40})
    summary = run_stored(rescans, rescans, since)
    assert (summary.matched, summary.recorded) == (1, 1)
    with store.engine.connect() as conn:
        assert list(conn.scalars(select(models.Match.verdict))) == ["review"]
    assert _count(store, models.Block) == 0


def test_a_stored_rematch_keeps_the_customers_tightened_threshold(store: Store, images: list[Path]) -> None:
    content = _photo(images)
    rescans = _logged_scan(store, content)
    pdq = hash_content(content).get(Algorithm.PDQ)
    assert pdq is not None
    since = datetime.now(UTC)
    store.import_entries("known", [NewEntry(_flipped(pdq, 10))])
    customers = CustomerPolicies()
    customers.apply(PolicyChanges(1, (CustomerPolicy("shop-1", None, {Algorithm.PDQ: 4}),), ()))
    summary = run_stored(rescans, rescans, since, customers=customers)
    assert (summary.matched, summary.recorded) == (1, 1)
    with store.engine.connect() as conn:
        assert list(conn.scalars(select(models.Match.verdict))) == ["review"], (
            "10 bits: past the customer's 4"
        )
    assert _count(store, models.Block) == 0
    # A customer that is no longer enabled, with unknown customers refused: nothing recorded.
    refused = CustomerPolicies("reject")
    assert run_stored(rescans, rescans, since, customers=refused).matched == 0
