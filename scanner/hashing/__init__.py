"""Hashing algorithms, one module each, found through ``registry``."""

from scanner.hashing import registry
from scanner.hashing.ahash import AhashHasher
from scanner.hashing.dhash import DhashHasher
from scanner.hashing.digests import Md5Hasher, Sha1Hasher
from scanner.hashing.pdq import PdqHasher
from scanner.hashing.phash import PhashHasher
from scanner.hashing.whash import WhashHasher

for _hasher in (
    PdqHasher(),
    PhashHasher(),
    DhashHasher(),
    AhashHasher(),
    WhashHasher(),
    Md5Hasher(),
    Sha1Hasher(),
):
    registry.register(_hasher)

__all__ = ["registry"]
