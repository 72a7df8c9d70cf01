"""Harness: untrusted bytes through ``scanner.pipeline.hash_content`` in both modes.

``hash_content`` turns every failure into an outcome, including its own bugs, which it reports
as ``INTERNAL_ERROR`` after catching them. So the fuzzer must treat that outcome as a crash too,
or it would never see one.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings

from PIL import Image

from index.hashes import Algorithm
from scanner.decode import ALLOWED_FORMATS, DecodeLimits
from scanner.outcomes import Outcome
from scanner.pipeline import HashingConfig, HashMode, HashOutcome, hash_content

# Every algorithm, so every hasher sees every decoded frame.
ALGORITHMS = tuple(Algorithm)
BYTE_ALGORITHMS = {Algorithm.MD5: hashlib.md5, Algorithm.SHA1: hashlib.sha1}
CONFIGS = (HashingConfig(mode=HashMode.FAST), HashingConfig(mode=HashMode.EXACT, dihedral=True))
# CPU seconds allowed per input and mode, under instrumentation (several times slower than a
# plain run): a fixed part, and a part per megapixel the header claims (capped by the decode
# limits), since a genuine 60 MP image is allowed to cost what its pixels cost. Uninstrumented,
# exact mode with every algorithm and the dihedral hashes takes about 0.2 s per megapixel.
BASE_SECONDS = 2.0
SECONDS_PER_MEGAPIXEL = 1.0


class Violation(AssertionError):
    """An invariant of ``hash_content`` did not hold for this input."""


def check(data: bytes) -> None:
    for config in CONFIGS:
        started = time.process_time()
        result = hash_content(data, ALGORITHMS, config)
        elapsed = time.process_time() - started
        _check_outcome(data, result, config)
        megapixels = max(_claimed_megapixels(data, config.limits), _decoded_megapixels(result, config.limits))
        bound = BASE_SECONDS + SECONDS_PER_MEGAPIXEL * megapixels
        if elapsed > bound:
            raise Violation(f"{config.mode} mode took {elapsed:.1f} s of CPU (bound {bound:.1f} s)")


def _claimed_megapixels(data: bytes, limits: DecodeLimits) -> float:
    """What the header claims, within the limits (a refused file may have been decoded in part)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: the claim is what we want
            with Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS)) as image:
                frame = image.width * image.height
    except Exception:
        return 0.0
    return _megapixels(frame, 1, limits)


def _decoded_megapixels(result: HashOutcome, limits: DecodeLimits) -> float:
    return _megapixels(result.width * result.height, result.frame_count, limits)


def _megapixels(frame: int, frames: int, limits: DecodeLimits) -> float:
    """A frame, or what an animation may decode: frames stepped through plus frames hashed."""
    frame = min(frame, limits.max_pixels)
    if frames <= 1:
        return frame / 1e6
    return (min(frame * frames, limits.max_total_pixels) + frame * limits.max_sampled_frames) / 1e6


def _check_outcome(data: bytes, result: HashOutcome, config: HashingConfig) -> None:
    mode = config.mode
    if not isinstance(result, HashOutcome) or not isinstance(result.outcome, Outcome):
        raise Violation(f"{mode}: not a HashOutcome with an Outcome: {result!r}")
    if result.outcome is Outcome.INTERNAL_ERROR:
        raise Violation(f"{mode}: an exception reached the pipeline's catch-all: {result.reason}")
    if not data and result.outcome is not Outcome.EMPTY:
        raise Violation(f"{mode}: empty content got {result.outcome}")
    # Every non-empty body has its bytes' digests, whatever decoding made of it.
    for algorithm, digest in BYTE_ALGORITHMS.items():
        found = [h.hex for h in result.all(algorithm)]
        if found != ([digest(data).hexdigest()] if data else []):
            raise Violation(f"{mode}: {algorithm} {found} is not the digest of the content")
    if not result.outcome.hashed:
        if any(h.algorithm not in BYTE_ALGORITHMS for h in result.hashes) or result.dihedral:
            raise Violation(f"{mode}: {result.outcome} but perceptual hashes were returned")
        if not result.reason:
            raise Violation(f"{mode}: {result.outcome} without a reason")
        return
    if result.width <= 0 or result.height <= 0 or result.frame_count <= 0:
        size = f"{result.width}x{result.height}"
        raise Violation(f"{mode}: hashed a {size} image of {result.frame_count} frames")
    pixel_frames = [h.frame for h in result.all(Algorithm.PDQ)]
    if not pixel_frames or len(set(pixel_frames)) != len(pixel_frames):
        raise Violation(f"{mode}: PDQ hashed frames {pixel_frames}")
    for algorithm in ALGORITHMS:
        if algorithm not in BYTE_ALGORITHMS and [h.frame for h in result.all(algorithm)] != pixel_frames:
            raise Violation(f"{mode}: {algorithm} hashed other frames than PDQ {pixel_frames}")
    if config.dihedral and len(result.dihedral) != 8 * len(pixel_frames):
        raise Violation(f"{mode}: {len(result.dihedral)} dihedral hashes for {len(pixel_frames)} frames")
    pdq = result.all(Algorithm.PDQ)
    trustworthy = any(h.trustworthy for h in pdq)
    if (result.outcome is Outcome.SCANNED) != trustworthy:
        raise Violation(f"{mode}: outcome {result.outcome} but trustworthy PDQ is {trustworthy}")
