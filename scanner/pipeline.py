"""Content bytes in, hashes (or the reason there are none) out.

This is the one place that turns untrusted bytes into hashes; the gRPC service, the CLI and
rescans all call ``hash_content``. It never raises for bad input: every failure is an outcome.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, field

import structlog
from index.hashes import Algorithm, Hash
from scanner.decode import DecodeLimits, DecodeRefused, open_image
from scanner.hashing import registry
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

    def get(self, algorithm: Algorithm) -> Hash | None:
        return next((h for h in self.hashes if h.algorithm is algorithm), None)


@dataclass(frozen=True)
class HashingConfig:
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    mode: HashMode = HashMode.FAST


def hash_content(
    content: bytes,
    algorithms: Collection[Algorithm] = DEFAULT_ALGORITHMS,
    config: HashingConfig | None = None,
) -> HashOutcome:
    config = config or HashingConfig()
    hashers = [registry.get(a) for a in algorithms]
    try:
        byte_hashes = [h.hash_bytes(content) for h in hashers if not h.needs_pixels]
        pixel_hashers = [h for h in hashers if h.needs_pixels]
        if not content:
            raise DecodeRefused(Outcome.EMPTY, "empty body")
        if not pixel_hashers:
            return HashOutcome(Outcome.SCANNED, tuple(byte_hashes))
        image = open_image(content, config.limits)
        pixel_hashes = [h.hash_image(image) for h in pixel_hashers]
    except DecodeRefused as refused:
        return HashOutcome(refused.outcome, reason=refused.reason)
    except Exception as exc:  # a bug or a native-library failure must not become an RPC error
        log.exception("hashing failed", error=str(exc))
        return HashOutcome(Outcome.INTERNAL_ERROR, reason=f"hashing failed: {type(exc).__name__}")
    hashes = tuple(pixel_hashes + byte_hashes)
    outcome = Outcome.SCANNED if all(h.trustworthy for h in hashes) else Outcome.LOW_QUALITY
    reason = "" if outcome is Outcome.SCANNED else "PDQ quality below 50: PDQ is not used for matching"
    return HashOutcome(outcome, hashes, reason, image.width, image.height, image.format or "")

