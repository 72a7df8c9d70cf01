from __future__ import annotations

import random

from index.hashes import Algorithm, Hash
from index.matcher import ListConfig, Matcher


def _flip(value: Hash, bits: int, rng: random.Random) -> Hash:
    number = int.from_bytes(value.value, "big")
    for position in rng.sample(range(value.algorithm.bits), bits):
        number ^= 1 << position
    return Hash(value.algorithm, number.to_bytes(len(value.value), "big"))


def _random(algorithm: Algorithm, rng: random.Random) -> Hash:
    return Hash(algorithm, rng.getrandbits(algorithm.bits).to_bytes(algorithm.bits // 8, "big"))


def test_every_list_uses_its_own_threshold_and_brute_force_agrees() -> None:
    rng = random.Random(7)
    base = _random(Algorithm.PDQ, rng)
    strict = ListConfig(1, "strict", {Algorithm.PDQ: 10})
    default = ListConfig(2, "default")
    # Entries planted at every distance 0..40 from the query, plus random noise.
    planted = [(d + 1, _flip(base, d, rng)) for d in range(41)]
    noise = [(1000 + i, _random(Algorithm.PDQ, rng)) for i in range(500)]
    matcher = Matcher([(strict, planted + noise), (default, [(i + 5000, h) for i, h in planted + noise])])

    hits = matcher.match([base])

    expected = {
        (config.name, offset + entry_id, base.distance(value))
        for config, offset in ((strict, 0), (default, 5000))
        for entry_id, value in planted + noise
        if base.distance(value) <= config.threshold(Algorithm.PDQ)
    }
    assert {(h.list_name, h.entry_id, h.distance) for h in hits} == expected
    assert {h.distance for h in hits if h.list_name == "strict"} == set(range(11))
    assert {h.distance for h in hits if h.list_name == "default"} == set(range(32))
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)


def test_exact_hashes_match_only_when_equal() -> None:
    rng = random.Random(1)
    md5 = _random(Algorithm.MD5, rng)
    matcher = Matcher([(ListConfig(1, "l"), [(1, md5), (2, _flip(md5, 1, rng))])])
    assert [(h.entry_id, h.distance) for h in matcher.match([md5])] == [(1, 0)]


def test_algorithms_do_not_cross() -> None:
    rng = random.Random(2)
    phash = _random(Algorithm.PHASH, rng)
    matcher = Matcher([(ListConfig(1, "l"), [(1, Hash(Algorithm.DHASH, phash.value))])])
    assert matcher.match([phash]) == []
    assert matcher.sizes() == {"l": {Algorithm.DHASH: 1}}
