"""dhash (64 bits) as imagehash computes it."""

from __future__ import annotations

from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import imagehashes
from scanner.hashing.base import Hasher
from scanner.hashing.pixels import Pixels


class DhashHasher(Hasher):
    algorithm = Algorithm.DHASH

    def hash_image(self, image: Image.Image) -> Hash:
        return imagehashes.from_imagehash(Algorithm.DHASH, imagehashes.DHASH, image)

    def hash_pixels(self, pixels: Pixels) -> Hash:
        return imagehashes.dhash(pixels.gray)
