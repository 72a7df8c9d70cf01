from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.hashes import Algorithm, Hash, InvalidHash

PDQ_HEX = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_hex_round_trip_keeps_most_significant_bit_first() -> None:
    value = Hash.from_hex("pdq", PDQ_HEX.upper())
    assert value.hex == PDQ_HEX
    assert value.value[0] == 0xF8
    assert str(value) == f"pdq:{PDQ_HEX}"


@pytest.mark.parametrize(
    ("algorithm", "text"),
    [("pdq", PDQ_HEX[:-1]), ("pdq", PDQ_HEX + "0"), ("phash", "zz" * 8), ("md5", ""), ("sha1", "ab" * 19)],
)
def test_malformed_hashes_are_refused_with_the_reason(algorithm: str, text: str) -> None:
    with pytest.raises(InvalidHash, match=algorithm):
        Hash.from_hex(algorithm, text)


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="photodna"):
        Hash.from_hex("photodna", "00")


def test_quality_and_frame_are_not_part_of_identity() -> None:
    assert Hash.from_hex("pdq", PDQ_HEX, quality=100) == Hash.from_hex("pdq", PDQ_HEX, quality=10)


def test_low_quality_pdq_is_not_trustworthy() -> None:
    assert not Hash.from_hex("pdq", PDQ_HEX, quality=49).trustworthy
    assert Hash.from_hex("pdq", PDQ_HEX, quality=50).trustworthy
    assert Hash.from_hex("pdq", PDQ_HEX).trustworthy


@given(st.binary(min_size=8, max_size=8), st.binary(min_size=8, max_size=8))
def test_distance_counts_differing_bits(a: bytes, b: bytes) -> None:
    slow = sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))
    assert Hash(Algorithm.PHASH, a).distance(Hash(Algorithm.PHASH, b)) == slow


@given(st.lists(st.integers(0, 1), min_size=64, max_size=64))
def test_from_bits_matches_hex(bits: list[int]) -> None:
    expected = f"{int(''.join(map(str, bits)), 2):016x}"
    assert Hash.from_bits(Algorithm.PHASH, bits).hex == expected


def test_comparing_different_algorithms_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot compare"):
        Hash.from_hex("phash", "0" * 16).distance(Hash.from_hex("dhash", "0" * 16))
