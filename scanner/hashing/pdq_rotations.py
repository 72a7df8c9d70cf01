"""PDQ hashes of the 8 rotations and mirrors of an image, as if the rotated pixels were hashed.

``pdq.dihedral_from_pixels`` (and ``pdqhash.compute_dihedral``) derive the variants from sign
flips and transposes of one 16x16 DCT block. That is exact for a transpose but not for a
mirror, because PDQ's 64x64 decimation is not mirror-symmetric: along an axis of ``n`` pixels
sample ``i`` reads the blurred pixel ``p_i = int((i + 0.5) * n / 64)``, and the Jarosz box
filter's window ``w = (n + 127) // 128`` reaches ``w - (w + 2) // 2`` pixels back and
``(w + 2) // 2 - 1`` forward, so for even ``w`` the tent of two passes is centred one pixel
after the sample. Mirrored, sample ``i`` of the flipped image is centred at ``n - 1 - p_i - d``
(``d`` = 1 for even windows) where the original's sample ``63 - i`` is centred at
``p_(63-i) + d``: ``p_i + p_(63-i) + 2d - n + 1`` pixels apart, 3 pixels of an 8-pixel spacing
at ``n = 512`` (the grid's truncation changes it by one for other sizes; the windows clipped
at the image edges differ too). A shift of a third of a sample moves the odd DCT coefficients
enough to flip 10-20 of 256 bits on 512 px photographs (docs/matching.md has the measurements).

Here each variant is computed from its own 64x64 decimation instead: the tent weights of the
mirrored axis, read backwards on the original pixels, give exactly the samples the mirrored
image would give, and a transpose only swaps which weights go with which axis. Four
decimations (forward/mirrored rows x forward/mirrored columns) cover all 8 variants; each is
the fast kernel's gather of sample bands, so the 8 hashes cost about three plain PDQ kernels
(two row passes, four column passes) and no second decode. On full-resolution luma the result
is the hash of the rotated pixels, bit for bit (tests compare with ``pdqhash`` on rotated
arrays); on a reduced decode it follows the fast kernel's approximation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from index.hashes import Algorithm, Hash
from scanner.hashing import pdq_kernel
from scanner.hashing.pixels import Pixels

# For each variant in ``pdq.DIHEDRAL_NAMES`` order, the pixel operation as (transpose first,
# then reverse the rows, reverse the columns) of the result: the same table as the DCT-domain
# ``pdq_kernel.DIHEDRAL``. rot90 is numpy's ``rot90(a, 1)`` (counter-clockwise).
OPERATIONS = pdq_kernel.DIHEDRAL


@dataclass(frozen=True)
class Bands:
    index: npt.NDArray[np.intp]  # 64 x k: which (reduced) pixels each sample reads
    weights: npt.NDArray[np.float32]  # 64 x k: their weights (zero past a band's end)


@functools.lru_cache(maxsize=256)
def axis_weights(dimension: int, scale: int, reduced: int, mirrored: bool) -> Bands:
    """The sample weights along an axis as ``pdq_kernel.axis_weights`` gives them, optionally of
    the mirrored axis (read backwards on the original pixels).

    Built from the full-resolution tent weights, each full-resolution pixel folded into the
    reduced pixel that stands for it, as the fast kernel does. The forward axis is the fast
    kernel's own table, so the unrotated variant is the plain fast PDQ hash bit for bit.
    """
    if not mirrored:
        forward = pdq_kernel.axis_weights(dimension, scale, reduced)
        return Bands(forward.index, forward.weights)
    full = pdq_kernel.axis_weights(dimension, 1, dimension)
    positions = dimension - 1 - full.index.astype(np.int64)
    columns = np.minimum(positions // scale, reduced - 1)
    rows = np.broadcast_to(np.arange(pdq_kernel.SAMPLES)[:, None], columns.shape)
    dense = np.zeros((pdq_kernel.SAMPLES, reduced))
    np.add.at(dense, (rows, columns), full.weights.astype(np.float64))
    # Back to bands: each sample reads a contiguous run of reduced pixels.
    used = dense != 0
    first = used.argmax(axis=1)
    last = reduced - 1 - used[:, ::-1].argmax(axis=1)
    width = int((last - first).max()) + 1
    offsets = first[:, None] + np.arange(width)[None, :]
    inside = offsets <= last[:, None]
    index = np.minimum(offsets, reduced - 1).astype(np.intp)
    weights = np.where(inside, np.take_along_axis(dense, index, axis=1), 0.0).astype(np.float32)
    index.setflags(write=False)
    weights.setflags(write=False)
    return Bands(index, weights)


def decimations(pixels: Pixels) -> dict[tuple[bool, bool], npt.NDArray[np.float32]]:
    """The 64x64 buffers for (rows mirrored, columns mirrored), in the original orientation."""
    luma = pixels.luma
    reduced_h, reduced_w = luma.shape
    out = {}
    for rows_mirrored in (False, True):
        rows = axis_weights(pixels.height, pixels.scale, reduced_h, rows_mirrored)
        vertical = np.einsum("ik,ikw->iw", rows.weights, luma[rows.index], dtype=np.float32)
        for cols_mirrored in (False, True):
            cols = axis_weights(pixels.width, pixels.scale, reduced_w, cols_mirrored)
            buffer = np.einsum("jk,ijk->ij", cols.weights, vertical[:, cols.index], dtype=np.float32)
            out[rows_mirrored, cols_mirrored] = buffer
    return out


def rotated_buffers(pixels: Pixels) -> list[npt.NDArray[np.float32]]:
    """Each variant's 64x64 buffer, in ``pdq.DIHEDRAL_NAMES`` order."""
    return _orient(decimations(pixels))


def _orient(buffers: dict[tuple[bool, bool], npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
    out = []
    for transpose, flip_rows, flip_cols in OPERATIONS:
        if transpose:
            # Rows of the transposed image are columns of the original: its row flip is a
            # mirror of the original's column axis, and the buffer comes back transposed.
            out.append(np.ascontiguousarray(buffers[flip_cols, flip_rows].T))
        else:
            out.append(buffers[flip_rows, flip_cols])
    return out


def pixel_dihedral_from_pixels(pixels: Pixels) -> tuple[Hash, ...]:
    """8 PDQ hashes, ``pdq.DIHEDRAL_NAMES`` order: each the hash of that rotation's pixels.

    The first is the plain fast PDQ hash of ``pixels`` (value and quality), so a caller that
    wants both computes them once.
    """
    if min(pixels.width, pixels.height) < pdq_kernel.MIN_HASHABLE_DIMENSION:
        return (Hash(Algorithm.PDQ, bytes(32), 0),) * len(OPERATIONS)
    buffers = decimations(pixels)
    # Quality sums the gradients along both axes, so a transposed buffer has its original's:
    # four decimations, four qualities.
    qualities = {key: pdq_kernel.quality(buffer) for key, buffer in buffers.items()}
    # The 8 DCTs and medians in one batch each (the per-variant work is small; the calls were not).
    bits = pdq_kernel.bits_from_dcts(pdq_kernel.dct_16(np.stack(_orient(buffers))))
    return tuple(
        Hash(Algorithm.PDQ, value, qualities[(cols, rows) if transpose else (rows, cols)])
        for value, (transpose, rows, cols) in zip(bits, OPERATIONS, strict=True)
    )
