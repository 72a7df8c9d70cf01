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

The hashes of the bytes themselves (MD5, SHA-1) are computed before anything is decoded and kept
whatever decoding makes of the content: a video, a PDF or a corrupt or oversized file is still
matched by its exact hashes (``HashOutcome.hashes``), and the outcome says what happened to
decoding.
"""

from __future__ import annotations

import dataclasses
import enum
import traceback
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import structlog
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.decode import Decoded, DecodeLimits, DecodeRefused, decode
from scanner.hashing import registry
from scanner.hashing.base import Hasher
from scanner.hashing.letterbox import crop_pixels, find_content_box
from scanner.hashing.pdq_rotations import pixel_dihedral_from_pixels
from scanner.hashing.pixels import Pixels
from scanner.outcomes import Outcome

log = structlog.get_logger(__name__)

# What a scan computes at least (``ScanEngine.scan_algorithms`` adds what the lists decide on):
# the algorithms lists decide on by default (``index.policy.DEFAULT_DECIDING``).
DEFAULT_ALGORITHMS = (Algorithm.PDQ, Algorithm.PHASH, Algorithm.MD5, Algorithm.SHA1)


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
    # ``scanner.hashing.pdq.DIHEDRAL_NAMES`` order (the first of each 8 is the plain PDQ hash),
    # each the hash of that rotation's pixels (``scanner.hashing.pdq_rotations``).
    dihedral: tuple[Hash, ...] = ()
    # With ``HashingConfig.deborder``, for frames with a uniform border (letterbox, padding):
    # the perceptual hashes of the frame inside it, and its 8 PDQ variants when ``dihedral``.
    debordered: tuple[Hash, ...] = ()
    debordered_dihedral: tuple[Hash, ...] = ()

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
    # Also compute PDQ's 8 dihedral variants, each from its own decimation of the already
    # decoded luma (about three PDQ kernels; no second decode): rotated and mirrored copies match.
    dihedral: bool = True
    # Also hash the frame inside a uniform border, when one is found: letterboxed copies match.
    deborder: bool = True


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
    digests: list[Hash] = []
    try:
        if not content:
            raise DecodeRefused(Outcome.EMPTY, "empty body")
        digests = _hash_bytes(hashers, content)
        pixel_hashers = [h for h in hashers if h.needs_pixels]
        want_dihedral = config.dihedral and Algorithm.PDQ in algorithms
        if not pixel_hashers:
            return HashOutcome(Outcome.SCANNED, tuple(digests))
        fast = config.mode is HashMode.FAST
        decoded = decode(content, config.limits, jpeg_scale=0 if fast else None)
        with warnings.catch_warnings():
            # Pillow warns when converting a palette image whose transparency is per-entry
            # (tRNS bytes) to RGB or L, as the references do; the pixels are what we want.
            warnings.simplefilter("ignore")
            frames = _hash_frames(
                decoded, pixel_hashers, fast=fast, dihedral=want_dihedral, deborder=config.deborder
            )
    except DecodeRefused as refused:
        return HashOutcome(refused.outcome, tuple(digests), reason=refused.reason)
    except MemoryError:
        return HashOutcome(Outcome.TOO_MANY_PIXELS, tuple(digests), reason="out of memory while decoding")
    except Exception as exc:  # a bug or a native-library failure must not become an RPC error
        # The traceback as text, not exc_info: a console renderer that shows locals would print
        # the content bytes, and content here may be abuse material.
        trace = "".join(traceback.format_exception(exc))
        log.error("hashing failed", error=f"{type(exc).__name__}: {exc}"[:500], traceback=trace)
        return HashOutcome(
            Outcome.INTERNAL_ERROR, tuple(digests), reason=f"hashing failed: {type(exc).__name__}"
        )
    hashes = tuple(frames.hashes + digests)
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
        tuple(frames.dihedral),
        tuple(frames.debordered),
        tuple(frames.debordered_dihedral),
    )


def byte_hashes(content: bytes, algorithms: Collection[Algorithm]) -> tuple[Hash, ...]:
    """The hashes of ``content``'s bytes (MD5, SHA-1) among ``algorithms``, without decoding:
    what a serving process computes itself when a hashing process gave no answer."""
    if not content:
        return ()
    return tuple(_hash_bytes([registry.get(Algorithm(a)) for a in dict.fromkeys(algorithms)], content))


def _hash_bytes(hashers: Sequence[Hasher], content: bytes) -> list[Hash]:
    return [h.hash_bytes(content) for h in hashers if not h.needs_pixels]


@dataclass
class _Frames:
    hashes: list[Hash] = field(default_factory=list)
    dihedral: list[Hash] = field(default_factory=list)
    debordered: list[Hash] = field(default_factory=list)
    debordered_dihedral: list[Hash] = field(default_factory=list)


def _hash_frames(
    decoded: Decoded, hashers: list[Hasher], *, fast: bool, dihedral: bool, deborder: bool
) -> _Frames:
    out = _Frames()
    for frame in decoded.frames:

        def tag(found: Sequence[Hash], index: int = frame.index) -> list[Hash]:
            if index == 0:  # every hasher's answer is frame 0 already
                return list(found)
            return [dataclasses.replace(h, frame=index) for h in found]

        if fast:
            pixels = Pixels.from_image(frame.image, decoded.width, decoded.height, frame.scale)
            variants = pixel_dihedral_from_pixels(pixels) if dihedral else ()
            out.hashes += tag(_hash_pixels(hashers, pixels, variants))
            out.dihedral += tag(variants)
            inner = crop_pixels(pixels) if deborder else None
            if inner is not None:
                variants = pixel_dihedral_from_pixels(inner) if dihedral else ()
                out.debordered += tag(_hash_pixels(hashers, inner, variants))
                out.debordered_dihedral += tag(variants)
            continue
        out.hashes += tag([h.hash_image(frame.image) for h in hashers])
        box = find_content_box(frame.image) if deborder else None
        cropped = frame.image.crop(box) if box is not None else None
        if cropped is not None:
            out.debordered += tag([h.hash_image(cropped) for h in hashers])
        if dihedral:
            # The kernel on full-resolution luma is pdqhash bit for bit, rotations included.
            out.dihedral += tag(pixel_dihedral_from_pixels(_full_resolution(frame.image)))
            if cropped is not None:
                out.debordered_dihedral += tag(pixel_dihedral_from_pixels(_full_resolution(cropped)))
    return out


def _hash_pixels(hashers: list[Hasher], pixels: Pixels, variants: Sequence[Hash]) -> list[Hash]:
    # PDQ's unrotated variant is its plain fast hash, value and quality (pdq_rotations): when
    # the variants are at hand, PDQ's kernel is not run a second time.
    return [
        variants[0] if variants and h.algorithm is Algorithm.PDQ else h.hash_pixels(pixels) for h in hashers
    ]


def _full_resolution(image: Image.Image) -> Pixels:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return Pixels(rgb.width, rgb.height, 1, np.asarray(rgb.convert("F")), rgb.convert("L"))


def _judge(hashes: tuple[Hash, ...]) -> tuple[Outcome, str]:
    # An animation with one flat frame (a black title card) is still scanned if another frame
    # gives a trustworthy PDQ hash; each hash carries its own quality for the matcher.
    pdq_hashes = [h for h in hashes if h.algorithm is Algorithm.PDQ]
    if pdq_hashes and not any(h.trustworthy for h in pdq_hashes):
        return Outcome.LOW_QUALITY, "PDQ quality below 50: PDQ is not used for matching"
    return Outcome.SCANNED, ""
