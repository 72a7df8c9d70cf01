"""The exact index for MD5/SHA-1: equality only, same interface and lifecycle as the Hamming one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.exact import ExactIndex
from index.factory import build_index
from index.hashes import Algorithm
from index.synthetic import flip, uniform
from tests.index.faiss_oracle import faiss_range


@pytest.mark.parametrize("algorithm", [Algorithm.MD5, Algorithm.SHA1])
@pytest.mark.parametrize("structure", ["auto", "flat"])
def test_finds_equal_hashes_only(algorithm: Algorithm, structure: str) -> None:
    codes = uniform(5_000, algorithm.bits, 0)
    codes[10] = codes[11]  # two entries listing the same file
    # Same first 64 bits, different rest: must not match each other.
    codes[20, :8] = codes[21, :8]
    ids = np.arange(len(codes), dtype=np.int64)
    index = build_index(algorithm, ids, codes, structure=structure, flat_below=1_000)
    assert isinstance(index, ExactIndex)
    assert index.stats().segments[0][0] == ("flat" if structure == "flat" else "exact")
    assert index.search(codes[[11, 20, 3]], 31) == [[(10, 0), (11, 0)], [(20, 0)], [(3, 0)]]
    # Equality is FAISS's range search at distance 0, whatever threshold the caller passes.
    assert index.search(codes[[11, 20, 3]], 31) == faiss_range(ids, codes, codes[[11, 20, 3]], 0)
    # A one-bit difference is a different file.
    flipped = flip(codes[:5], np.ones(5, dtype=np.int64), seed=1)
    assert index.search(flipped) == [[]] * 5
    assert faiss_range(ids, codes, flipped, 0) == [[]] * 5


def test_updates_and_snapshots(tmp_path: Path) -> None:
    index = ExactIndex(128, delta_limit=100, flat_below=50)
    codes = uniform(1_000, 128, 3)
    index.add(np.arange(1_000, dtype=np.int64), codes)
    assert index.stats().segments == (("exact", 1_000, 0),)
    index.add(np.array([5_000], dtype=np.int64), codes[:1])
    assert index.remove(np.array([0, 7], dtype=np.int64)) == 2
    assert index.search(codes[:1]) == [[(5_000, 0)]]
    index.save(tmp_path / "md5.snapshot")
    loaded = ExactIndex.load(tmp_path / "md5.snapshot")
    assert loaded.search(codes[:8]) == index.search(codes[:8])
    loaded.compact(full=True)
    assert loaded.search(codes[6:8]) == [[(6, 0)], []]
    assert len(loaded) == 999
