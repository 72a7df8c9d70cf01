"""Content bytes in, hashes (or the reason there are none) out.

This is the one place that turns untrusted bytes into hashes; the gRPC service, the CLI and
rescans all call ``hash_content``. It never raises for bad input: every failure is an outcome.

Two modes (docs/hashing.md has the details and bench/RESULTS.md the figures):

* ``EXACT`` decodes at full resolution and calls the reference libraries (pdqhash, imagehash):
  the hashes are bit for bit what list makers using python-threatexchange or imagehash print.
* ``FAST`` (the default) decodes JPEGs at reduced scale, luma only, and runs our own kernels on
  one shared luma/gray copy of each frame: PDQ stays within 2 bits of exact at the 99th
  percentile on photographs, for a sixth to a twentieth of the cost.

Animations give one hash per sampled frame per algorithm, with ``Hash.frame`` set.
"""

from __future__ import annotations

import dataclasses
import enum
import traceback
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field

import structlog

from index.hashes import Algorithm, Hash
from scanner.decode import Decoded, DecodeLimits, DecodeRefused, decode
from scanner.hashing import pdq, registry
from scanner.hashing.base import Hasher
from scanner.hashing.pixels import Pixels
from scanner.outcomes import Outcome

log = structlog.get_logger(__name__)

DEFAULT_ALGORITHMS = (Algorithm.PDQ, Algorithm.PHASH, Algorithm.MD5)


class HashMode(enum.StrEnum):
    # Bit-for-bit what the reference libraries print (pdqhash, imagehash) on a full decode.
    EXACT = "exact"
    # Cheaper decode and hashing, kept within a few bits of exact (see bench/).
    FAST = "fast"


@dataclass(frozen=True)
class HashOutcome:
    outcome: Outcome
    hashes: tuple[Hash, ...] = ()
    reason: str = ""
    width: int = 0
    height: int = 0
    format: str = ""
    # Frames in the file (animations are sampled: see the ``frame`` of each hash).
    frame_count: int = 0
    # With ``HashingConfig.dihedral``: 8 PDQ hashes per hashed frame, in
    # ``scanner.hashing.pdq.DIHEDRAL_NAMES`` order (the first of each 8 is the plain PDQ hash).
    dihedral: tuple[Hash, ...] = ()

    def get(self, algorithm: Algorithm) -> Hash | None:
        """The first frame's hash for ``algorithm``."""
        return next((h for h in self.hashes if h.algorithm is algorithm), None)

    def all(self, algorithm: Algorithm) -> tuple[Hash, ...]:
        """Every frame's hash for ``algorithm``."""
        return tuple(h for h in self.hashes if h.algorithm is algorithm)


@dataclass(frozen=True)
class HashingConfig:
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    mode: HashMode = HashMode.FAST
    # Also compute PDQ's 8 dihedral variants (cheap in fast mode: no second pass over pixels).
    dihedral: bool = False


def hash_content(
    content: bytes,
    algorithms: Collection[Algorithm] = DEFAULT_ALGORITHMS,
    config: HashingConfig | None = None,
) -> HashOutcome:
    config = config or HashingConfig()
    try:
        hashers = [registry.get(Algorithm(a)) for a in dict.fromkeys(algorithms)]
    except (KeyError, ValueError) as exc:
        return HashOutcome(Outcome.INTERNAL_ERROR, reason=f"unknown algorithm: {exc}")
    try:
        if not content:
            raise DecodeRefused(Outcome.EMPTY, "empty body")
        byte_hashes = [h.hash_bytes(content) for h in hashers if not h.needs_pixels]
        pixel_hashers = [h for h in hashers if h.needs_pixels]
        want_dihedral = config.dihedral and Algorithm.PDQ in algorithms
        if not pixel_hashers and not want_dihedral:
            return HashOutcome(Outcome.SCANNED, tuple(byte_hashes))
        fast = config.mode is HashMode.FAST
        decoded = decode(content, config.limits, jpeg_scale=0 if fast else None)
        with warnings.catch_warnings():
            # Pillow warns when converting a palette image whose transparency is per-entry
            # (tRNS bytes) to RGB or L, as the references do; the pixels are what we want.
            warnings.simplefilter("ignore")
            pixel_hashes, dihedral = _hash_frames(decoded, pixel_hashers, fast=fast, dihedral=want_dihedral)
    except DecodeRefused as refused:
        return HashOutcome(refused.outcome, reason=refused.reason)
    except MemoryError:
        return HashOutcome(Outcome.TOO_MANY_PIXELS, reason="out of memory while decoding")
    except Exception as exc:  # a bug or a native-library failure must not become an RPC error
        # The traceback as text, not exc_info: a console renderer that shows locals would print
        # the content bytes, and content here may be abuse material.
        trace = "".join(traceback.format_exception(exc))
        log.error("hashing failed", error=f"{type(exc).__name__}: {exc}"[:500], traceback=trace)
        return HashOutcome(Outcome.INTERNAL_ERROR, reason=f"hashing failed: {type(exc).__name__}")
    hashes = tuple(pixel_hashes + byte_hashes)
    outcome, reason = _judge(hashes)
    if len(decoded.frames) < decoded.frame_count:
        sampled = ", ".join(str(f.index) for f in decoded.frames)
        notes = [reason, f"hashed frames {sampled} of {decoded.frame_count}", decoded.note]
        reason = "; ".join(filter(None, notes))
    return HashOutcome(
        outcome,
        hashes,
        reason,
        decoded.width,
        decoded.height,
        decoded.format,
        decoded.frame_count,
        dihedral,
    )


def _hash_frames(
    decoded: Decoded, hashers: list[Hasher], *, fast: bool, dihedral: bool
) -> tuple[list[Hash], tuple[Hash, ...]]:
    hashes: list[Hash] = []
    variants: list[Hash] = []
    for frame in decoded.frames:
        if fast:
            pixels = Pixels.from_image(frame.image, decoded.width, decoded.height, frame.scale)
            computed = [h.hash_pixels(pixels) for h in hashers]
            found = pdq.dihedral_from_pixels(pixels) if dihedral else ()
        else:
            computed = [h.hash_image(frame.image) for h in hashers]
            found = pdq.dihedral_from_image(frame.image) if dihedral else ()
        hashes.extend(dataclasses.replace(h, frame=frame.index) for h in computed)
        variants.extend(dataclasses.replace(h, frame=frame.index) for h in found)
    return hashes, tuple(variants)


def _judge(hashes: tuple[Hash, ...]) -> tuple[Outcome, str]:
    # An animation with one flat frame (a black title card) is still scanned if another frame
    # gives a trustworthy PDQ hash; each hash carries its own quality for the matcher.
    pdq_hashes = [h for h in hashes if h.algorithm is Algorithm.PDQ]
    if pdq_hashes and not any(h.trustworthy for h in pdq_hashes):
        return Outcome.LOW_QUALITY, "PDQ quality below 50: PDQ is not used for matching"
    return Outcome.SCANNED, ""
