"""The algorithm table: every algorithm defined once, and refused at start-up when it contradicts
itself."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from index.algorithms import (
    DEFAULT_DECIDING,
    DEFAULT_THRESHOLDS,
    SPECS,
    Algorithm,
    AlgorithmSpec,
    SpecError,
    check,
)
from index.formats import SIGNAL_TYPES, TEXT_FORMATS


def _replaced(algorithm: Algorithm, **changes: Any) -> list[AlgorithmSpec]:
    return [dataclasses.replace(s, **changes) if s.algorithm is algorithm else s for s in SPECS]


# Every algorithm the service has shipped: (bits, default threshold). Their names are in databases
# and list files, so each stays, with its size; the thresholds are the documented defaults
# (docs/hashing.md). New algorithms are added, never swapped in.
SHIPPED = {
    "pdq": (256, 31),
    "phash": (64, 10),
    "dhash": (64, 10),
    "ahash": (64, 10),
    "whash": (64, 10),
    "md5": (128, 0),
    "sha1": (160, 0),
}


def test_the_shipped_algorithms_keep_their_names_sizes_and_defaults() -> None:
    assert {name: (Algorithm(name).bits, DEFAULT_THRESHOLDS[Algorithm(name)]) for name in SHIPPED} == SHIPPED
    assert [a for a in Algorithm if a.is_exact] == [Algorithm.MD5, Algorithm.SHA1]
    # Lists decide on PDQ, pHash and the exact hashes unless their policy says otherwise.
    assert {Algorithm.PDQ, Algorithm.PHASH, Algorithm.MD5, Algorithm.SHA1} == DEFAULT_DECIDING


def test_list_files_keep_reading_the_names_they_have_used() -> None:
    assert [f for f in TEXT_FORMATS if f in SHIPPED] == ["pdq", "phash", "md5", "sha1"]
    shipped_types = {
        "pdq": Algorithm.PDQ,
        "photo_pdq": Algorithm.PDQ,
        "hash_pdq": Algorithm.PDQ,
        "phash": Algorithm.PHASH,
        "md5": Algorithm.MD5,
        "photo_md5": Algorithm.MD5,
        "hash_md5": Algorithm.MD5,
        "sha1": Algorithm.SHA1,
        "hash_sha1": Algorithm.SHA1,
    }
    assert {name: SIGNAL_TYPES.get(name) for name in shipped_types} == shipped_types


def test_the_table_as_it_stands_is_accepted_in_the_enum_order() -> None:
    assert list(check(reversed(SPECS))) == list(Algorithm)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (SPECS[1:], "no spec for pdq"),
        ((*SPECS, SPECS[2]), "two specs for dhash"),
        (_replaced(Algorithm.PHASH, bits=60), "phash has 60 bits"),
        (_replaced(Algorithm.MD5, threshold=1), "md5 matches by equality"),
        (_replaced(Algorithm.AHASH, threshold=64), "ahash's threshold 64"),
        (_replaced(Algorithm.AHASH, threshold=-1), "ahash's threshold -1"),
        (_replaced(Algorithm.PDQ, quality_floor=101), "quality floor 101"),
        (_replaced(Algorithm.DHASH, signal_types=("hash_dhash",)), "dhash's first signal type"),
        (_replaced(Algorithm.DHASH, signal_types=("dhash", "photo_pdq")), "'photo_pdq' of dhash"),
        (_replaced(Algorithm.DHASH, signal_types=("dhash", "DHash")), "'DHash' of dhash"),
        (_replaced(Algorithm.WHASH, by_length=True), "phash and whash both claim hashes of 16 hex digits"),
    ],
)
def test_a_contradictory_table_is_refused_naming_the_algorithm(
    specs: list[AlgorithmSpec], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        check(specs)
