"""PDQ (Meta), through ``pdqhash``, the binding of Meta's C++ reference.

Input is what python-threatexchange feeds it: the full-resolution image converted to RGB.
"""

from __future__ import annotations

import numpy as np
import pdqhash
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing.base import Hasher


class PdqHasher(Hasher):
    algorithm = Algorithm.PDQ

    def hash_image(self, image: Image.Image) -> Hash:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        bits, quality = pdqhash.compute(np.asarray(rgb))
        return Hash.from_bits(Algorithm.PDQ, bits.tolist(), quality=int(quality))
