"""Shared adapter for the imagehash library's 64-bit hashes."""

from __future__ import annotations

from collections.abc import Callable

import imagehash
from PIL import Image

from index.hashes import Algorithm, Hash


def from_imagehash(algorithm: Algorithm, function: Callable[[Image.Image], object], image: Image.Image) -> Hash:
    # str(ImageHash) is imagehash's own hex form; taking it keeps our bit order identical to
    # the library's, which is what lists made with it contain.
    return Hash.from_hex(algorithm, str(function(image)))


PHASH = imagehash.phash
DHASH = imagehash.dhash
AHASH = imagehash.average_hash
WHASH = imagehash.whash
