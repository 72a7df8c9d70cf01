"""Hashing algorithms, one module each, registered here in one list and found through ``registry``.

An algorithm is defined in ``index.algorithms`` (its bits, threshold, list names, ...); its module
here computes it. Importing this package registers every hasher and checks that each algorithm
has exactly one.
"""

from scanner.hashing import registry
from scanner.hashing.ahash import AhashHasher
from scanner.hashing.base import Hasher
from scanner.hashing.dhash import DhashHasher
from scanner.hashing.md5 import Md5Hasher
from scanner.hashing.pdq import PdqHasher
from scanner.hashing.phash import PhashHasher
from scanner.hashing.sha1 import Sha1Hasher
from scanner.hashing.whash import WhashHasher

HASHERS: tuple[Hasher, ...] = (
    PdqHasher(),
    PhashHasher(),
    DhashHasher(),
    AhashHasher(),
    WhashHasher(),
    Md5Hasher(),
    Sha1Hasher(),
)

for _hasher in HASHERS:
    registry.register(_hasher)
registry.require_every_algorithm()

__all__ = ["HASHERS", "registry"]
