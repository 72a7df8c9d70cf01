"""PDQ (Meta): exact through ``pdqhash``, fast through our own kernel.

Exact mode feeds ``pdqhash`` (the binding of Meta's C++ reference) what python-threatexchange
feeds it: the full-resolution image converted to RGB. Fast mode runs ``pdq_kernel`` on the
frame's luma, usually decoded at reduced scale; it stays within a couple of bits.

Dihedral variants (the hashes of the 7 rotations and mirrors) come from sign flips and
transposes of the same 16x16 DCT block, as ``pdqhash.compute_dihedral`` does. They are the hash
of the transformed *DCT*, not of transformed pixels: hashing a rotated copy of the pixels moves
the sample grid (samples sit at ``int((i + 0.5) * n / 64)``, not symmetric when 64 does not
divide ``n``) and the box filter's even-window offset, so a rotated file hashes a few bits
away from the variant (the tests measure how far). Both are well inside the match threshold.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import pdq_kernel
from scanner.hashing.base import Hasher
from scanner.hashing.pixels import Pixels

# Names for the variants, in pdqhash.compute_dihedral's (and our) order.
DIHEDRAL_NAMES = (
    "original",
    "rot90",
    "rot180",
    "rot270",
    "flip_vertical",
    "flip_horizontal",
    "flip_plus1",
    "flip_minus1",
)


def _reference_input(image: Image.Image) -> npt.NDArray[np.uint8]:
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


class PdqHasher(Hasher):
    algorithm = Algorithm.PDQ

    def hash_image(self, image: Image.Image) -> Hash:
        bits, quality = pdqhash.compute(_reference_input(image))
        return Hash.from_bits(Algorithm.PDQ, bits.tolist(), quality=int(quality))

    def hash_pixels(self, pixels: Pixels) -> Hash:
        return dihedral_from_pixels(pixels, variants=1)[0]


def dihedral_from_image(image: Image.Image) -> tuple[Hash, ...]:
    """The 8 variants exactly as ``pdqhash.compute_dihedral`` gives them."""
    vectors, quality = pdqhash.compute_dihedral(_reference_input(image))
    return tuple(Hash.from_bits(Algorithm.PDQ, v.tolist(), quality=int(quality)) for v in vectors)


def dihedral_from_pixels(pixels: Pixels, variants: int = 8) -> tuple[Hash, ...]:
    """The first ``variants`` of the 8 variants, from the fast kernel."""
    if min(pixels.width, pixels.height) < pdq_kernel.MIN_HASHABLE_DIMENSION:
        # The reference's answer for slivers: all-zero hash, quality 0.
        return (Hash(Algorithm.PDQ, bytes(32), 0),) * variants
    buffer = pdq_kernel.sample_64(pixels.luma, pixels.width, pixels.height, pixels.scale)
    quality = pdq_kernel.quality(buffer)
    blocks = pdq_kernel.dihedral_blocks(pdq_kernel.dct_16(buffer))[:variants]
    return tuple(Hash(Algorithm.PDQ, pdq_kernel.bits_from_dct(block), quality) for block in blocks)


def dihedral_variants(image: Image.Image, *, exact: bool = True) -> tuple[Hash, ...]:
    """The 8 PDQ variants of a decoded image (original first, then ``DIHEDRAL_NAMES`` order)."""
    if exact:
        return dihedral_from_image(image)
    return dihedral_from_pixels(Pixels.from_image(image, image.width, image.height))
