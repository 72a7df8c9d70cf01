"""Each algorithm's wire number comes from the API's enum by name, checked at start-up."""

from __future__ import annotations

import pytest

from index.algorithms import SpecError
from index.hashes import Algorithm
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.rpc.convert import ALGORITHM_TO_PB, PB_TO_ALGORITHM, algorithm_from_pb, wire_numbers


def test_every_algorithm_has_the_number_the_api_gives_its_name() -> None:
    assert {a: pb.Algorithm.Name(n) for a, n in ALGORITHM_TO_PB.items()} == {
        a: f"ALGORITHM_{a.value.upper()}" for a in Algorithm
    }
    assert sorted(PB_TO_ALGORITHM) == sorted(set(pb.Algorithm.values()) - {pb.ALGORITHM_UNSPECIFIED})
    assert all(algorithm_from_pb(ALGORITHM_TO_PB[a]) is a for a in Algorithm)


def test_an_algorithm_the_api_does_not_number_stops_the_start() -> None:
    items = [(name, number) for name, number in pb.Algorithm.items() if name != "ALGORITHM_WHASH"]
    with pytest.raises(SpecError, match="no number for whash"):
        wire_numbers(items)


def test_an_api_algorithm_the_service_does_not_define_stops_the_start() -> None:
    with pytest.raises(SpecError, match="names photodna"):
        wire_numbers([*pb.Algorithm.items(), ("ALGORITHM_PHOTODNA", 99)])
