"""Decoding untrusted image bytes, safely.

Only an allowlist of formats is ever handed to a decoder: Pillow would otherwise pass EPS and
PostScript to Ghostscript. Size is checked before any pixel is decoded: the byte count, the
dimensions the header claims (a decompression bomb is a small file that claims a huge image),
and the number of frames, counted with a cap so that a file of a million tiny frames costs no
more than one of ``max_frames``. Animations are sampled: at most ``max_sampled_frames`` frames,
spread evenly over the frames we can afford to step through (``max_total_pixels`` bounds the
pixels decoded while seeking, since GIF and WebP frames can only be reached in order).

Every refusal is a ``DecodeRefused`` that carries the ``Outcome`` to answer with.

Orientation: the stored pixels are decoded as they are; EXIF orientation is not applied. Hash
lists are made from stored pixels (pdqhash and imagehash never read EXIF), and PDQ's dihedral
variants match the rotated and mirrored copies. Transparency is dropped, not composited, for the
same reason: the reference pipelines call ``convert("RGB")`` / ``convert("L")``, which discard
alpha, so the colour stored under transparent pixels is what lists were made from.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from scanner.outcomes import Outcome

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"})

# Errors Pillow's decoders raise on malformed input. MemoryError is left to the pipeline
# (TOO_MANY_PIXELS); anything else is a bug and is reported as INTERNAL_ERROR.
_CORRUPT_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
)


@dataclass(frozen=True)
class DecodeLimits:
    max_bytes: int = 32 * 1024 * 1024
    # Per frame, as the header claims it.
    max_pixels: int = 64_000_000
    # An animation claiming more frames than this is refused.
    max_frames: int = 1000
    # Frames hashed from an animation, spread evenly over it.
    max_sampled_frames: int = 8
    # Pixels decoded while stepping through an animation to reach the sampled frames.
    max_total_pixels: int = 64_000_000
    # Start-of-scan markers in a JPEG (all images of an MPO together). Encoders write 1 scan
    # (baseline) or ~10-25 (progressive); a file that repeats scans makes libjpeg re-decode
    # the coefficients for each (1000 scans of a 0.3 MP image: 4.5 s).
    max_jpeg_scans: int = 128


class DecodeRefused(Exception):
    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``image`` is at 1/``scale`` of the stored resolution (``scale`` > 1 only for JPEGs decoded
    in fast mode with DCT scaling).
    """

    index: int
    image: Image.Image
    scale: int = 1


@dataclass(frozen=True)
class Decoded:
    format: str
    width: int
    height: int
    frames: tuple[Frame, ...]
    # Frames in the file (1 for a still image); frames were sampled when this exceeds len(frames).
    frame_count: int
    # Why fewer frames were decoded than sampling asked for ("" normally).
    note: str = ""


def open_image(content: bytes, limits: DecodeLimits) -> Image.Image:
    """Open and fully decode the first frame of ``content``; raise ``DecodeRefused`` otherwise."""
    return decode(content, limits).frames[0].image


def decode(content: bytes, limits: DecodeLimits, *, jpeg_scale: int | None = None) -> Decoded:
    """Decode ``content`` within ``limits``.

    ``jpeg_scale``: for a still JPEG, decode at 1/``jpeg_scale`` of its size via DCT scaling
    (1, 2, 4 or 8; ``0`` picks it from the size with ``pick_scale``). ``None`` decodes every
    frame at full resolution, as the reference pipelines do.
    """
    if not content:
        raise DecodeRefused(Outcome.EMPTY, "empty body")
    if len(content) > limits.max_bytes:
        raise DecodeRefused(Outcome.TOO_LARGE, f"{len(content)} bytes is over the {limits.max_bytes} limit")
    try:
        with warnings.catch_warnings():
            # Pillow warns (and tests run with warnings as errors) on odd but harmless metadata,
            # and on images over its own pixel limit, which ours replaces.
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(content), formats=sorted(ALLOWED_FORMATS))
            return _decode_opened(image, content, limits, jpeg_scale)
    except DecodeRefused:
        raise
    except UnidentifiedImageError:
        claimed = _claimed_format(content)
        if claimed:
            # Pillow reports a plugin's parse error as "unidentified": the magic was right.
            raise DecodeRefused(Outcome.CORRUPT, f"{claimed} signature but unreadable header") from None
        raise DecodeRefused(Outcome.UNSUPPORTED_FORMAT, "not an image in an accepted format") from None
    except Image.DecompressionBombError as exc:
        raise DecodeRefused(Outcome.TOO_MANY_PIXELS, str(exc)) from None
    except _CORRUPT_ERRORS as exc:
        raise DecodeRefused(Outcome.CORRUPT, f"corrupt image data: {type(exc).__name__}: {exc}") from None


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _claimed_format(content: bytes) -> str:
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "WEBP"
    return next((name for magic, name in _SIGNATURES if content.startswith(magic)), "")


