"""Servers start from index snapshots and catch up from the database: the result must equal a
matcher loaded from the database, and a damaged snapshot must never be served."""

from __future__ import annotations

import json
import random
from pathlib import Path

from structlog.testing import capture_logs

from index.hashes import Algorithm, Hash
from index.manifest import MANIFEST_NAME, read_manifest
from index.matcher import Matcher
from reporting.lists.changes import ListAdmin
from reporting.lists.snapshots import build_snapshots, matcher_from_database, start_matcher, status
from reporting.store import NewEntry, Store

rng = random.Random(23)


def _pdq() -> Hash:
    return Hash(Algorithm.PDQ, rng.getrandbits(256).to_bytes(32, "big"))


def _md5() -> Hash:
    return Hash(Algorithm.MD5, rng.getrandbits(128).to_bytes(16, "big"))


def _near(value: Hash, bits: int) -> Hash:
    number = int.from_bytes(value.value, "big")
    for position in rng.sample(range(256), bits):
        number ^= 1 << position
    return Hash(Algorithm.PDQ, number.to_bytes(32, "big"))


def _results(matcher: Matcher, queries: list[Hash]) -> list[list[tuple[str, int, int]]]:
    return [[(h.list_name, h.entry_id, h.distance) for h in matcher.match([q])] for q in queries]


def _assert_same(matcher: Matcher, store: Store, queries: list[Hash]) -> None:
    oracle = Matcher(store.matcher_inputs())  # the slow path: one Hash per entry
    assert matcher.sizes() == oracle.sizes() == matcher_from_database(store.engine).sizes()
    assert _results(matcher, queries) == _results(oracle, queries)
    assert {c.list_id: c for c in matcher.configs().values()} == oracle_configs(store)


def oracle_configs(store: Store) -> dict[int, object]:
    return dict(matcher_from_database(store.engine).configs())


def test_snapshot_plus_catch_up_equals_a_database_load(store: Store, tmp_path: Path) -> None:
    base = [_pdq() for _ in range(300)]
    md5s = [_md5() for _ in range(20)]
    # Planted near-duplicates at every distance around the threshold, and exact hashes.
    queries = [_near(h, d) for h, d in zip(base, range(0, 40), strict=False)] + md5s[:5] + [_pdq()]
    store.import_entries("a", [NewEntry(h) for h in base[:200]] + [NewEntry(m) for m in md5s[:10]])
    store.import_entries("b", [NewEntry(h) for h in base[200:250]])
    store.import_entries("c", [NewEntry(h) for h in base[250:260]])
    directory = tmp_path / "index"
    manifest = build_snapshots(store.engine, directory)
    assert {item.config.name for item in manifest.lists} == {"a", "b", "c"}
    _assert_same(start_matcher(store.engine, directory), store, queries)

    # Changes after the snapshot: the server catches up on them.
    store.import_entries("a", [NewEntry(h) for h in base[260:300]] + [NewEntry(m) for m in md5s[10:]])
    admin = ListAdmin(store.engine)
    admin.set_entries("a", "removed", [], [base[0], base[1], md5s[0]])
    admin.set_entries("a", "disabled", [], [base[2]])
    store.ensure_list("b", thresholds={"pdq": 8})
    admin.set_enabled("c", False)
    store.import_entries("d", [NewEntry(h) for h in base[:5]])
    with capture_logs() as logs:
        matcher = start_matcher(store.engine, directory)
    assert any(e["event"] == "lists loaded from snapshots" for e in logs)
    _assert_same(matcher, store, queries)
    assert set(matcher.sizes()) == {"a", "b", "d"}

    rows = status(store.engine, directory)
    a_pdq = next(r for r in rows if r.list_name == "a" and r.algorithm is Algorithm.PDQ)
    assert a_pdq.entries == 200 and a_pdq.snapshot_version is not None
    assert a_pdq.database_version is not None and a_pdq.database_version > a_pdq.snapshot_version
    assert any(r.list_name == "d" and r.problem == "no snapshot" for r in rows)

    # A rebuilt snapshot is up to date, and the old generation's files are cleaned up later.
    build_snapshots(store.engine, directory)
    _assert_same(start_matcher(store.engine, directory), store, queries)
    build_snapshots(store.engine, directory)
    current = read_manifest(directory)
    assert current is not None
    named = {name for item in current.lists for name in item.files.values()}
    assert {p.name for p in directory.glob("*.snapshot")} == named


def test_a_damaged_snapshot_is_refused_and_its_list_served_from_the_database(
    store: Store, tmp_path: Path
) -> None:
    base = [_pdq() for _ in range(100)]
    queries = [_near(h, 3) for h in base]
    store.import_entries("a", [NewEntry(h) for h in base[:50]])
    store.import_entries("b", [NewEntry(h) for h in base[50:]])
    directory = tmp_path / "index"
    manifest = build_snapshots(store.engine, directory)
    [a] = [item for item in manifest.lists if item.config.name == "a"]
    [data] = directory.glob(f"{a.files[Algorithm.PDQ]}.*.data")
    data.write_bytes(data.read_bytes()[:-100])  # truncated
    with capture_logs() as logs:
        matcher = start_matcher(store.engine, directory)
    refused = [e for e in logs if e["event"].startswith("INDEX SNAPSHOT REFUSED")]
    assert [e["list"] for e in refused] == ["a"] and refused[0]["log_level"] == "error"
    _assert_same(matcher, store, queries)

    # Same size, one flipped byte: the checksum refuses it.
    build_snapshots(store.engine, directory)
    reread = read_manifest(directory)
    assert reread is not None
    [b] = [item for item in reread.lists if item.config.name == "b"]
    [data] = directory.glob(f"{b.files[Algorithm.PDQ]}.*.data")
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with capture_logs() as logs:
        matcher = start_matcher(store.engine, directory)
    assert [e["list"] for e in logs if e["event"].startswith("INDEX SNAPSHOT REFUSED")] == ["b"]
    _assert_same(matcher, store, queries)

    # A broken manifest: everything from the database.
    (directory / MANIFEST_NAME).write_text(json.dumps({"format": "hashwatch-index-manifest"}))
    with capture_logs() as logs:
        matcher = start_matcher(store.engine, directory)
    assert any(e["event"].startswith("INDEX MANIFEST REFUSED") for e in logs)
    _assert_same(matcher, store, queries)
