"""One decoded frame, prepared once for every fast-mode hasher.

The reference pipelines give each library the full-resolution image and let it convert: PDQ
computes float luma ``0.299R + 0.587G + 0.114B`` from RGB, imagehash converts to Pillow's "L".
Fast mode does the conversion once per frame and, for large images, works from a reduced copy:

* ``luma``: 2-D luma for PDQ at 1/``scale`` of the stored size: Pillow's float conversion of
  the RGB image (``convert("F")`` computes the same weighted sum as PDQ), from a JPEG decoded
  at 1/``scale`` by DCT scaling, or box-reduced by ``scale`` from a full decode.
* ``gray``: Pillow "L" image for the 64-bit hashes, at whatever size is at hand; they resize it
  to 8-32 px themselves.

Alpha is dropped, as ``convert("RGB")`` and ``convert("L")`` drop it in the references.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from scanner.hashing.pdq_kernel import choose_scale


@dataclass(frozen=True)
class Pixels:
    width: int  # the stored image's size, which PDQ's sample positions refer to
    height: int
    scale: int
    luma: npt.NDArray[np.uint8] | npt.NDArray[np.float32]
    gray: Image.Image

    @classmethod
    def from_image(cls, image: Image.Image, width: int, height: int, scale: int = 1) -> Pixels:
        """``image`` is at 1/``scale`` of ``width`` x ``height`` (DCT-scaled JPEG) or full size."""
        if image.mode == "L":
            # A grey image is its own luma (R = G = B and PDQ's weights sum to 1).
            gray = source = image
        else:
            source = image if image.mode == "RGB" else image.convert("RGB")
            gray = source.convert("L")
        reduce_by = choose_scale(width, height) if scale == 1 else 1
        if source.mode == "L" and reduce_by == 1:
            luma: npt.NDArray[np.uint8] | npt.NDArray[np.float32] = np.asarray(source)
        else:
            floats = source.convert("F")
            luma = np.asarray(floats.reduce(reduce_by) if reduce_by > 1 else floats)
        scale *= reduce_by
        return cls(width, height, scale, luma, gray)
