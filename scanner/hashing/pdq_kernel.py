"""PDQ from a luma array, in numpy: the fast path's own kernel.

Meta's reference blurs the whole luma image with two box-filter passes per axis and then keeps
64x64 of its pixels. Only those 64x64 samples are ever read, and the two box passes make a tent
whose weights depend only on the image's size, so each sample is a fixed weighted sum of a
narrow band of input rows and columns. We compute just those sums: 64 rows of weights per axis,
cached per size, applied by gathering the band of rows (or columns) each sample reads.

When the input was decoded at a reduced scale ``s`` (JPEG DCT scaling, or ``Image.reduce``),
a reduced pixel stands for an ``s``x``s`` block of the full-resolution image, so its weight is
the sum of the tent's weights over that block: the samples stay at the full-resolution
positions the reference uses, only the block's inside is averaged. The coarser ``s`` is
against the tent's width, the more bits move; ``choose_scale`` keeps ``s`` at most a third of
the filter window (see bench/RESULTS.md for the drift this gives).

Everything after the 64x64 samples (DCT, median, quality) follows the reference exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SAMPLES = 64
# Meta's reference refuses to hash images thinner than this (all-zero hash, quality 0).
MIN_HASHABLE_DIMENSION = 5
# A decode scale of at most a third of the filter window keeps PDQ within 2 bits of the
# full-resolution reference at the 99th percentile on photographs (bench/RESULTS.md); half the
# window lets single images move by 4+ bits. JPEG DCT scaling offers 1, 2, 4 and 8.
SCALE_PER_WINDOW = 3

FloatArray = npt.NDArray[np.float32]


def filter_window(dimension: int) -> int:
    """The reference's Jarosz box window along an axis of ``dimension`` pixels."""
    return (dimension + 2 * SAMPLES - 1) // (2 * SAMPLES)


def choose_scale(width: int, height: int, allowed: tuple[int, ...] = (8, 4, 2, 1)) -> int:
    """The coarsest decode scale (a JPEG DCT scale) that keeps PDQ's samples accurate."""
    window = filter_window(min(width, height))
    return next((s for s in allowed if s * SCALE_PER_WINDOW <= window), 1)


def _tent_weights(dimension: int) -> list[tuple[int, npt.NDArray[np.float64]]]:
    """For each of the 64 samples: first full-resolution pixel and the tent's weights from it.

    The reference's box filter averages ``in[k - a .. k + b]`` clipped to the image, dividing by
    the number of pixels actually inside (so windows shrink at the borders); two passes of it
    give each sample a tent made of the box weights of the box weights.
    """
    window = filter_window(dimension)
    half = (window + 2) // 2
    before, after = window - half, half - 1

    def box(k: int) -> tuple[int, int]:
        return max(0, k - before), min(dimension - 1, k + after)

    rows = []
    for i in range(SAMPLES):
        centre = int((i + 0.5) * dimension / SAMPLES)
        first_lo, first_hi = box(centre)
        lo = box(first_lo)[0]
        hi = box(first_hi)[1]
        weights = np.zeros(hi - lo + 1)
        outer = 1.0 / (first_hi - first_lo + 1)
        for m in range(first_lo, first_hi + 1):
            inner_lo, inner_hi = box(m)
            weights[inner_lo - lo : inner_hi - lo + 1] += outer / (inner_hi - inner_lo + 1)
        rows.append((lo, weights))
    return rows


@dataclass(frozen=True)
class _AxisWeights:
    index: npt.NDArray[np.intp]  # 64 x k: which (reduced) pixels each sample reads
    weights: FloatArray  # 64 x k: their weights (zero where a band is shorter than k)


