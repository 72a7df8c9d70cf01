"""SHA-1 of the raw bytes: industry lists still carry exact hashes."""

from __future__ import annotations

import hashlib

from index.hashes import Algorithm, Hash
from scanner.hashing.base import Hasher


class Sha1Hasher(Hasher):
    algorithm = Algorithm.SHA1
    needs_pixels = False

    def hash_bytes(self, content: bytes) -> Hash:
        return Hash(Algorithm.SHA1, hashlib.sha1(content, usedforsecurity=False).digest())
