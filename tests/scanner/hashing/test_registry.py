"""One hasher per algorithm, from the one list, checked when the package is imported."""

from __future__ import annotations

import pytest

from index.hashes import Algorithm
from scanner.hashing import HASHERS, registry


def test_registry_knows_every_algorithm_and_refuses_duplicates() -> None:
    assert registry.algorithms() == tuple(Algorithm)
    with pytest.raises(RuntimeError, match="already registered"):
        registry.register(registry.get(Algorithm.PDQ))


def test_the_registered_hashers_are_the_one_list() -> None:
    assert [registry.get(a) for a in Algorithm] == sorted(
        HASHERS, key=lambda h: list(Algorithm).index(h.algorithm)
    )


def test_an_algorithm_without_a_hasher_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.require_every_algorithm()
    monkeypatch.delitem(registry._HASHERS, Algorithm.WHASH)
    with pytest.raises(RuntimeError, match="no hasher registered for whash"):
        registry.require_every_algorithm()
