"""What crosses the pipe between the service and a hashing process.

A request is two messages: the algorithm names (comma-separated ASCII), then the content bytes
as they are (no copy into a bigger buffer). The answer is a ``HashOutcome`` as a small JSON
object. Plain data both ways: a worker that was fed hostile bytes cannot hand the service an
object to unpickle.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict
from typing import Any

from index.hashes import Algorithm, Hash
from scanner.decode import DecodeLimits
from scanner.outcomes import Outcome
from scanner.pipeline import HashingConfig, HashMode, HashOutcome


def encode_algorithms(algorithms: Collection[Algorithm]) -> bytes:
    return ",".join(str(a) for a in algorithms).encode("ascii")


def decode_algorithms(data: bytes) -> tuple[Algorithm, ...]:
    return tuple(Algorithm(name) for name in data.decode("ascii").split(",") if name)


def _hashes(values: tuple[Hash, ...]) -> list[list[Any]]:
    return [[str(h.algorithm), h.hex, h.quality, h.frame] for h in values]


def _from_hashes(rows: list[list[Any]]) -> tuple[Hash, ...]:
    return tuple(Hash(Algorithm(a), bytes.fromhex(hex_), quality, frame) for a, hex_, quality, frame in rows)


def encode_outcome(outcome: HashOutcome, seconds: float) -> bytes:
    """``seconds``: the time the worker spent, so the service can tell hashing from transfer."""
    return json.dumps(
        [
            round(seconds, 6),
            outcome.outcome.value,
            _hashes(outcome.hashes),
            outcome.reason,
            outcome.width,
            outcome.height,
            outcome.format,
            outcome.frame_count,
            _hashes(outcome.dihedral),
            _hashes(outcome.debordered),
            _hashes(outcome.debordered_dihedral),
        ],
        separators=(",", ":"),
    ).encode()


def decode_outcome(data: bytes) -> tuple[HashOutcome, float]:
    (
        seconds,
        value,
        hashes,
        reason,
        width,
        height,
        format_,
        frame_count,
        dihedral,
        debordered,
        debordered_dihedral,
    ) = json.loads(data)
    outcome = HashOutcome(
        Outcome(value),
        _from_hashes(hashes),
        reason,
        width,
        height,
        format_,
        frame_count,
        _from_hashes(dihedral),
        _from_hashes(debordered),
        _from_hashes(debordered_dihedral),
    )
    return outcome, float(seconds)


def encode_config(config: HashingConfig) -> str:
    plain = {
        "limits": asdict(config.limits),
        "mode": str(config.mode),
        "dihedral": config.dihedral,
        "deborder": config.deborder,
    }
    return json.dumps(plain)


def decode_config(text: str) -> HashingConfig:
    data = json.loads(text)
    return HashingConfig(
        DecodeLimits(**data["limits"]), HashMode(data["mode"]), bool(data["dihedral"]), bool(data["deborder"])
    )
