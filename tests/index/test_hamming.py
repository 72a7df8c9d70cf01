"""HammingIndex against two oracles, our brute force and FAISS's exhaustive search: planted
near-duplicates at every distance up to and past the threshold, uniform and clustered data, every
structure; updates; concurrency."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.hamming import HammingIndex, Structure, pack
from index.synthetic import Clustered, brute_force, flip, uniform
from tests.index.faiss_oracle import faiss_range

STRUCTURES: list[Structure] = ["flat", "mih", "auto"]


def _planted(codes: np.ndarray, max_distance: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One query per distance 0..max_distance, each that far from a different row."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(codes), max_distance + 1, replace=False)
    distances = np.arange(max_distance + 1, dtype=np.int64)
    return flip(codes[rows], distances, seed=seed), rows


def _data(kind: str, n: int, bits: int, seed: int) -> np.ndarray:
    if kind == "uniform":
        return uniform(n, bits, seed)
    return Clustered(bits, seed=seed, spread=bits // 10).families(n)


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("kind", ["uniform", "clustered"])
@pytest.mark.parametrize(("bits", "threshold"), [(256, 31), (256, 40), (256, 0), (64, 10), (64, 0)])
def test_planted_near_duplicates_match_brute_force(
    structure: Structure, kind: str, bits: int, threshold: int
) -> None:
    codes = _data(kind, 20_000, bits, seed=bits + threshold)
    ids = np.random.default_rng(1).permutation(10 * len(codes))[: len(codes)].astype(np.int64)
    index = HammingIndex.build(bits, ids, codes, structure=structure, flat_below=5_000)
    queries, rows = _planted(codes, threshold + 8, seed=threshold)
    got = index.search(queries, threshold)
    assert got == brute_force(ids, codes, queries, threshold)
    assert got == faiss_range(ids, codes, queries, threshold)
    for d, row in enumerate(rows):
        # Recall at every distance up to the threshold, nothing past it.
        assert (int(ids[row]), d) in got[d] if d <= threshold else all(i != ids[row] for i, _ in got[d])


@pytest.mark.parametrize("threshold", [0, 1, 5, 15, 31, 47, 64, 100])
def test_any_threshold_is_exact(threshold: int) -> None:
    codes = Clustered(256, seed=3).families(8_000)
    ids = np.arange(len(codes), dtype=np.int64)
    index = HammingIndex.build(256, ids, codes, structure="mih")
    queries = flip(codes[:12], np.arange(12, dtype=np.int64) * 6, seed=2)
    got = index.search(queries, threshold)
    assert got == brute_force(ids, codes, queries, threshold)
    assert got == faiss_range(ids, codes, queries, threshold)


def test_contract_of_the_original_flat_index() -> None:
    index = HammingIndex(256)
    assert len(index) == 0
    assert index.search(np.zeros((2, 32), np.uint8), 31) == [[], []]
    codes = uniform(3, 256, 0)
    index.add(np.array([30, 10, 20], dtype=np.int64), codes)
    assert len(index) == 3
    hits = index.search(codes[1:2], 256)[0]
    assert hits[0] == (10, 0)
    assert [d for _, d in hits] == sorted(d for _, d in hits)
    assert index.search(codes[:1], -1) == [[]]
    assert index.remove(np.array([10, 99], dtype=np.int64)) == 1
    assert len(index) == 2
    with pytest.raises(ValueError, match="shape"):
        index.search(np.zeros((1, 8), np.uint8), 3)
    with pytest.raises(ValueError, match="ids for"):
        index.add(np.array([1], dtype=np.int64), codes)
    with pytest.raises(ValueError, match="unique"):
        index.add(np.array([1, 1], dtype=np.int64), codes[:2])
    with pytest.raises(ValueError, match="multiple of 8"):
        HammingIndex(12)


def test_pack_round_trips_hash_bytes() -> None:
    values = [bytes(range(32)), bytes(range(32, 64))]
    assert pack(values, 256).tobytes() == b"".join(values)
    assert pack([], 64).shape == (0, 8)


def test_ties_are_sorted_by_id() -> None:
    code = uniform(1, 64, 0)
    index = HammingIndex(64)
    index.add(np.array([5, 3, 4], dtype=np.int64), np.repeat(code, 3, axis=0))
    assert index.search(code, 0) == [[(3, 0), (4, 0), (5, 0)]]


def test_updates_reach_searches_without_rebuilding_the_base() -> None:
    codes = uniform(30_000, 256, 4)
    ids = np.arange(len(codes), dtype=np.int64)
    index = HammingIndex.build(256, ids, codes, flat_below=1_000, delta_limit=500)
    base = index.stats().segments
    assert base == (("mih", 30_000, 0),)
    new = uniform(1_200, 256, 5)
    new_ids = np.arange(10**6, 10**6 + len(new), dtype=np.int64)
    index.add(new_ids[:600], new[:600])
    index.add(new_ids[600:], new[600:])
    # The delta froze into small segments of its own; the base is untouched.
    stats = index.stats()
    assert stats.segments[0] == base[0]
    assert stats.count == 31_200
    assert index.search(new[-3:], 0) == [[(int(i), 0)] for i in new_ids[-3:]]
    # Replacing a code moves the id; removing from the base tombstones it.
    index.add(np.array([7], dtype=np.int64), new[:1])
    assert index.search(codes[7:8], 0) == [[]]
    assert (7, 0) in index.search(new[:1], 0)[0]
    assert index.remove(np.array([8, 10**6 + 5, 424242], dtype=np.int64)) == 2
    assert index.remove(np.array([8], dtype=np.int64)) == 0
    assert index.search(codes[8:9], 0) == [[]]
    assert len(index) == 31_198

    all_ids = np.concatenate([ids, new_ids])
    all_codes = np.concatenate([codes, new])
    all_codes[7] = new[0]
    live = ~np.isin(all_ids, [8, 10**6 + 5])
    queries = flip(all_codes[::1_000], np.full(32, 20, dtype=np.int64), seed=6)
    expected = brute_force(all_ids[live], all_codes[live], queries, 31)
    assert expected == faiss_range(all_ids[live], all_codes[live], queries, 31)
    assert index.search(queries, 31) == expected
    assert index.needs_compaction()
    assert index.compact()
    assert index.search(queries, 31) == expected
    assert index.compact(full=True)
    assert index.stats().segments == (("mih", 31_198, 0),)
    assert index.search(queries, 31) == expected
    assert not index.compact(full=True)


def test_compaction_keeps_changes_made_while_it_builds() -> None:
    codes = uniform(4_000, 64, 7)
    ids = np.arange(len(codes), dtype=np.int64)
    index = HammingIndex.build(64, ids, codes, flat_below=100, delta_limit=1_000)
    index.add(ids[:1_500] + 10_000, uniform(1_500, 64, 8))
    real_build = index._build_segment

    def build_and_interfere(*args: object) -> object:
        # A writer gets in while the merged segment is being built.
        segment = real_build(*args)  # type: ignore[arg-type]
        if len(segment) > 1_000:
            index.remove(np.array([0, 10_001], dtype=np.int64))
            index.add(np.array([1], dtype=np.int64), codes[2:3])
        return segment

    index._build_segment = build_and_interfere  # type: ignore[assignment, method-assign]
    assert index.compact(full=True)
    assert index.search(codes[0:1], 0) == [[]]
    assert index.search(codes[1:2], 0) == [[]]
    assert sorted(index.search(codes[2:3], 0)[0]) == [(1, 0), (2, 0)]
    assert len(index) == 5_500 - 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "compact"]),
            st.lists(st.integers(0, 40), min_size=1, max_size=12, unique=True),
            st.integers(0, 2**31),
        ),
        max_size=12,
    ),
    st.integers(0, 64),
    st.sampled_from(STRUCTURES),
)
def test_random_updates_agree_with_a_dict(
    ops: list[tuple[str, list[int], int]], threshold: int, structure: Structure
) -> None:
    index = HammingIndex(64, structure=structure, flat_below=8, delta_limit=6)
    model: dict[int, bytes] = {}
    for op, keys, seed in ops:
        ids = np.array(keys, dtype=np.int64)
        if op == "add":
            # Few distinct bit patterns so that near and exact duplicates are common.
            base = uniform(1, 64, seed % 3)
            codes = flip(np.repeat(base, len(keys), axis=0), np.arange(len(keys)) % 12, seed=seed)
            index.add(ids, codes)
            model.update(zip(keys, (bytes(c) for c in codes), strict=True))
        elif op == "remove":
            assert index.remove(ids) == sum(1 for k in keys if model.pop(k, None) is not None)
        else:
            index.compact(full=seed % 2 == 0)
        assert len(index) == len(model)
    model_ids = np.array(sorted(model), dtype=np.int64)
    model_codes = pack([model[k] for k in sorted(model)], 64)
    queries = np.concatenate([model_codes[:5], uniform(2, 64, threshold)])
    got = index.search(queries, threshold)
    assert got == brute_force(model_ids, model_codes, queries, threshold)
    assert got == faiss_range(model_ids, model_codes, queries, threshold)


def test_searches_run_while_a_writer_adds_and_removes() -> None:
    codes = uniform(20_000, 256, 9)
    ids = np.arange(len(codes), dtype=np.int64)
    index = HammingIndex.build(256, ids, codes, flat_below=1_000, delta_limit=700)
    extra = uniform(3_000, 256, 10)
    extra_ids = np.arange(10**6, 10**6 + len(extra), dtype=np.int64)
    stable = codes[:50]
    expected = [[(i, 0)] for i in range(50)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                # Rows 0..49 never change, so every search must find exactly them.
                assert index.search(stable, 0) == expected
                hits = index.search(extra[:20], 0)
                # Extra rows are either not added yet, or present with their own id.
                assert all(h in ([], [(int(extra_ids[k]), 0)]) for k, h in enumerate(hits))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for start in range(0, len(extra), 100):
        index.add(extra_ids[start : start + 100], extra[start : start + 100])
        index.remove(extra_ids[start : start + 10])
        if start % 1_000 == 0:
            index.compact()
    index.compact(full=True)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(index) == 20_000 + 3_000 - 300


def test_a_segment_with_many_tombstones_is_rewritten() -> None:
    codes = uniform(2_000, 64, 11)
    ids = np.arange(len(codes), dtype=np.int64)
    index = HammingIndex.build(64, ids, codes, flat_below=100)
    assert index.remove(ids[:300]) == 300
    assert not index.needs_compaction()  # 15 % dead: not yet
    assert index.remove(ids[300:500]) == 200
    assert index.needs_compaction()
    assert index.compact()
    assert index.stats().segments == (("mih", 1_500, 0),)
    assert index.search(codes[:600], 0)[:500] == [[]] * 500
    assert index.search(codes[500:502], 0) == [[(500, 0)], [(501, 0)]]
