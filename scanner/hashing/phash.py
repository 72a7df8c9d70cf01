"""phash (64 bits) as imagehash computes it."""

from __future__ import annotations

from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import imagehashes
from scanner.hashing.base import Hasher
from scanner.hashing.pixels import Pixels


class PhashHasher(Hasher):
    algorithm = Algorithm.PHASH

    def hash_image(self, image: Image.Image) -> Hash:
        return imagehashes.from_imagehash(Algorithm.PHASH, imagehashes.PHASH, image)

    def hash_pixels(self, pixels: Pixels) -> Hash:
        return imagehashes.phash(pixels.gray)
