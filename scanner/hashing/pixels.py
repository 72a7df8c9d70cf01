"""One decoded frame, prepared once for every fast-mode hasher.

The reference pipelines give each library the full-resolution image and let it convert: PDQ
computes float luma ``0.299R + 0.587G + 0.114B`` from RGB, imagehash converts to Pillow's "L".
Fast mode does the conversion once per frame and, for large images, works from a reduced copy:

* ``luma``: 2-D luma for PDQ at 1/``scale`` of the stored size. For a JPEG decoded with DCT
  scaling it is the Y channel libjpeg produced (uint8); otherwise Pillow's float conversion of
  the RGB image (``convert("F")`` computes the same weighted sum), box-reduced by ``scale``.
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
            # A JPEG's Y channel, or a grey image: its values are the luma already.
            luma: npt.NDArray[np.uint8] | npt.NDArray[np.float32] = np.asarray(image)
            return cls(width, height, scale, luma, image)
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        gray = rgb.convert("L")
        floats = rgb.convert("F")
        if scale == 1:
            scale = choose_scale(width, height)
            if scale > 1:
                floats = floats.reduce(scale)
        return cls(width, height, scale, np.asarray(floats), gray)
