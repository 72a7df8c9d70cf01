"""aHash (64 bits) as imagehash computes it (``average_hash``), and its fast equivalent."""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import imagehashes
from scanner.hashing.base import Hasher
from scanner.hashing.pixels import Pixels

# How much larger than the 8 px target the box-reduced intermediate stays: aHash thresholds
# single pixels and needs 16 to stay within ~2 bits on textures (well under a millisecond).
REDUCING_GAP = 16.0


class AhashHasher(Hasher):
    algorithm = Algorithm.AHASH

    def hash_image(self, image: Image.Image) -> Hash:
        return imagehashes.from_imagehash(Algorithm.AHASH, imagehash.average_hash, image)

    def hash_pixels(self, pixels: Pixels) -> Hash:
        return fast(pixels.gray)


def fast(gray: Image.Image, reducing_gap: float | None = REDUCING_GAP) -> Hash:
    pixels = imagehashes.small(gray, (8, 8), reducing_gap)
    return imagehashes.pack(Algorithm.AHASH, pixels > np.mean(pixels))
