"""Find uniform borders (letterbox, pillarbox, padding) so the content inside can be hashed too.

A padded copy of a listed image hashes far from it: PDQ and pHash see the bars as part of the
picture (0% recall at PDQ <= 31 for letterboxed copies, bench/RESULTS.md ``## Matching
quality``). Hashing the de-bordered image as well gives the matcher a second chance.

A border side is a run of rows (or columns) from the edge that are all close to one colour, the
median colour of the outermost row. "Close" allows JPEG noise: most of a row's pixels must sit
within ``tolerance`` of that colour and their mean distance must be small. A photograph whose
edge is merely dark (a night sky, a shadow) is not flat enough to pass; a photograph with a
truly flat band (a studio backdrop) may be cropped, which only costs a second hash, never a
match on the first.

Refusals (``None``): no side has a border of at least ``min_border`` pixels and ``min_fraction``
of the dimension; a side would lose more than ``max_fraction`` (a mostly flat picture, not a
padded one); the remaining box would be smaller than ``min_size`` on a side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from scanner.hashing.pixels import Pixels

# (left, top, right, bottom), right and bottom exclusive: what ``Image.crop`` takes.
Box = tuple[int, int, int, int]
# Rows ``a`` to ``b`` counted from one edge of the image, as (rows, length, channels).
Strip = Callable[[int, int], npt.NDArray[np.generic]]


@dataclass(frozen=True)
class BorderRules:
    # Per-channel distance (0-255) a border pixel may stray from the border colour.
    tolerance: float = 24.0
    # Share of a border row's pixels that must be within ``tolerance`` (JPEG ringing, chroma bleed).
    within_share: float = 0.95
    # Largest mean distance of a border row from the border colour.
    mean_tolerance: float = 6.0
    # A border thinner than both of these on every side is not a border.
    min_border: int = 2
    min_fraction: float = 0.01
    # Never remove more than this share of the image from one side.
    max_fraction: float = 0.4
    # Never produce a crop smaller than this on a side.
    min_size: int = 32


DEFAULT_RULES = BorderRules()


def find_content_box(
    image: Image.Image | npt.NDArray[np.generic], rules: BorderRules = DEFAULT_RULES
) -> Box | None:
    """The box inside uniform borders, or None when there is no border worth removing."""
    pixels = _as_array(image)
    height, width = pixels.shape[:2]
    if min(height, width) < rules.min_size or not _any_flat_edge(pixels, rules):
        return None
    depths = _side_depths(pixels, rules)
    if any(d is None for d in depths):
        return None
    top, bottom, left, right = (d or 0 for d in depths)
    if not _significant(top, height, rules) and not _significant(bottom, height, rules):
        top = bottom = 0
    if not _significant(left, width, rules) and not _significant(right, width, rules):
        left = right = 0
    if top == bottom == left == right == 0:
        return None
    box = (left, top, width - right, height - bottom)
    if box[2] - box[0] < rules.min_size or box[3] - box[1] < rules.min_size:
        return None
    return box


def remove_borders(image: Image.Image, rules: BorderRules = DEFAULT_RULES) -> Image.Image | None:
    """``image`` cropped to its content box, or None when it has no border to remove."""
    box = find_content_box(image, rules)
    return image.crop(box) if box else None


def crop_pixels(pixels: Pixels, rules: BorderRules = DEFAULT_RULES) -> Pixels | None:
    """The frame inside its borders, ready for every fast-mode hasher, or None.

    Borders are found on the grey copy (whatever size the decode gave), mapped to the stored
    image's coordinates and snapped inward to whole reduced pixels, so the cropped luma lines up
    with PDQ's full-resolution sample positions exactly as the uncropped one does.
    """
    box = find_content_box(pixels.gray, rules)
    if box is None:
        return None
    sx, sy = pixels.width / pixels.gray.width, pixels.height / pixels.gray.height
    s = pixels.scale
    x0, y0 = -(-round(box[0] * sx) // s), -(-round(box[1] * sy) // s)  # first whole reduced pixel
    x1, y1 = round(box[2] * sx) // s, round(box[3] * sy) // s
    x1, y1 = min(x1, pixels.luma.shape[1]), min(y1, pixels.luma.shape[0])
    if (x1 - x0) * s < rules.min_size or (y1 - y0) * s < rules.min_size:
        return None
    gray_box = (round(x0 * s / sx), round(y0 * s / sy), round(x1 * s / sx), round(y1 * s / sy))
    return Pixels(
        (x1 - x0) * s,
        (y1 - y0) * s,
        s,
        pixels.luma[y0:y1, x0:x1].copy(),
        pixels.gray.crop(gray_box),
    )


def _as_array(image: Image.Image | npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    if isinstance(image, Image.Image):
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        array = np.asarray(image)
    else:
        array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"expected a 2-D or 3-D pixel array, got shape {array.shape}")
    return array


def _side_depths(pixels: npt.NDArray[np.generic], rules: BorderRules) -> list[int | None]:
    """``_border_depth`` of the top, bottom, left and right sides."""
    height, width = pixels.shape[:2]
    # Each side read as rows counted from its edge.
    sides: list[Strip] = [
        lambda a, b: pixels[a:b],
        lambda a, b: pixels[height - b : height - a][::-1],
        lambda a, b: pixels[:, a:b].transpose(1, 0, 2),
        lambda a, b: pixels[:, width - b : width - a].transpose(1, 0, 2)[::-1],
    ]
    return [
        _border_depth(side, dimension, rules)
        for side, dimension in zip(sides, (height, height, width, width), strict=True)
    ]


def _any_flat_edge(pixels: npt.NDArray[np.generic], rules: BorderRules) -> bool:
    """Whether the outermost row of any side passes ``_border_depth``'s test for a border row.

    When none does, every side's depth is 0 and there is no border: most images (photographs
    run to their edges) are settled by these four rows, read two sides at a time, with the
    same arithmetic as ``_border_depth``'s first chunk.
    """
    height, width = pixels.shape[:2]
    for edges in (pixels[[0, height - 1]], pixels[:, [0, width - 1]].transpose(1, 0, 2)):
        rows = np.ascontiguousarray(edges, dtype=np.float32)
        colour = np.median(rows, axis=1)
        if _flat_rows(np.abs(rows - colour[:, None, :]), rules).any():
            return True
    return False


def _flat_rows(rows: npt.NDArray[np.float32], rules: BorderRules) -> npt.NDArray[np.bool_]:
    """For rows of per-channel distances from the border colour: which rows are border."""
    # The largest channel distance (an explicit maximum: numpy's reduce over a last axis of 3 is
    # an order of magnitude slower).
    distance = rows[:, :, 0]
    for channel in range(1, rows.shape[2]):
        distance = np.maximum(distance, rows[:, :, channel])
    within = (distance <= rules.tolerance).mean(axis=1)
    flat: npt.NDArray[np.bool_] = (within >= rules.within_share) & (
        distance.mean(axis=1) <= rules.mean_tolerance
    )
    return flat


def _significant(depth: int, dimension: int, rules: BorderRules) -> bool:
    return depth >= max(rules.min_border, rules.min_fraction * dimension)


def _border_depth(strip: Strip, dimension: int, rules: BorderRules) -> int | None:
    """How many rows from the edge are border; None if more than ``max_fraction`` would be.

    Rows are read in growing chunks from the edge, so a picture without a border costs one
    small chunk per side, not a pass over the image.
    """
    limit = int(dimension * rules.max_fraction)
    colour = np.median(np.asarray(strip(0, 1), dtype=np.float32)[0], axis=0)
    start, step = 0, 8
    # Up to one row past the limit, so a border running past it is seen and refused.
    while start <= limit:
        stop = min(start + step, limit + 1)
        flat = _flat_rows(np.abs(np.ascontiguousarray(strip(start, stop), dtype=np.float32) - colour), rules)
        if not flat.all():
            return start + int(np.argmin(flat))
        start, step = stop, step * 2
    return None
