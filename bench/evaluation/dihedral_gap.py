"""Why PDQ's DCT-domain variants differ from hashing rotated pixels, measured per image.

For each original: ``pdqhash.compute_dihedral`` (the DCT-domain variants, what exact mode's
``dihedral=True`` returns) against ``pdqhash.compute`` of the rotated / mirrored pixel array,
per variant; and for each axis the shift between a sample of the mirrored image and the sample
of the original it should land on (tent centres of mass from ``pdq_kernel.axis_weights``), in
pixels and in sample spacings. A transpose never moves samples; a mirror moves them by that
shift, so the gap is zero exactly along axes whose shift is zero.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from scanner.hashing import pdq_kernel
from scanner.hashing.pdq import DIHEDRAL_NAMES

from .report import table

Array = npt.NDArray[np.uint8]

OPERATIONS: dict[str, Callable[[Array], Array]] = {
    "original": lambda a: a,
    "rot90": lambda a: np.rot90(a, 1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, 3),
    "flip_vertical": lambda a: a[::-1],
    "flip_horizontal": lambda a: a[:, ::-1],
    "flip_plus1": lambda a: a.transpose(1, 0, 2),
    "flip_minus1": lambda a: np.rot90(a, 2).transpose(1, 0, 2),
}


def mirror_shift(dimension: int) -> float:
    """Median distance (px) between the mirrored image's samples and the original's, on one axis."""
    axis = pdq_kernel.axis_weights(dimension, 1, dimension)
    weights = axis.weights.astype(np.float64)
    centres = (axis.index * weights).sum(axis=1) / weights.sum(axis=1)
    # Sample i of the mirrored image, in the original's coordinates, against sample 63 - i.
    shifts = centres[::-1] - (dimension - 1 - centres)
    return float(np.median(np.abs(shifts)))


def gap_rows(named_images: list[tuple[str, Image.Image]]) -> list[list[str]]:
    rows = []
    for name, image in named_images:
        rgb = np.asarray(image.convert("RGB"))
        variants, _ = pdqhash.compute_dihedral(rgb)
        gaps = []
        for k, op in enumerate(DIHEDRAL_NAMES):
            bits, _ = pdqhash.compute(np.ascontiguousarray(OPERATIONS[op](rgb)))
            gaps.append(str(int((variants[k] != bits).sum())))
        shifts = []
        for dimension in image.size:
            shift = mirror_shift(dimension)
            shifts.append(f"{dimension}: {shift:.1f} px ({shift / (dimension / 64):.2f})")
        rows.append([name, *shifts, *gaps[1:]])
    return rows


def gap_table(named_images: list[tuple[str, Image.Image]], markdown: bool) -> str:
    header = ["image", "width: mirror shift", "height: mirror shift", *DIHEDRAL_NAMES[1:]]
    return table(header, gap_rows(named_images), markdown)
