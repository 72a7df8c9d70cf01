"""Every hashing algorithm the service knows, each defined once: a member of ``Algorithm`` and
its ``AlgorithmSpec`` in ``SPECS``.

What depends on an algorithm is derived from its spec: its hashes' size and hex form
(``index.hashes.Hash``), the kind of index that holds them (``index.factory``), the default
threshold and the default set lists decide on (``index.matcher``), what a scan computes
(``scanner.pipeline.DEFAULT_ALGORITHMS``), the list file formats that can carry it
(``index.formats``) and whether it needs a quality to be trusted. Two things cannot live here
because ``index/`` is the pure core: the hasher (PIL, numpy, the reference libraries), one module
per algorithm in ``scanner/hashing/`` registered in that package's one ``HASHERS`` list, and the
wire number, ``ALGORITHM_<NAME>`` in ``proto/hashwatch/v1/scanner.proto`` (the API is defined
there). Both are checked against this table at start-up: an algorithm without a hasher or a
proto value, or with two, stops the process with its name. docs/architecture.md has the recipe
for adding one.

An algorithm's value (``"pdq"``) is stored: in the database (list entries, match records), in
list files and in the CLI's JSON. It is never renamed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class Algorithm(enum.StrEnum):
    PDQ = "pdq"
    PHASH = "phash"
    DHASH = "dhash"
    AHASH = "ahash"
    WHASH = "whash"
    MD5 = "md5"
    SHA1 = "sha1"

    @property
    def spec(self) -> AlgorithmSpec:
        return _SPECS[self]

    @property
    def bits(self) -> int:
        return _SPECS[self].bits

    @property
    def is_exact(self) -> bool:
        """Exact (cryptographic) hashes match by equality, not by Hamming distance."""
        return _SPECS[self].exact


@dataclass(frozen=True)
class AlgorithmSpec:
    algorithm: Algorithm
    bits: int
    # The largest distance that matches unless a list (or a customer) sets its own: 0 for exact.
    threshold: int
    # A hash of the bytes that matches by equality (an exact index), not by Hamming distance.
    exact: bool = False
    # Lists decide on it unless their policy says otherwise, so every scan computes it.
    decides: bool = False
    # The hasher reports a quality 0..100 (PDQ); a hash computed here below this floor is not
    # trusted, and a list file's quality column is read for it.
    quality_floor: int | None = None
    # The names list files give it (a CSV ``signal_type``, ThreatExchange's and HMA's included);
    # the first, its own value, is also the one-hash-per-line ``--format``. Empty: list files
    # cannot carry it (its entries come from ``--format images``).
    signal_types: tuple[str, ...] = ()
    # A CSV without a type column reads a hash of ``bits // 4`` hex digits as this algorithm
    # (at most one algorithm per length).
    by_length: bool = False


# PDQ below this quality is not trustworthy (Meta's guidance, also python-threatexchange's).
PDQ_MIN_QUALITY = 50

SPECS: tuple[AlgorithmSpec, ...] = (
    AlgorithmSpec(
        Algorithm.PDQ,
        bits=256,
        threshold=31,
        decides=True,
        quality_floor=PDQ_MIN_QUALITY,
        signal_types=("pdq", "photo_pdq", "hash_pdq"),
        by_length=True,
    ),
    # 16 hex digits are read as pHash: the only 64-bit hash lists carry in practice.
    AlgorithmSpec(
        Algorithm.PHASH, bits=64, threshold=10, decides=True, signal_types=("phash",), by_length=True
    ),
    # dHash and aHash match unrelated flat images at their thresholds (bench/, docs/matching.md),
    # so a list built from images keeps those entries without deciding on them.
    AlgorithmSpec(Algorithm.DHASH, bits=64, threshold=10),
    AlgorithmSpec(Algorithm.AHASH, bits=64, threshold=10),
    AlgorithmSpec(Algorithm.WHASH, bits=64, threshold=10),
    AlgorithmSpec(
        Algorithm.MD5,
        bits=128,
        threshold=0,
        exact=True,
        decides=True,
        signal_types=("md5", "photo_md5", "hash_md5"),
        by_length=True,
    ),
    AlgorithmSpec(
        Algorithm.SHA1,
        bits=160,
        threshold=0,
        exact=True,
        decides=True,
        signal_types=("sha1", "hash_sha1"),
        by_length=True,
    ),
)


class SpecError(RuntimeError):
    """The algorithm table contradicts itself: a start-up error, never a request's."""


def check(specs: Iterable[AlgorithmSpec]) -> dict[Algorithm, AlgorithmSpec]:
    """``specs`` by algorithm, or ``SpecError`` naming what is wrong: every algorithm exactly once,
    whole bytes, a threshold the algorithm can have, list names and hash lengths not shared."""
    by_algorithm: dict[Algorithm, AlgorithmSpec] = {}
    signal_types: dict[str, Algorithm] = {}
    lengths: dict[int, Algorithm] = {}
    for spec in specs:
        name = spec.algorithm
        if name in by_algorithm:
            raise SpecError(f"two specs for {name}")
        by_algorithm[name] = spec
        if spec.bits <= 0 or spec.bits % 8:
            raise SpecError(f"{name} has {spec.bits} bits: a hash is whole bytes")
        if spec.exact and spec.threshold != 0:
            raise SpecError(f"{name} matches by equality: its threshold is 0, not {spec.threshold}")
        if not 0 <= spec.threshold < spec.bits:
            raise SpecError(f"{name}'s threshold {spec.threshold} is not a distance below {spec.bits}")
        if spec.quality_floor is not None and not 0 <= spec.quality_floor <= 100:
            raise SpecError(f"{name}'s quality floor {spec.quality_floor} is not in 0..100")
        if spec.signal_types and spec.signal_types[0] != name.value:
            raise SpecError(f"{name}'s first signal type is its own name, not {spec.signal_types[0]!r}")
        for signal_type in spec.signal_types:
            if signal_type != signal_type.lower() or signal_type in signal_types:
                raise SpecError(f"signal type {signal_type!r} of {name} is not lower case or not unique")
            signal_types[signal_type] = name
        if spec.by_length:
            other = lengths.setdefault(spec.bits // 4, name)
            if other is not name:
                raise SpecError(f"{other} and {name} both claim hashes of {spec.bits // 4} hex digits")
    missing = [str(a) for a in Algorithm if a not in by_algorithm]
    if missing:
        raise SpecError(f"no spec for {', '.join(missing)}")
    # In the enum's order, which every derived list follows.
    return {a: by_algorithm[a] for a in Algorithm}


_SPECS = check(SPECS)

DEFAULT_THRESHOLDS: Mapping[Algorithm, int] = {a: s.threshold for a, s in _SPECS.items()}
DEFAULT_DECIDING: frozenset[Algorithm] = frozenset(a for a, s in _SPECS.items() if s.decides)
