"""Shared code for imagehash's 64-bit hashes (``phash``, ``dhash``, ``ahash``, ``whash``).

Exact mode calls imagehash. Fast mode repeats imagehash's arithmetic (same Lanczos size, same
scipy DCT, same median or mean) but lets Pillow shrink the image by an integer box first
(``reducing_gap``), which costs a tenth of a full Lanczos pass over a large image and moves a
hash by a bit or two (less with a larger gap). With ``reducing_gap=None`` each module's ``fast``
is imagehash, bit for bit; the tests hold them to that.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image

from index.hashes import Algorithm, Hash

LANCZOS = Image.Resampling.LANCZOS


def from_imagehash(
    algorithm: Algorithm, function: Callable[[Image.Image], object], image: Image.Image
) -> Hash:
    # str(ImageHash) is imagehash's own hex form; taking it keeps our bit order identical to
    # the library's, which is what lists made with it contain.
    return Hash.from_hex(algorithm, str(function(image)))


def pack(algorithm: Algorithm, bits: npt.NDArray[np.bool_]) -> Hash:
    # imagehash prints the flattened bit array most significant first.
    return Hash(algorithm, np.packbits(bits.ravel()).tobytes())


def gray(image: Image.Image) -> Image.Image:
    return image if image.mode == "L" else image.convert("L")


def small(image: Image.Image, size: tuple[int, int], reducing_gap: float | None) -> npt.NDArray[np.uint8]:
    return np.asarray(gray(image).resize(size, LANCZOS, reducing_gap=reducing_gap))
