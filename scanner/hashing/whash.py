"""whash (64 bits, Haar) as imagehash computes it."""

from __future__ import annotations

from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import imagehashes
from scanner.hashing.base import Hasher
from scanner.hashing.pixels import Pixels


class WhashHasher(Hasher):
    algorithm = Algorithm.WHASH

    def hash_image(self, image: Image.Image) -> Hash:
        return imagehashes.from_imagehash(Algorithm.WHASH, imagehashes.WHASH, image)

    def hash_pixels(self, pixels: Pixels) -> Hash:
        return imagehashes.whash(pixels.gray, pixels.width, pixels.height)
