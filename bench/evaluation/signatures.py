"""Everything the harness needs to know about one image: its hashes, variants and de-bordered copy.

The plain hashes and PDQ's DCT-domain variants come from ``scanner.pipeline.hash_content``, the
service's own path. The pixel-domain variants (``scanner.hashing.pdq_rotations``) and the
de-bordered copy (``scanner.hashing.letterbox``) are not wired into the pipeline yet, so this
module does what that wiring would do: decode the same way the pipeline does, prepare the same
``Pixels``, and, in FAST mode, hash ``letterbox.crop_pixels`` of them with the same hashers
(no second decode). In EXACT mode the cropped image is hashed with the reference libraries.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.decode import DecodeLimits, decode
from scanner.hashing import pdq, registry
from scanner.hashing.letterbox import crop_pixels, find_content_box
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
    # The de-bordered copy's own signature, when a border was found.
    debordered: Signature | None = None


def signature(content: bytes, mode: HashMode, *, deborder: bool = True) -> Signature:
    config = HashingConfig(mode=mode, dihedral=True)
    outcome = hash_content(content, PERCEPTUAL, config)
    if outcome.outcome not in (Outcome.SCANNED, Outcome.LOW_QUALITY):
        raise Unhashable(f"{outcome.outcome}: {outcome.reason}")
    plain = {a: h for a in PERCEPTUAL if (h := outcome.get(a)) is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels, image = _frame(content, mode)
        debordered = None
        if deborder and mode is HashMode.FAST:
            inner = crop_pixels(pixels)
            debordered = _from_pixels(inner) if inner is not None else None
        elif deborder:
            box = find_content_box(image)
            if box is not None:
                crop = io.BytesIO()
                image.crop(box).save(crop, "PNG")
                debordered = signature(crop.getvalue(), mode, deborder=False)
    return Signature(
        plain,
        plain[Algorithm.PDQ].quality or 0,
        outcome.dihedral[:8],
        pixel_dihedral_from_pixels(pixels),
        debordered,
    )


def _from_pixels(pixels: Pixels) -> Signature:
    """A prepared frame hashed as fast mode hashes it (what the pipeline wiring would do)."""
    plain = {a: registry.get(a).hash_pixels(pixels) for a in PERCEPTUAL}
    return Signature(
        plain,
        plain[Algorithm.PDQ].quality or 0,
        pdq.dihedral_from_pixels(pixels),
        pixel_dihedral_from_pixels(pixels),
    )


def _frame(content: bytes, mode: HashMode) -> tuple[Pixels, Image.Image]:
    """The first frame as the pipeline prepares it (reduced decode in FAST mode, full luma in
    EXACT mode, where the kernel on full-resolution luma is pdqhash), and the decoded image."""
    fast = mode is HashMode.FAST
    decoded = decode(content, DecodeLimits(), jpeg_scale=0 if fast else None)
    frame = decoded.frames[0]
    if fast:
        return Pixels.from_image(frame.image, decoded.width, decoded.height, frame.scale), frame.image
    rgb = frame.image if frame.image.mode == "RGB" else frame.image.convert("RGB")
    luma = np.asarray(rgb.convert("F"))
    return Pixels(decoded.width, decoded.height, 1, luma, rgb.convert("L")), rgb