def _decode_opened(
    image: Image.Image, content: bytes, limits: DecodeLimits, jpeg_scale: int | None
) -> Decoded:
    format_ = image.format or ""
    if format_ not in ALLOWED_FORMATS:  # e.g. MPO, which Pillow's JPEG plugin may hand back
        if format_ != "MPO":
            raise DecodeRefused(Outcome.UNSUPPORTED_FORMAT, f"{format_ or 'unknown'} images are not accepted")
        format_ = "JPEG"
    width, height = image.size
    if width <= 0 or height <= 0:
        raise DecodeRefused(Outcome.CORRUPT, f"image claims dimensions {width}x{height}")
    if width * height > limits.max_pixels:
        raise DecodeRefused(
            Outcome.TOO_MANY_PIXELS,
            f"{width}x{height} is {width * height} pixels, over the {limits.max_pixels} limit",
        )
    _check_plausible(format_, image, content, limits)
    count = _frame_count(image, content, limits.max_frames)
    if count > limits.max_frames:
        raise DecodeRefused(Outcome.TOO_MANY_PIXELS, f"more than {limits.max_frames} frames")
    if count == 1:
        scale = 1
        if jpeg_scale is not None and format_ == "JPEG":
            scale = _draft_scaled(image, jpeg_scale or pick_scale(width, height))
        image.load()
        return Decoded(format_, width, height, (Frame(0, image, scale),), 1)
    frames, note = _sample_frames(image, count, limits)
    return Decoded(format_, width, height, tuple(frames), count, note)


# The most pixels a byte of compressed data can stand for. zlib never beats ~1032:1 (a PNG row
# also costs a filter byte); baseline and progressive JPEG spend at least one bit on the DC
# coefficient of every 8x8 block. A file claiming more pixels than its bytes could hold is
# truncated or lying, and is refused before Pillow allocates the claimed size.
_ZLIB_MAX_RATIO = 1032
_JPEG_PIXELS_PER_BYTE = 8 * 64


