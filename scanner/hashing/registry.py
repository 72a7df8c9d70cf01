"""Finds hashers by algorithm. ``scanner.hashing`` registers its one ``HASHERS`` list at import;
a second hasher for an algorithm, or an algorithm (``index.algorithms``) without one, is a
start-up error."""

from __future__ import annotations

from index.hashes import Algorithm
from scanner.hashing.base import Hasher

_HASHERS: dict[Algorithm, Hasher] = {}


def register(hasher: Hasher) -> Hasher:
    if hasher.algorithm in _HASHERS:
        raise RuntimeError(f"a hasher for {hasher.algorithm} is already registered")
    _HASHERS[hasher.algorithm] = hasher
    return hasher


def require_every_algorithm() -> None:
    """Refuse to start with an algorithm that nothing can compute: its lists would never match."""
    missing = [str(a) for a in Algorithm if a not in _HASHERS]
    if missing:
        raise RuntimeError(
            f"no hasher registered for {', '.join(missing)}: add one to scanner.hashing.HASHERS"
        )


def get(algorithm: Algorithm) -> Hasher:
    try:
        return _HASHERS[algorithm]
    except KeyError:
        raise KeyError(f"no hasher registered for {algorithm}") from None


def algorithms() -> tuple[Algorithm, ...]:
    """Every registered algorithm, in the order of the ``Algorithm`` enum."""
    return tuple(a for a in Algorithm if a in _HASHERS)
