"""dHash (64 bits) as imagehash computes it, and its fast equivalent."""

from __future__ import annotations

import imagehash
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import imagehashes
from scanner.hashing.base import Hasher
from scanner.hashing.pixels import Pixels

# How much larger than the 9x8 px target the box-reduced intermediate stays: dHash compares
# single pixels and needs 16 to stay within ~2 bits on textures (well under a millisecond).
REDUCING_GAP = 16.0


class DhashHasher(Hasher):
    algorithm = Algorithm.DHASH

    def hash_image(self, image: Image.Image) -> Hash:
        return imagehashes.from_imagehash(Algorithm.DHASH, imagehash.dhash, image)

    def hash_pixels(self, pixels: Pixels) -> Hash:
        return fast(pixels.gray)


def fast(gray: Image.Image, reducing_gap: float | None = REDUCING_GAP) -> Hash:
    pixels = imagehashes.small(gray, (9, 8), reducing_gap)
    return imagehashes.pack(Algorithm.DHASH, pixels[:, 1:] > pixels[:, :-1])
