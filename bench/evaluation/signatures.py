"""Everything the harness needs to know about one image: its hashes, variants and de-bordered copy.

The plain hashes and PDQ's DCT-domain variants come from ``scanner.pipeline.hash_content``, the
service's own path. The pixel-domain variants (``scanner.hashing.pdq_rotations``) and the
de-bordered copy (``scanner.hashing.letterbox``) are not wired into the pipeline yet, so this
module does what that wiring would do: decode the same way the pipeline does, prepare the same
``Pixels``, and hash the cropped pixels as a second image.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.decode import DecodeLimits, decode
from scanner.hashing.letterbox import Box, find_content_box
from scanner.hashing.pdq_rotations import pixel_dihedral_from_pixels
from scanner.hashing.pixels import Pixels
from scanner.outcomes import Outcome
from scanner.pipeline import HashingConfig, HashMode, hash_content

PERCEPTUAL = (Algorithm.PDQ, Algorithm.PHASH, Algorithm.DHASH, Algorithm.AHASH, Algorithm.WHASH)


class Unhashable(Exception):
    pass


@dataclass(frozen=True)
class Signature:
    plain: dict[Algorithm, Hash]
    quality: int
    # 8 PDQ variants each, scanner.hashing.pdq.DIHEDRAL_NAMES order.
    dct_variants: tuple[Hash, ...]
    pixel_variants: tuple[Hash, ...]
    # The content box when a border was found, and the de-bordered copy's own signature.
    border: Box | None = None
    debordered: Signature | None = None


def signature(content: bytes, mode: HashMode, *, deborder: bool = True) -> Signature:
    config = HashingConfig(mode=mode, dihedral=True)
    outcome = hash_content(content, PERCEPTUAL, config)
    if outcome.outcome not in (Outcome.SCANNED, Outcome.LOW_QUALITY):
        raise Unhashable(f"{outcome.outcome}: {outcome.reason}")
    plain = {a: h for a in PERCEPTUAL if (h := outcome.get(a)) is not None}
    pdq_hash = plain[Algorithm.PDQ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels = _pixels(content, mode)
        border, debordered = None, None
        if deborder:
            image: Image.Image = Image.open(io.BytesIO(content))
            image = image.convert("RGB") if image.mode not in ("RGB", "L") else image
            border = find_content_box(image)
            if border is not None:
                crop = io.BytesIO()
                image.crop(border).save(crop, "PNG")
                debordered = signature(crop.getvalue(), mode, deborder=False)
    return Signature(
        plain,
        pdq_hash.quality or 0,
        outcome.dihedral[:8],
        pixel_dihedral_from_pixels(pixels),
        border,
        debordered,
    )


def _pixels(content: bytes, mode: HashMode) -> Pixels:
    """The frame as the pipeline prepares it: reduced decode in fast mode, full luma in exact."""
    fast = mode is HashMode.FAST
    decoded = decode(content, DecodeLimits(), jpeg_scale=0 if fast else None)
    frame = decoded.frames[0]
    if fast:
        return Pixels.from_image(frame.image, decoded.width, decoded.height, frame.scale)
    rgb = frame.image if frame.image.mode == "RGB" else frame.image.convert("RGB")
    # Exact mode's pdqhash input is the full RGB; the kernel on its full float luma is pdqhash.
    return Pixels(decoded.width, decoded.height, 1, np.asarray(rgb.convert("F")), rgb.convert("L"))
