"""Shared code for imagehash's 64-bit hashes: the library itself, and a fast equivalent.

Exact mode calls imagehash. Fast mode repeats imagehash's arithmetic (same Lanczos size, same
scipy DCT, same median or mean) but lets Pillow shrink the image by an integer box first
(``reducing_gap``), which costs a tenth of a full Lanczos pass over a large image and moves a
hash by a bit or two (less with a larger gap). With ``reducing_gap=None`` the fast functions
are imagehash, bit for bit; the tests hold them to that.
"""

from __future__ import annotations

from collections.abc import Callable

import imagehash
import numpy as np
import numpy.typing as npt
import scipy.fftpack  # type: ignore[import-untyped]
from PIL import Image

from index.hashes import Algorithm, Hash

# How much larger than the target the box-reduced intermediate stays. Measured on the natural
# images: pHash is unmoved at 4; aHash and dHash (8 px targets, thresholds on single pixels) need
# 16 to stay within ~2 bits on textures. Both cost well under a millisecond at any image size.
PHASH_REDUCING_GAP = 4.0
SMALL_REDUCING_GAP = 16.0
# wHash resizes to a power of two near the image size: a box reduce there changes nothing measurable.
WHASH_REDUCING_GAP = 2.0
_LANCZOS = Image.Resampling.LANCZOS


def from_imagehash(
    algorithm: Algorithm, function: Callable[[Image.Image], object], image: Image.Image
) -> Hash:
    # str(ImageHash) is imagehash's own hex form; taking it keeps our bit order identical to
    # the library's, which is what lists made with it contain.
    return Hash.from_hex(algorithm, str(function(image)))


def _pack(algorithm: Algorithm, bits: npt.NDArray[np.bool_]) -> Hash:
    # imagehash prints the flattened bit array most significant first.
    return Hash(algorithm, np.packbits(bits.ravel()).tobytes())


def _gray(image: Image.Image) -> Image.Image:
    return image if image.mode == "L" else image.convert("L")


def _small(gray: Image.Image, size: tuple[int, int], reducing_gap: float | None) -> npt.NDArray[np.uint8]:
    return np.asarray(_gray(gray).resize(size, _LANCZOS, reducing_gap=reducing_gap))


def phash(gray: Image.Image, reducing_gap: float | None = PHASH_REDUCING_GAP) -> Hash:
    pixels = _small(gray, (32, 32), reducing_gap)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
    low = dct[:8, :8]
    return _pack(Algorithm.PHASH, low > np.median(low))


def ahash(gray: Image.Image, reducing_gap: float | None = SMALL_REDUCING_GAP) -> Hash:
    pixels = _small(gray, (8, 8), reducing_gap)
    return _pack(Algorithm.AHASH, pixels > np.mean(pixels))


def dhash(gray: Image.Image, reducing_gap: float | None = SMALL_REDUCING_GAP) -> Hash:
    pixels = _small(gray, (9, 8), reducing_gap)
    return _pack(Algorithm.DHASH, pixels[:, 1:] > pixels[:, :-1])


def whash(
    gray: Image.Image, width: int, height: int, reducing_gap: float | None = WHASH_REDUCING_GAP
) -> Hash:
    """``width`` x ``height``: the stored size, from which imagehash picks its wavelet scale."""
    scale = max(2 ** int(np.log2(min(width, height))), 8)
    small = _gray(gray).resize((scale, scale), _LANCZOS, reducing_gap=reducing_gap)
    # imagehash's own resize to (scale, scale) is then a copy.
    return from_imagehash(Algorithm.WHASH, imagehash.whash, small)


PHASH = imagehash.phash
DHASH = imagehash.dhash
AHASH = imagehash.average_hash
WHASH = imagehash.whash
