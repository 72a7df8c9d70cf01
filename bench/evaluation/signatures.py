"""Everything the harness needs to know about one image: its hashes, variants and de-bordered copy.

All of it comes from ``scanner.pipeline.hash_content``, the service's own path: the plain hashes,
PDQ's 8 pixel-domain variants (``HashOutcome.dihedral``) and the de-bordered copy's hashes and
variants (``HashOutcome.debordered``, ``debordered_dihedral``). The only thing computed here is
what the service no longer uses, for comparison: PDQ's DCT-domain variants
(``pdq.dihedral_from_pixels``, what ``pdqhash.compute_dihedral`` does), from the frame prepared
the way the pipeline prepares it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from index.hashes import Algorithm, Hash
from scanner.decode import DecodeLimits, decode
from scanner.hashing import pdq
from scanner.hashing.pixels import Pixels
from scanner.outcomes import Outcome
from scanner.pipeline import HashingConfig, HashMode, HashOutcome, hash_content

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
    # What the service computes from the file: every perceptual hash and MD5 (the list's policy,
    # ``ListConfig.decide``, says which of them decide).
    outcome: HashOutcome | None = None


def signature(content: bytes, mode: HashMode, *, deborder: bool = True) -> Signature:
    config = HashingConfig(mode=mode, dihedral=True, deborder=deborder)
    outcome = hash_content(content, (*PERCEPTUAL, Algorithm.MD5), config)
    if outcome.outcome not in (Outcome.SCANNED, Outcome.LOW_QUALITY):
        raise Unhashable(f"{outcome.outcome}: {outcome.reason}")
    first = [h for h in outcome.hashes if h.frame == 0]
    plain = {a: h for a in PERCEPTUAL if (h := next((x for x in first if x.algorithm is a), None))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels = _frame(content, mode)
    debordered = None
    inner = [h for h in outcome.debordered if h.frame == 0]
    if inner:
        inner_plain = {h.algorithm: h for h in inner}
        debordered = Signature(
            inner_plain,
            inner_plain[Algorithm.PDQ].quality or 0,
            (),
            tuple(h for h in outcome.debordered_dihedral if h.frame == 0),
        )
    return Signature(
        plain,
        plain[Algorithm.PDQ].quality or 0,
        pdq.dihedral_from_pixels(pixels),
        tuple(h for h in outcome.dihedral if h.frame == 0),
        debordered,
        outcome,
    )


def _frame(content: bytes, mode: HashMode) -> Pixels:
    """The first frame as the pipeline prepares it (reduced decode in FAST mode, full luma in
    EXACT mode, where the kernel on full-resolution luma is pdqhash)."""
    fast = mode is HashMode.FAST
    decoded = decode(content, DecodeLimits(), jpeg_scale=0 if fast else None)
    frame = decoded.frames[0]
    if fast:
        return Pixels.from_image(frame.image, decoded.width, decoded.height, frame.scale)
    rgb = frame.image if frame.image.mode == "RGB" else frame.image.convert("RGB")
    return Pixels(decoded.width, decoded.height, 1, np.asarray(rgb.convert("F")), rgb.convert("L"))