def _check_plausible(format_: str, image: Image.Image, content: bytes, limits: DecodeLimits) -> None:
    width, height = image.size
    size = len(content)
    if format_ == "PNG":
        bits = {"1": 1, "L": 8, "P": 8, "LA": 16, "RGB": 24, "RGBA": 32, "I;16": 16, "I": 32}.get(
            image.mode, 8
        )
        least = height * (1 + (width * bits + 7) // 8) // _ZLIB_MAX_RATIO
    elif format_ == "JPEG":
        least = ((width + 7) // 8) * ((height + 7) // 8) * 64 // _JPEG_PIXELS_PER_BYTE
        # Baseline JPEGs have one scan per component set; only progressive ones (and MPO, several
        # images) can repeat them. 0xFFDA only occurs as a marker: entropy-coded 0xFF bytes are
        # followed by 0x00.
        repeatable = image.info.get("progressive") or image.format == "MPO"
        scans = content.count(b"\xff\xda") if repeatable else 1
        if scans > limits.max_jpeg_scans:
            raise DecodeRefused(
                Outcome.CORRUPT, f"{scans} JPEG scans, over the {limits.max_jpeg_scans} limit"
            )
    else:
        return
    if size < least:
        raise DecodeRefused(
            Outcome.CORRUPT,
            f"{format_} claims {width}x{height} but {size} bytes cannot hold it (at least {least} needed)",
        )


def pick_scale(width: int, height: int) -> int:
    # Imported here: decode must not depend on the hashing package at import time.
    from scanner.hashing.pdq_kernel import choose_scale

    return choose_scale(width, height)


def _draft_scaled(image: Image.Image, scale: int) -> int:
    """Ask libjpeg for 1/``scale`` of the size (DCT scaling); returns the scale it gave.

    Colour is still decoded. JFIF's Y channel alone would be cheaper (Y is 0.299R + 0.587G +
    0.114B), but the references compute luma from RGB *after* it is clamped to 0..255, and in
    saturated areas (a blue sky) that differs from Y enough to move PDQ by 4-8 bits on flat
    images. Decoding RGB at reduced scale costs ~10% more and leaves no such bias.
    """
    if scale <= 1:
        return 1
    width, height = image.size
    result = image.draft(None, (max(1, width // scale), max(1, height // scale)))
    if result is None:
        return 1
    # Pillow reports the decoded region in reduced coordinates: width / scale.
    box = result[1]
    return max(1, round(width / box[2])) if box[2] else 1


def _sample_frames(image: Image.Image, count: int, limits: DecodeLimits) -> tuple[list[Frame], str]:
    """The sampled frames, and why sampling stopped early ("" when it did not)."""
    # GIF, WebP and APNG frames depend on the frames before them, so reaching frame k decodes
    # frames 0..k; only step as far as the pixel budget allows.
    per_frame = max(1, image.width * image.height)
    reachable = max(1, min(count, limits.max_total_pixels // per_frame))
    wanted = max(1, min(limits.max_sampled_frames, reachable))
    if wanted == 1:
        indices = [0]
    else:
        indices = sorted({round(k * (reachable - 1) / (wanted - 1)) for k in range(wanted)})
    frames: list[Frame] = []
    for index in indices:
        try:
            image.seek(index)
            image.load()
        except _CORRUPT_ERRORS as exc:
            if not frames:
                raise
            # A damaged later frame does not hide the readable ones (truncating the tail of an
            # animation must not be a way around the scanner).
            return frames, f"frame {index} unreadable ({type(exc).__name__}); later frames not hashed"
        # copy(): the next seek reuses the decoder's buffer.
        frames.append(Frame(index, image.copy()))
    return frames, ""


def _frame_count(image: Image.Image, content: bytes, cap: int) -> int:
    """Frames in the file, counting no further than ``cap + 1``."""
    if image.format == "GIF":
        return _gif_frame_count(content, cap)
    if image.format == "TIFF":
        # Pillow's n_frames walks every IFD; a hostile file can chain a huge number of them.
        count = 1
        while count <= cap:
            try:
                image.seek(count)
            except EOFError:
                break
            count += 1
        image.seek(0)
        return count
    # WebP, APNG and MPO state their frame count in a header.
    return max(1, int(getattr(image, "n_frames", 1)))


def _gif_frame_count(content: bytes, cap: int) -> int:
    """Count a GIF's image descriptors by walking its blocks, stopping after ``cap + 1``.

    Pillow counts frames by parsing every one in Python; a 32 MB GIF of minimal frames would
    take seconds. This walk only hops over sub-block lengths.
    """
    view = memoryview(content)
    if len(view) < 13:
        raise DecodeRefused(Outcome.CORRUPT, "truncated GIF header")
    pos = 13
    flags = view[10]
    if flags & 0x80:
        pos += 3 * (2 ** ((flags & 0x07) + 1))
    frames = 0
    end = len(view)

    def skip_sub_blocks(p: int) -> int:
        while p < end:
            size = view[p]
            p += 1
            if size == 0:
                return p
            p += size
        return end

    while pos < end and frames <= cap:
        marker = view[pos]
        if marker == 0x3B:  # trailer
            break
        if marker == 0x21:  # extension: label, then sub-blocks
            pos = skip_sub_blocks(pos + 2)
        elif marker == 0x2C:  # image descriptor
            frames += 1
            if pos + 10 > end:
                break
            local = view[pos + 9]
            pos += 10
            if local & 0x80:
                pos += 3 * (2 ** ((local & 0x07) + 1))
            pos = skip_sub_blocks(pos + 1)  # LZW minimum code size, then data
        else:
            break  # garbage after the last frame; Pillow stops there too
    return max(1, frames)
