"""A list's matching policy and flood holds in the database, and every way a server learns them."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from index.hashes import Algorithm, Hash
from index.matcher import Combine, ListConfig, ListKind, Matcher, MatchHit, Query
from reporting import models
from reporting.lists.changes import apply_changes, changes_since
from reporting.lists.matching import MatchingAdmin
from reporting.lists.snapshots import build_snapshots, start_matcher
from reporting.matches.rescans import RescanStore
from reporting.store import NewEntry, Store
from scanner.recording import ScanContext
from tests.decisions import as_decided

rng = random.Random(8)


def _pdq(quality: int | None = None) -> Hash:
    return Hash(Algorithm.PDQ, rng.getrandbits(256).to_bytes(32, "big"), quality)


def test_matching_policy_is_checked_stored_and_followed(store: Store) -> None:
    store.import_entries("known", [NewEntry(_pdq())])
    admin = MatchingAdmin(store.engine)
    held = {c.list_id: c for c in _configs(store, {})}
    with pytest.raises(ValueError, match="above the threshold"):
        admin.set_matching("known", review={"pdq": 31})
    with pytest.raises(ValueError):
        admin.set_matching("known", combine="most")
    with pytest.raises(LookupError):
        admin.set_matching("missing", kind="negative")
    policy = admin.set_matching("known", review={"pdq": 40}, combine="at_least_two")
    assert (policy.review, policy.combine, policy.kind) == ({"pdq": 40}, "at_least_two", "match")
    [config] = _configs(store, held)
    assert config.review == {Algorithm.PDQ: 40} and config.combine is Combine.AT_LEAST_TWO
    assert config.reach(Algorithm.PDQ) == 40
    admin.set_matching("known", review={"pdq": 0}, kind="negative")
    [config] = _configs(store, {config.list_id: config})
    assert config.review == {} and config.kind is ListKind.NEGATIVE
    [info] = store.lists()
    assert (info.kind, info.review, info.combine) == ("negative", {}, "at_least_two")


def _configs(store: Store, known: dict[int, ListConfig]) -> list[ListConfig]:
    return [delta.config for delta in changes_since(store.engine, known).deltas]


def test_a_server_started_from_snapshots_gets_the_policy_the_manifest_does_not_keep(
    store: Store, tmp_path: Path
) -> None:
    store.import_entries("benign", [NewEntry(_pdq())])
    MatchingAdmin(store.engine).set_matching("benign", kind="negative", review={"pdq": 36})
    build_snapshots(store.engine, tmp_path)
    [config] = start_matcher(store.engine, tmp_path).configs().values()
    assert config.kind is ListKind.NEGATIVE and config.review == {Algorithm.PDQ: 36}


def test_low_quality_entries_are_flagged_and_counted(store: Store) -> None:
    result = store.import_entries("mixed", [NewEntry(_pdq(20)), NewEntry(_pdq(80)), NewEntry(_pdq())])
    assert (result.added, result.low_quality) == (3, 1)
    again = store.import_entries("mixed", [NewEntry(_pdq(10))])
    assert again.low_quality == 1
    [info] = store.lists()
    assert info.low_quality == 2


def test_a_held_hit_stores_one_hold_that_servers_follow_until_released(store: Store) -> None:
    store.import_entries("known", [NewEntry(_pdq())])
    matcher_configs = {c.list_id: c for c in _configs(store, {})}
    [(list_id, config)] = matcher_configs.items()
    [entry_id] = [e for e, _ in store.matcher_inputs()[0][1]]
    hit = MatchHit(list_id, "known", entry_id, Algorithm.PDQ, 3, 31, _pdq(), "", "review_held")
    first = store.record_match(ScanContext(url="https://x.example/1"), [], as_decided(store, [hit]))
    store.record_match(ScanContext(url="https://x.example/2"), [], as_decided(store, [hit]))
    [view] = [m for m in store.matches() if m.id == first]
    assert view.verdict == "review" and view.hits[0].action == "review_held"
    assert [s.state for s in store.block_status("", ["https://x.example/1"])] == ["none"]
    admin = MatchingAdmin(store.engine)
    [hold] = admin.holds()
    assert (hold.entry_id, hold.match_id, hold.state) == (entry_id, first, "held")
    [config] = _configs(store, matcher_configs)
    assert config.held == {entry_id}
    admin.release(entry_id, actor="ops")
    [config] = _configs(store, {list_id: config})
    assert config.held == frozenset()
    assert admin.holds() == [] and admin.holds(None)[0].released_by == "ops"
    with pytest.raises(LookupError, match="not held"):
        admin.release(entry_id)


def test_stored_rescans_do_not_match_negative_lists(store: Store) -> None:
    store.import_entries("benign", [NewEntry(_pdq())])
    store.import_entries("known", [NewEntry(_pdq())])
    MatchingAdmin(store.engine).set_matching("benign", kind="negative")
    inputs = RescanStore(store).entries_added_since(models.utcnow() - timedelta(days=1))
    kinds = {config.name: config.kind for config, _ in inputs}
    assert kinds == {"benign": ListKind.NEGATIVE, "known": ListKind.MATCH}
    matcher = Matcher(inputs)
    benign_value = next(h for config, entries in inputs if config.name == "benign" for _, h in entries)
    assert matcher.match([benign_value]) == []
    assert [h.list_name for h in matcher.search([Query(benign_value)])] == ["benign"]
    apply_changes(matcher, changes_since(store.engine, matcher.configs()))
