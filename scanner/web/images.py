"""The blurred, greyscale preview served by default, and the re-encoded original after a reveal."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter

PREVIEW_SIZE = 480
# Big enough that shapes stay roughly recognisable (to tell a rocket from a person) and details
# do not; scaled with the preview so small images are not left sharp.
_BLUR_FRACTION = 1 / 24
# Evidence was decoded once already when it was scanned; this bound is a second line.
_MAX_PIXELS = 64_000_000


class NotAnImage(Exception):
    pass


def _first_frame(content: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(content))
        width, height = image.size
        if width * height > _MAX_PIXELS:
            raise NotAnImage(f"{width}x{height} is too large to preview")
        image.seek(0)
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImage(f"cannot decode the evidence: {exc}") from None
    return image


def blurred_preview(content: bytes, size: int = PREVIEW_SIZE) -> bytes:
    """A greyscale, Gaussian-blurred PNG no larger than ``size`` on its longer side."""
    image = _first_frame(content).convert("L")
    image.thumbnail((size, size))
    radius = max(4.0, max(image.size) * _BLUR_FRACTION)
    blurred = image.filter(ImageFilter.GaussianBlur(radius))
    out = io.BytesIO()
    blurred.save(out, format="PNG")
    return out.getvalue()


def original_png(content: bytes, size: int = PREVIEW_SIZE) -> bytes:
    """The original, re-encoded as PNG at preview size: no metadata, never a type a browser
    could run, never bigger than the analyst needs."""
    image = _first_frame(content).convert("RGB")
    image.thumbnail((size, size))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
