"""Small builders the customer tests share."""

from __future__ import annotations

from index.hashes import Algorithm, Hash
from index.matcher import MatchHit
from reporting.store import Store


def one_hit(store: Store, list_name: str = "csam", distance: int = 0) -> MatchHit:
    """A hit on the first entry of ``list_name``, as the matcher would report it."""
    [(config, entries)] = [(c, e) for c, e in store.matcher_inputs() if c.name == list_name]
    entry_id, hash_value = entries[0]
    return MatchHit(
        config.list_id,
        config.name,
        entry_id,
        hash_value.algorithm,
        distance,
        config.threshold(Algorithm.PDQ),
        Hash.from_hex(hash_value.algorithm, hash_value.hex),
    )
