"""wHash (64 bits, Haar) as imagehash computes it, and its fast equivalent."""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import imagehashes
from scanner.hashing.base import Hasher
from scanner.hashing.pixels import Pixels

# wHash resizes to a power of two near the image size: a box reduce there changes nothing measurable.
REDUCING_GAP = 2.0


class WhashHasher(Hasher):
    algorithm = Algorithm.WHASH

    def hash_image(self, image: Image.Image) -> Hash:
        return imagehashes.from_imagehash(Algorithm.WHASH, imagehash.whash, image)

    def hash_pixels(self, pixels: Pixels) -> Hash:
        return fast(pixels.gray, pixels.width, pixels.height)


def fast(gray: Image.Image, width: int, height: int, reducing_gap: float | None = REDUCING_GAP) -> Hash:
    """``width`` x ``height``: the stored size, from which imagehash picks its wavelet scale."""
    scale = max(2 ** int(np.log2(min(width, height))), 8)
    small = imagehashes.gray(gray).resize((scale, scale), imagehashes.LANCZOS, reducing_gap=reducing_gap)
    # imagehash's own resize to (scale, scale) is then a copy.
    return imagehashes.from_imagehash(Algorithm.WHASH, imagehash.whash, small)
