"""Exact mode against the expected values Meta's own PDQ implementations printed.

``tests/data/images/pdq-reference/MANIFEST.tsv`` has one row per expected value. Which rows are
exact oracles depends on how the producer decoded the image:

* ``pytx_pdqhash`` (Pillow + pdqhash, what exact mode does) and ``java_imageio``: exact.
* ``wasm_cpp``: ImageMagick decode squashed to 512x512 by nearest neighbour when larger; exact
  once the same squash (source pixel ``floor(i * n / 512)``) is applied, except one image that
  upstream notes differs by 2 bits.
* ``py_pure``: pure-Python PDQ after Pillow ``thumbnail(512)``; within 2 bits once that
  thumbnail is applied, and within 10 bits (Meta's rule for file input) without it.
* everything else (2017-19 ImageMagick/libjpeg builds, GD): tolerance only, within 10 bits.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pdqhash
import pytest
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import pdq
from scanner.pipeline import HashingConfig, HashMode, hash_content
from tests.conftest import DATA

REFERENCE = DATA / "images" / "pdq-reference"
EXACT = HashingConfig(mode=HashMode.EXACT)
EXACT_PRODUCERS = {"pytx_pdqhash", "java_imageio"}
# Upstream: "15/16 reproduce; one differs by 2 bits".
WASM_KNOWN_OFF_BY_TWO = {"pdq/data/bridge-mods/sharpen-a-lot.jpg"}


@dataclass(frozen=True)
class Row:
    path: str
    expected: str
    quality: int | None
    producer: str
    dihedral: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.producer}:{self.path.rsplit('/', 1)[-1]}"


def _rows() -> list[Row]:
    with (REFERENCE / "MANIFEST.tsv").open(newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader)
        rows = []
        for path, expected, quality, _source, producer, dihedral, _note in reader:
            rows.append(
                Row(
                    path,
                    expected,
                    int(quality) if quality else None,
                    producer,
                    tuple(dihedral.split(",")) if dihedral else (),
                )
            )
    return rows


ROWS = _rows()


def _with_hash(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.expected]


def _exact_pdq(path: str) -> Hash:
    outcome = hash_content((REFERENCE / path).read_bytes(), [Algorithm.PDQ], EXACT)
    found = outcome.get(Algorithm.PDQ)
    assert found is not None, outcome
    return found


def _pdqhash(array: npt.NDArray[np.uint8]) -> Hash:
    bits, quality = pdqhash.compute(np.ascontiguousarray(array))
    return Hash.from_bits(Algorithm.PDQ, bits.tolist(), quality=int(quality))


def test_manifest_covers_every_kind_of_producer() -> None:
    producers = {r.producer for r in ROWS}
    assert {"pytx_pdqhash", "java_imageio", "wasm_cpp", "py_pure", "cpp_cli"} <= producers
    assert len(ROWS) == 84


@pytest.mark.parametrize(
    "row", [r for r in _with_hash(ROWS) if r.producer in EXACT_PRODUCERS], ids=lambda r: r.id
)
def test_exact_rows_are_reproduced_bit_for_bit(row: Row) -> None:
    found = _exact_pdq(row.path)
    assert found.hex == row.expected
    if row.quality is not None:
        assert found.quality == row.quality


@pytest.mark.parametrize("row", [r for r in _with_hash(ROWS) if r.producer == "wasm_cpp"], ids=lambda r: r.id)
def test_wasm_rows_are_exact_after_the_same_512_squash(row: Row) -> None:
    array = np.asarray(Image.open(REFERENCE / row.path).convert("RGB"))
    height, width = array.shape[:2]
    if width > 512 or height > 512:
        array = array[(np.arange(512) * height) // 512][:, (np.arange(512) * width) // 512]
    distance = _pdqhash(array).distance(Hash.from_hex(Algorithm.PDQ, row.expected))
    assert distance == (2 if row.path in WASM_KNOWN_OFF_BY_TWO else 0)


@pytest.mark.parametrize("row", [r for r in _with_hash(ROWS) if r.producer == "py_pure"], ids=lambda r: r.id)
def test_pure_python_rows_match_after_the_same_thumbnail(row: Row) -> None:
    image = Image.open(REFERENCE / row.path).convert("RGB")
    image.thumbnail((512, 512))
    assert _pdqhash(np.asarray(image)).distance(Hash.from_hex(Algorithm.PDQ, row.expected)) <= 2


@pytest.mark.parametrize(
    "row",
    [r for r in _with_hash(ROWS) if r.producer not in EXACT_PRODUCERS | {"py_pure"}],
    ids=lambda r: r.id,
)
def test_tolerance_rows_are_within_ten_bits_from_the_file(row: Row) -> None:
    # py_pure rows are hashes of a 512 px thumbnail (tested above with that thumbnail); from the
    # full-resolution file three of them are 12 bits away.
    assert _exact_pdq(row.path).distance(Hash.from_hex(Algorithm.PDQ, row.expected)) <= 10


def test_rows_without_a_hash_only_carry_dihedral_hashes() -> None:
    assert all(r.dihedral for r in ROWS if not r.expected)


def test_dct_domain_dihedral_of_the_c_plus_plus_tool_within_tolerance() -> None:
    (row,) = [r for r in ROWS if r.producer == "cpp_cli_pdqdih"]
    image = Image.open(REFERENCE / row.path)
    ours = pdq.dihedral_variants(image)
    distances = [h.distance(Hash.from_hex(Algorithm.PDQ, e)) for h, e in zip(ours, row.dihedral, strict=True)]
    assert max(distances) <= 10


TRANSPOSES = (
    None,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)


def _pixel_domain_variants(image: Image.Image) -> list[Hash]:
    return [_pdqhash(np.asarray(image if t is None else image.transpose(t))) for t in TRANSPOSES]


def test_pixel_rotations_of_pytx_are_reproduced_exactly() -> None:
    """pytx's rotations are hashes of rotated *pixels*: Pillow's transposes in DIHEDRAL_NAMES order."""
    (row,) = [r for r in ROWS if r.producer == "pytx_pdqhash_rotations"]
    image = Image.open(REFERENCE / row.path).convert("RGB")
    expected = [Hash.from_hex(Algorithm.PDQ, e) for e in row.dihedral]
    found = _pixel_domain_variants(image)
    assert [a.distance(b) for a, b in zip(found, expected, strict=True)] == [0] * 8


@pytest.mark.parametrize("name", ["sklearn_china.jpg", "bridge-1-original.jpg", "skimage_coffee.png"])
def test_dct_domain_variants_are_near_pixel_rotations_of_photographs(name: str) -> None:
    image = Image.open(REFERENCE.parent / name).convert("RGB")
    distances = [
        a.distance(b)
        for a, b in zip(pdq.dihedral_variants(image), _pixel_domain_variants(image), strict=True)
    ]
    assert distances[0] == 0
    assert max(distances) <= 16  # measured: 12 (china), 8 (bridge); the match threshold is 31


def test_dct_domain_variants_miss_pixel_rotations_of_small_noise() -> None:
    """A known limit, documented in docs/hashing.md: LA.png is 256x256 of pixel noise.

    At 256 px the box window is 2 (asymmetric: the pixel and its right neighbour) and the samples
    sit at 4i + 2, so a mirrored image is sampled one or two pixels away from the mirror of the
    original's samples. On smooth photographs that moves a few bits; on noise it decorrelates.
    """
    (row,) = [r for r in ROWS if r.producer == "pytx_pdqhash_rotations"]
    image = Image.open(REFERENCE / row.path).convert("RGB")
    expected = [Hash.from_hex(Algorithm.PDQ, e) for e in row.dihedral]
    distances = [a.distance(b) for a, b in zip(pdq.dihedral_variants(image), expected, strict=True)]
    assert distances[0] == 0
    assert distances[6] == 0  # the transpose samples the same pixels on a square image
    assert min(distances[1:6]) > 31


def test_pure_python_rows_from_the_full_resolution_file() -> None:
    """Recorded, not hidden: without the producer's 512 px thumbnail, 3 of 24 rows are 12 bits off."""
    rows = [r for r in _with_hash(ROWS) if r.producer == "py_pure"]
    distances = sorted(_exact_pdq(r.path).distance(Hash.from_hex(Algorithm.PDQ, r.expected)) for r in rows)
    assert len(rows) == 24
    assert distances[-4] <= 10
    assert distances[-3:] == [12, 12, 12]
