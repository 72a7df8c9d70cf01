"""Decoding untrusted image bytes, safely.

Only an allowlist of formats is ever handed to a decoder: Pillow would otherwise pass EPS and
PostScript to Ghostscript. Size is checked three times: the byte count before anything is parsed,
the dimensions the header claims before any pixel is decoded (a decompression bomb is a small
file that claims a huge image), and the frame count. Every refusal is a ``DecodeRefused`` that
carries the ``Outcome`` to answer with.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, UnidentifiedImageError

from scanner.outcomes import Outcome

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"})


@dataclass(frozen=True)
class DecodeLimits:
    max_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 64_000_000
    max_frames: int = 1000


class DecodeRefused(Exception):
    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


def open_image(content: bytes, limits: DecodeLimits) -> Image.Image:
    """Open and fully decode the first frame of ``content``; raise ``DecodeRefused`` otherwise."""
    if not content:
        raise DecodeRefused(Outcome.EMPTY, "empty body")
    if len(content) > limits.max_bytes:
        raise DecodeRefused(Outcome.TOO_LARGE, f"{len(content)} bytes is over the {limits.max_bytes} limit")
    try:
        with warnings.catch_warnings():
            # Pillow warns (and we run with warnings as errors) on odd but harmless metadata.
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(content), formats=sorted(ALLOWED_FORMATS))
            _check_header(image, limits)
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            image.load()
    except DecodeRefused:
        raise
    except UnidentifiedImageError:
        raise DecodeRefused(Outcome.UNSUPPORTED_FORMAT, "not an image in an accepted format") from None
    except Image.DecompressionBombError as exc:
        raise DecodeRefused(Outcome.TOO_MANY_PIXELS, str(exc)) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as exc:
        raise DecodeRefused(Outcome.CORRUPT, f"corrupt image data: {exc}") from None
    return image


def _check_header(image: Image.Image, limits: DecodeLimits) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise DecodeRefused(Outcome.CORRUPT, f"image claims dimensions {width}x{height}")
    if width * height > limits.max_pixels:
        raise DecodeRefused(
            Outcome.TOO_MANY_PIXELS,
            f"{width}x{height} is {width * height} pixels, over the {limits.max_pixels} limit",
        )
    frames = getattr(image, "n_frames", 1)
    if frames > limits.max_frames:
        raise DecodeRefused(Outcome.TOO_MANY_PIXELS, f"{frames} frames is over the {limits.max_frames} limit")

