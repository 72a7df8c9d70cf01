"""The ``local`` engine's plumbing: chunking and the plain-tuple replies lose nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from index.matcher import Matcher
from reporting.db import make_engine, migrate
from reporting.store import Store
from scanner.engine import MatcherHolder, ScanEngine
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig
from scanner.recording import InMemoryRecorder
from scanner.rescan.local import LocalEngine, chunk_sizes
from scanner.rescan.sources import directory_source
from scanner.rescan.work import ItemResult
from tests.scanner.rescan.rescan_images import import_demo_list, make_images


@pytest.mark.parametrize(
    ("total", "jobs", "largest"), [(0, 2, 32), (1, 2, 32), (400, 2, 32), (10_000, 3, 64)]
)
def test_chunks_cover_every_item_once_and_shrink_towards_the_end(total: int, jobs: int, largest: int) -> None:
    sizes = list(chunk_sizes(total, jobs, largest))
    assert sum(sizes) == total
    assert all(1 <= size <= largest for size in sizes)
    assert sizes == sorted(sizes, reverse=True)
    if total >= jobs * 4 * largest:
        assert sizes[0] == largest
        assert sizes[-jobs:] == [1] * jobs, "the last chunks are single items: the workers end together"


def test_the_pool_returns_what_the_scan_engine_computes_item_by_item(tmp_path: Path) -> None:
    images = make_images(tmp_path / "images", per_listed=4, per_unrelated=2)
    source = directory_source(images, "shop-9")
    engine = make_engine(f"sqlite:///{tmp_path / 'hw.db'}")
    migrate(engine)
    try:
        import_demo_list(Store(engine))
        inputs = Store(engine).matcher_inputs()
    finally:
        engine.dispose()
    # The oracle: the service's own engine, on the bytes read here, no tuples in between.
    scan = ScanEngine(HashingConfig(), MatcherHolder(Matcher(inputs)), InMemoryRecorder(), DEFAULT_ALGORITHMS)
    expected = []
    for item in source.items:
        content = Path(item.location).read_bytes()
        outcome = scan.hash(content)
        hits = scan.decide(outcome, content).kept
        expected.append(
            ItemResult(
                item,
                outcome.outcome.value,
                outcome.reason,
                hashlib.sha256(content).hexdigest(),
                outcome.hashes,
                hits,
                content if hits else b"",
            )
        )
    assert any(r.hits for r in expected) and any(not r.hashed for r in expected)
    assert any(h.quality is None for r in expected for h in r.hashes), "MD5 and pHash carry no quality"
    with LocalEngine(inputs, HashingConfig(), DEFAULT_ALGORITHMS, jobs=2, chunk=3) as local:
        assert [_key(r) for r in local.results(source.items)] == [_key(r) for r in expected]
        assert [_key(r) for r in local.results(source.items[5:9])] == [_key(r) for r in expected[5:9]]
        assert list(local.results(())) == []


def _key(result: ItemResult) -> tuple[object, ...]:
    """Everything in a result, quality and frame too (a ``Hash`` compares without them)."""
    return (result, tuple((h.quality, h.frame) for h in result.hashes))
