"""Typed hash values.

A hash is an algorithm plus its bits, validated once where it enters the system (a list file,
a gRPC request, a hasher's output) and passed around as a value after that. Hex strings exist
only at the edges: list providers print hashes most-significant bit first in lower-case hex, and
``Hash.hex`` round-trips exactly that form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from index.algorithms import PDQ_MIN_QUALITY, Algorithm

# Algorithm and its constants are defined in index.algorithms and named from here too, beside Hash.
__all__ = ["PDQ_MIN_QUALITY", "Algorithm", "Hash", "InvalidHash"]


class InvalidHash(ValueError):
    """A hash string that is not a valid hash of the algorithm it claims to be."""


@dataclass(frozen=True, slots=True)
class Hash:
    algorithm: Algorithm
    value: bytes
    # PDQ's quality (0..100) when the hash was computed here; None for other algorithms and
    # for hashes that came from a list. Not part of the hash's identity.
    quality: int | None = field(default=None, compare=False)
    # For animated images, the frame the hash was computed from. Not part of the identity either.
    frame: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if len(self.value) * 8 != self.algorithm.bits:
            raise InvalidHash(
                f"{self.algorithm} hashes have {self.algorithm.bits} bits, got {len(self.value) * 8}"
            )

    @classmethod
    def from_hex(cls, algorithm: Algorithm | str, text: str, quality: int | None = None) -> Hash:
        algo = Algorithm(algorithm)
        cleaned = text.strip().lower()
        if len(cleaned) != algo.bits // 4:
            raise InvalidHash(f"{algo} hash must be {algo.bits // 4} hex digits, got {len(cleaned)}")
        try:
            value = bytes.fromhex(cleaned)
        except ValueError:
            raise InvalidHash(f"{algo} hash is not hexadecimal: {text.strip()[:80]!r}") from None
        return cls(algo, value, quality)

    @classmethod
    def from_bits(
        cls, algorithm: Algorithm, bits: list[int] | tuple[int, ...], quality: int | None = None
    ) -> Hash:
        """From a sequence of 0/1 values, most significant first."""
        if len(bits) != algorithm.bits:
            raise InvalidHash(f"{algorithm} hashes have {algorithm.bits} bits, got {len(bits)}")
        number = 0
        for bit in bits:
            number = (number << 1) | (1 if bit else 0)
        return cls(algorithm, number.to_bytes(algorithm.bits // 8, "big"), quality)

    @property
    def hex(self) -> str:
        return self.value.hex()

    @property
    def trustworthy(self) -> bool:
        """False for a hash computed here below its algorithm's quality floor (a PDQ hash of an
        image too flat to hash reliably)."""
        floor = self.algorithm.spec.quality_floor
        return self.quality is None or floor is None or self.quality >= floor

    def distance(self, other: Hash) -> int:
        if other.algorithm is not self.algorithm:
            raise ValueError(f"cannot compare a {self.algorithm} hash with a {other.algorithm} hash")
        return (int.from_bytes(self.value, "big") ^ int.from_bytes(other.value, "big")).bit_count()

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"
