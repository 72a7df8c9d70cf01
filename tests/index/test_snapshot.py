"""Snapshots: round trips, the sidecar, atomic replacement, and refusal of anything damaged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index import snapshot
from index.exact import ExactIndex
from index.factory import build_index, load_index, new_index, warm_up
from index.hamming import HammingIndex
from index.hashes import Algorithm
from index.snapshot import SnapshotError
from index.synthetic import brute_force, flip, uniform
from tests.index.faiss_oracle import faiss_range


def _index(tmp_path: Path) -> tuple[HammingIndex, np.ndarray, np.ndarray, Path]:
    codes = uniform(6_000, 256, 0)
    ids = np.arange(len(codes), dtype=np.int64) + 100
    index = build_index(Algorithm.PDQ, ids, codes, flat_below=1_000, delta_limit=500)
    index.add(np.array([1, 2], dtype=np.int64), uniform(2, 256, 1))
    index.remove(np.array([100, 101], dtype=np.int64))
    return index, ids, codes, tmp_path / "pdq.snapshot"


@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip_keeps_everything(tmp_path: Path, mmap: bool) -> None:
    index, ids, codes, path = _index(tmp_path)
    sidecar = index.save(path, source_version="db-42")
    assert sidecar["format_version"] == snapshot.FORMAT_VERSION
    assert (sidecar["algorithm"], sidecar["bits"], sidecar["count"]) == ("pdq", 256, 6_000)
    assert sidecar["source_version"] == "db-42"
    assert sidecar["checksum"].startswith("sha256:")
    assert json.loads(path.read_text())["created_at"].endswith("Z")

    loaded = load_index(path, algorithm=Algorithm.PDQ, mmap=mmap)
    assert type(loaded) is HammingIndex
    assert loaded.stats() == index.stats()
    queries = np.concatenate([flip(codes[:40], np.arange(40, dtype=np.int64), seed=3), uniform(2, 256, 1)])
    assert loaded.search(queries, 31) == index.search(queries, 31)
    # What _index left: its rows but the two removed, and the two added.
    live_ids = np.concatenate([ids[2:], np.array([1, 2], dtype=np.int64)])
    live_codes = np.concatenate([codes[2:], uniform(2, 256, 1)])
    assert loaded.search(queries, 31) == faiss_range(live_ids, live_codes, queries, 31)
    # A loaded index takes updates like any other (its arrays are read-only maps).
    loaded.add(np.array([100], dtype=np.int64), codes[:1])
    assert loaded.search(codes[:1], 0) == [[(100, 0)]]
    loaded.compact(full=True)
    assert len(loaded) == 6_001


def test_saving_again_replaces_atomically_and_keeps_one_previous_data_file(tmp_path: Path) -> None:
    index, _, _, path = _index(tmp_path)
    names = []
    for k in range(4):
        index.add(np.array([10**6 + k], dtype=np.int64), uniform(1, 256, 10 + k))
        names.append(index.save(path)["data_file"])
    data_files = sorted(p.name for p in tmp_path.glob("*.data"))
    assert data_files == sorted(names[-2:])
    assert not list(tmp_path.glob(".*tmp"))
    assert len(load_index(path)) == 6_004


def _corrupt_byte(path: Path) -> None:
    data = path.parent / json.loads(path.read_text())["data_file"]
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))


def _truncate(path: Path) -> None:
    data = path.parent / json.loads(path.read_text())["data_file"]
    data.write_bytes(data.read_bytes()[:-100])


def _drop_data(path: Path) -> None:
    (path.parent / json.loads(path.read_text())["data_file"]).unlink()


def _garble_sidecar(path: Path) -> None:
    path.write_text(path.read_text()[:50])


def _future_version(path: Path) -> None:
    sidecar = json.loads(path.read_text())
    sidecar["format_version"] = 99
    path.write_text(json.dumps(sidecar))


def _wrong_count(path: Path) -> None:
    sidecar = json.loads(path.read_text())
    sidecar["count"] += 1
    path.write_text(json.dumps(sidecar))


def _no_segments(path: Path) -> None:
    sidecar = json.loads(path.read_text())
    sidecar["segments"] = []
    path.write_text(json.dumps(sidecar))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_corrupt_byte, "checksum"),
        (_truncate, "bytes"),
        (_drop_data, "missing"),
        (_garble_sidecar, "JSON"),
        (_future_version, "format version"),
        (_wrong_count, "count"),
        (_no_segments, "no segments"),
    ],
)
def test_a_damaged_snapshot_is_refused(tmp_path: Path, damage: object, message: str) -> None:
    index, _, _, path = _index(tmp_path)
    index.save(path)
    damage(path)  # type: ignore[operator]
    with pytest.raises(SnapshotError, match=message):
        load_index(path)
    # The caller's index is untouched and still answers.
    assert len(index) == 6_000


def test_a_snapshot_of_another_algorithm_or_kind_is_refused(tmp_path: Path) -> None:
    index, _, _, path = _index(tmp_path)
    index.save(path)
    with pytest.raises(SnapshotError, match="phash"):
        load_index(path, algorithm=Algorithm.PHASH)
    with pytest.raises(SnapshotError, match="exact"):
        ExactIndex.load(path)
    with pytest.raises(SnapshotError, match="cannot read"):
        load_index(tmp_path / "absent")
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    with pytest.raises(SnapshotError, match="not a hashwatch"):
        load_index(tmp_path / "other.json")


def test_empty_indexes_round_trip(tmp_path: Path) -> None:
    for algorithm in (Algorithm.PDQ, Algorithm.PHASH, Algorithm.SHA1):
        path = tmp_path / f"{algorithm}.snapshot"
        new_index(algorithm).save(path)
        loaded = load_index(path, algorithm=algorithm)
        assert len(loaded) == 0
        assert loaded.search(np.zeros((1, algorithm.bits // 8), np.uint8), 10) == [[]]


def test_unverified_load_still_checks_the_size(tmp_path: Path) -> None:
    index, ids, codes, path = _index(tmp_path)
    index.save(path)
    _corrupt_byte(path)
    loaded = load_index(path, verify=False)  # a corrupt byte goes unnoticed without the checksum
    assert len(loaded) == 6_000
    _truncate(path)
    with pytest.raises(SnapshotError, match="bytes"):
        load_index(path, verify=False)
    del ids, codes


def test_phash_snapshot_matches_brute_force(tmp_path: Path) -> None:
    codes = uniform(40_000, 64, 5)
    ids = np.arange(len(codes), dtype=np.int64)
    build_index(Algorithm.PHASH, ids, codes).save(tmp_path / "phash.snapshot")
    loaded = load_index(tmp_path / "phash.snapshot", algorithm=Algorithm.PHASH)
    queries = flip(codes[:16], np.arange(16, dtype=np.int64), seed=1)
    got = loaded.search(queries, 10)
    assert got == brute_force(ids, codes, queries, 10)
    assert got == faiss_range(ids, codes, queries, 10)


def test_warm_up_runs() -> None:
    warm_up()
