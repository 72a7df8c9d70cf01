"""The multi-index hashing segment on its own: the pigeonhole radii, every configuration exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.mih import MihSegment, auto_substrings, balanced_permutation
from index.segments import to_words
from index.synthetic import Clustered, brute_force, flip, uniform
from tests.index.faiss_oracle import faiss_range


def _hits(segment: MihSegment, queries: np.ndarray, threshold: int) -> list[list[tuple[int, int]]]:
    lims, rows, dists = segment.search(to_words(queries, segment.bits), threshold)
    out = []
    for q in range(len(queries)):
        lo, hi = lims[q], lims[q + 1]
        pairs = zip(segment.ids[rows[lo:hi]].tolist(), dists[lo:hi].tolist(), strict=True)
        out.append(sorted(((int(i), int(d)) for i, d in pairs), key=lambda h: (h[1], h[0])))
    return out


@pytest.mark.parametrize("substrings", [11, 16, 21, 32])
def test_radii_satisfy_the_pigeonhole_bound_for_every_threshold(substrings: int) -> None:
    codes = uniform(5_000, 256, 0)
    segment = MihSegment.build(
        256, np.arange(5_000, dtype=np.int64), to_words(codes, 256), substrings=substrings
    )
    for threshold in range(0, 80):
        radii = segment.radii(threshold)
        if radii is None:
            continue  # a flat scan answers instead, which is exact anyway
        assert int((radii + 1).sum()) > threshold
        assert radii.min() >= -1


@settings(max_examples=40, deadline=None)
@given(
    substrings=st.integers(3, 8),
    dir_bits=st.integers(1, 8),
    threshold=st.integers(0, 40),
    seed=st.integers(0, 2**16),
    balance=st.booleans(),
)
def test_any_configuration_is_exact(
    substrings: int, dir_bits: int, threshold: int, seed: int, balance: bool
) -> None:
    codes = Clustered(64, seed=seed, spread=6).families(600)
    ids = np.arange(len(codes), dtype=np.int64) * 3
    segment = MihSegment.build(
        64, ids, to_words(codes, 64), substrings=substrings, dir_bits=dir_bits, balance=balance
    )
    queries = flip(codes[:10], np.arange(10, dtype=np.int64) * 2, seed=seed)
    got = _hits(segment, queries, threshold)
    assert got == brute_force(ids, codes, queries, threshold)
    assert got == faiss_range(ids, codes, queries, threshold)


def test_substring_count_follows_the_size() -> None:
    assert auto_substrings(256, 10_000_000) == 11
    assert auto_substrings(256, 1_000_000) == 13
    assert auto_substrings(64, 10_000_000) == 3
    assert auto_substrings(256, 10) >= 8  # never a substring longer than 32 bits


def test_balanced_permutation_spreads_skewed_bits() -> None:
    codes = uniform(4_000, 256, 1)
    codes[:, :8] = 0  # the first 64 bits carry no information
    sub_len = np.full(8, 32, dtype=np.int64)
    perm = balanced_permutation(to_words(codes, 256), 256, sub_len)
    assert sorted(perm.tolist()) == list(range(256))
    dead_per_substring = [int((perm[j * 32 : (j + 1) * 32] < 64).sum()) for j in range(8)]
    assert max(dead_per_substring) - min(dead_per_substring) <= 1


def test_empty_and_tiny_segments() -> None:
    empty = MihSegment.build(256, np.zeros(0, np.int64), np.zeros((0, 4), np.uint64))
    assert _hits(empty, uniform(2, 256, 0), 31) == [[], []]
    one = uniform(1, 256, 2)
    single = MihSegment.build(256, np.array([9], dtype=np.int64), to_words(one, 256))
    assert _hits(single, one, 0) == [[(9, 0)]]


def test_rejects_impossible_splits() -> None:
    with pytest.raises(ValueError, match="substrings"):
        MihSegment.build(256, np.arange(4, dtype=np.int64), to_words(uniform(4, 256, 0), 256), substrings=4)


def test_a_query_matching_a_whole_family_grows_its_buffers() -> None:
    # 12 000 near-copies of one hash: every row is a candidate on every substring, far more
    # than the kernel's first candidate and result buffers hold.
    family = flip(np.repeat(uniform(1, 256, 3), 12_000, axis=0), np.arange(12_000) % 4, seed=4)
    ids = np.arange(len(family), dtype=np.int64)
    segment = MihSegment.build(256, ids, to_words(family, 256))
    queries = np.concatenate([family[:2], uniform(1, 256, 5)])
    expected = brute_force(ids, family, queries, 31)
    assert expected == faiss_range(ids, family, queries, 31)
    assert len(expected[0]) == 12_000
    for _ in range(2):  # and the per-thread bitmap is clean again afterwards
        assert _hits(segment, queries, 31) == expected
