from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from index.hashes import Algorithm, Hash
from index.matcher import Matcher
from reporting.models import Base
from reporting.store import NewEntry, Store
from scanner.recording import ScanContext
from tests.decisions import as_decided

A = Hash.from_hex("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
B = Hash.from_hex("pdq", "0" * 64)
M = Hash.from_hex("md5", "511130d2072cc744a1fa5015bc23557a")


def test_migrations_from_empty_match_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_import_is_idempotent_and_collapses_duplicates(store: Store) -> None:
    first = store.import_entries("csam", [NewEntry(A, "x1"), NewEntry(B), NewEntry(A, "again"), NewEntry(M)])
    assert (first.added, first.duplicates) == (3, 1)
    second = store.import_entries("csam", [NewEntry(A), NewEntry(B), NewEntry(M)])
    assert (second.added, second.duplicates) == (0, 3)
    [info] = store.lists()
    assert info.name == "csam"
    assert info.entries == {"pdq": 2, "md5": 1}


def test_the_same_hash_may_sit_in_two_lists(store: Store) -> None:
    store.import_entries("one", [NewEntry(A)])
    store.import_entries("two", [NewEntry(A)])
    assert [(i.name, i.entries) for i in store.lists()] == [("one", {"pdq": 1}), ("two", {"pdq": 1})]


def test_thresholds_are_validated_and_reach_the_matcher(store: Store) -> None:
    store.ensure_list("strict", thresholds={"pdq": 12})
    store.import_entries("strict", [NewEntry(A)])
    [(config, entries)] = store.matcher_inputs()
    assert config.threshold(Algorithm.PDQ) == 12
    assert [e[1] for e in entries] == [A]
    try:
        store.ensure_list("strict", thresholds={"pdq": 300})
    except ValueError as exc:
        assert "between 0 and 256" in str(exc)
    else:
        raise AssertionError("a threshold beyond 256 bits was accepted")


def test_a_recorded_match_reads_back_with_its_hits(store: Store) -> None:
    store.import_entries("csam", [NewEntry(A, "ncmec-9"), NewEntry(M)])
    hits = Matcher(store.matcher_inputs()).match([A, M])
    context = ScanContext("req-1", "cust-1", "https://site.example/a.jpg", "203.0.113.9", "image/jpeg")
    match_id = store.record_match(
        context, [Hash(A.algorithm, A.value, quality=93), M], as_decided(store, hits)
    )

    [view] = store.matches()
    assert view.id == match_id
    assert (view.request_id, view.customer_id, view.url, view.client_ip) == (
        "req-1",
        "cust-1",
        "https://site.example/a.jpg",
        "203.0.113.9",
    )
    assert view.hashes == {"pdq": A.hex, "pdq_quality": 93, "md5": M.hex}
    assert view.created_at.tzinfo is not None
    assert sorted((h.list, h.algorithm, h.distance, h.external_id) for h in view.hits) == [
        ("csam", "md5", 0, ""),
        ("csam", "pdq", 0, "ncmec-9"),
    ]
    assert store.matches(customer_id="someone-else") == []
