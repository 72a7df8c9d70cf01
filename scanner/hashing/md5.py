"""MD5 of the raw bytes: industry lists still carry exact hashes."""

from __future__ import annotations

import hashlib

from index.hashes import Algorithm, Hash
from scanner.hashing.base import Hasher


class Md5Hasher(Hasher):
    algorithm = Algorithm.MD5
    needs_pixels = False

    def hash_bytes(self, content: bytes) -> Hash:
        return Hash(Algorithm.MD5, hashlib.md5(content, usedforsecurity=False).digest())