@functools.lru_cache(maxsize=512)
def axis_weights(dimension: int, scale: int, reduced: int) -> _AxisWeights:
    """Sample weights along one axis of ``dimension`` full-resolution pixels, decoded at 1/``scale``."""
    bands = []
    for lo, weights in _tent_weights(dimension):
        first = lo // scale
        last = min((lo + len(weights) - 1) // scale, reduced - 1)
        reduced_weights = np.zeros(last - first + 1)
        for offset, weight in enumerate(weights):
            reduced_weights[min((lo + offset) // scale, reduced - 1) - first] += weight
        bands.append((first, reduced_weights))
    width = max(len(w) for _, w in bands)
    index = np.zeros((SAMPLES, width), dtype=np.intp)
    table = np.zeros((SAMPLES, width), dtype=np.float32)
    for i, (first, weights) in enumerate(bands):
        index[i] = np.minimum(first + np.arange(width), reduced - 1)
        table[i, : len(weights)] = weights
    index.setflags(write=False)
    table.setflags(write=False)
    return _AxisWeights(index, table)


def _dct_matrix() -> npt.NDArray[np.float64]:
    i = np.arange(1, 17)[:, None]
    j = np.arange(SAMPLES)[None, :]
    matrix: npt.NDArray[np.float64] = np.sqrt(2.0 / SAMPLES) * np.cos(np.pi / 2 / SAMPLES * i * (2 * j + 1))
    return matrix


_DCT = _dct_matrix()


def sample_64(luma: npt.NDArray[np.uint8] | FloatArray, width: int, height: int, scale: int) -> FloatArray:
    """The reference's blurred-and-decimated 64x64 buffer, from luma decoded at 1/``scale``."""
    rows = axis_weights(height, scale, luma.shape[0])
    cols = axis_weights(width, scale, luma.shape[1])
    # 64 x k x W' gather of the rows each sample reads, then the same along columns.
    vertical = np.einsum("ik,ikw->iw", rows.weights, luma[rows.index], dtype=np.float32)
    result: FloatArray = np.einsum("jk,ijk->ij", cols.weights, vertical[:, cols.index], dtype=np.float32)
    return result


def quality(buffer: FloatArray) -> int:
    """Meta's image-domain quality: summed neighbour gradients, truncated as the C++ does."""
    vertical = np.trunc((buffer[:-1, :] - buffer[1:, :]) * np.float32(100) / np.float32(255))
    horizontal = np.trunc((buffer[:, :-1] - buffer[:, 1:]) * np.float32(100) / np.float32(255))
    total = int(np.abs(vertical).sum(dtype=np.int64) + np.abs(horizontal).sum(dtype=np.int64))
    return min(100, total // 90)


def dct_16(buffer: FloatArray) -> npt.NDArray[np.float64]:
    """The 16x16 low-frequency block of the 64x64 buffer's DCT-II (DC row and column skipped).

    A stack of buffers (n x 64 x 64) gives a stack of blocks, each computed as it would be alone.
    """
    block: npt.NDArray[np.float64] = _DCT @ buffer.astype(np.float64) @ _DCT.T
    return block


def bits_from_dct(block: npt.NDArray[np.float64]) -> bytes:
    """256 bits, set where a coefficient exceeds the median, packed as the reference prints them."""
    return bits_from_dcts(block[None])[0]


def bits_from_dcts(blocks: npt.NDArray[np.float64]) -> list[bytes]:
    """``bits_from_dct`` of each block of an n x 16 x 16 stack, in one pass."""
    flat = blocks.reshape(len(blocks), -1)
    median = np.partition(flat, 127, axis=1)[:, 127:128]
    # The reference's coefficient k is bit k of a 256-bit integer printed most significant first.
    packed = np.packbits(flat[:, ::-1] > median, axis=1)
    return [row.tobytes() for row in packed]


# The 8 dihedral transforms in DCT space, in pdqhash.compute_dihedral's order: original, rot90,
# rot180, rot270, flip vertically, flip horizontally, then the two flips about the diagonals.
# A mirror negates the coefficients of odd frequency along the mirrored axis; a transpose swaps
# the axes. (transpose, negate odd vertical, negate odd horizontal)
DIHEDRAL: tuple[tuple[bool, bool, bool], ...] = (
    (False, False, False),
    (True, True, False),
    (False, True, True),
    (True, False, True),
    (False, True, False),
    (False, False, True),
    (True, False, False),
    (True, True, True),
)

# Row i / column j hold frequency i + 1: odd frequencies sit at even indices.
_ODD = np.where(np.arange(16) % 2 == 0, -1.0, 1.0)


def dihedral_blocks(block: npt.NDArray[np.float64]) -> list[npt.NDArray[np.float64]]:
    out = []
    for transpose, vertical, horizontal in DIHEDRAL:
        if not (transpose or vertical or horizontal):
            out.append(block)
            continue
        b = block.T if transpose else block
        if vertical:
            b = b * _ODD[:, None]
        if horizontal:
            b = b * _ODD[None, :]
        out.append(b)
    return out
