"""Pixel-domain dihedral variants: the hash of each rotated / mirrored copy, without re-decoding."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pdqhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.decode import DecodeLimits, decode
from scanner.hashing import pdq, pdq_kernel
from scanner.hashing.pdq_rotations import pixel_dihedral_from_pixels, rotated_buffers
from scanner.hashing.pixels import Pixels
from tests.conftest import DATA

IMAGES = DATA / "images"
Array = npt.NDArray[np.uint8]

# The pixel operation behind each name in pdq.DIHEDRAL_NAMES (rot90 is counter-clockwise).
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


def _reference(rgb: Array) -> list[Hash]:
    out = []
    for name in pdq.DIHEDRAL_NAMES:
        bits, quality = pdqhash.compute(np.ascontiguousarray(OPERATIONS[name](rgb)))
        out.append(Hash.from_bits(Algorithm.PDQ, bits.tolist(), quality=int(quality)))
    return out


def _full_resolution(image: Image.Image) -> Pixels:
    return Pixels(image.width, image.height, 1, np.asarray(image.convert("F")), image.convert("L"))


def _noise(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    # Smooth noise (upscaled) hashes with full quality, like a photograph.
    return Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)


@pytest.mark.parametrize("name", ["skimage_astronaut.png", "skimage_page.png", "bridge-1-original.jpg"])
def test_photographs_match_pdqhash_on_rotated_pixels(name: str) -> None:
    image = Image.open(IMAGES / name).convert("RGB")
    ours = pixel_dihedral_from_pixels(_full_resolution(image))
    reference = _reference(np.asarray(image))
    assert [h.hex for h in ours] == [h.hex for h in reference]
    assert [h.quality for h in ours] == [h.quality for h in reference]


@pytest.mark.parametrize(("width", "height"), [(96, 80), (100, 37), (257, 131), (300, 301), (640, 427)])
def test_any_size_matches_pdqhash_on_rotated_pixels(width: int, height: int) -> None:
    image = _noise(width, height, seed=width * 1000 + height)
    ours = pixel_dihedral_from_pixels(_full_resolution(image))
    assert [h.hex for h in ours] == [h.hex for h in _reference(np.asarray(image))]


def _fast_frames() -> list[Pixels]:
    """What fast mode hashes: reduced JPEG decodes, full-size PNGs, crops at odd offsets."""
    out = []
    for path in sorted(p for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png")):
        # As the pipeline prepares a frame in fast mode (JPEGs decoded at reduced scale).
        decoded = decode(path.read_bytes(), DecodeLimits(), jpeg_scale=0)
        frame = decoded.frames[0]
        pixels = Pixels.from_image(frame.image, decoded.width, decoded.height, frame.scale)
        out.append(pixels)
        h, w = pixels.luma.shape
        out.append(
            Pixels(
                (w - 7) * pixels.scale,
                (h - 3) * pixels.scale,
                pixels.scale,
                pixels.luma[1 : h - 2, 3 : w - 4].copy(),
                pixels.gray,
            )
        )
    # Low contrast: photographs saturate PDQ's quality at 100, these do not, so each variant's
    # own quality shows.
    for seed, (width, height) in enumerate([(301, 157), (640, 480), (1200, 900)]):
        faint = Image.fromarray((np.asarray(_noise(width, height, seed)) // 8 + 60).astype(np.uint8))
        out.append(Pixels.from_image(faint, width, height))
    return out


def test_the_first_variant_is_the_plain_hash() -> None:
    # Fast mode takes PDQ's plain hash from the variants: it must be the plain kernel's answer,
    # value and quality, on every kind of frame fast mode sees.
    frames = _fast_frames()
    assert {p.scale for p in frames} > {1}
    assert min(pdq.PdqHasher().hash_pixels(p).quality or 0 for p in frames) < 50
    for pixels in frames:
        first = pixel_dihedral_from_pixels(pixels)[0]
        plain = pdq.PdqHasher().hash_pixels(pixels)
        assert (first.hex, first.quality) == (plain.hex, plain.quality)


def test_the_batch_equals_each_variant_computed_alone() -> None:
    # Oracle: each rotated buffer through the DCT, the median and the quality one at a time.
    varied = 0
    for pixels in _fast_frames():
        alone = [
            (pdq_kernel.bits_from_dct(pdq_kernel.dct_16(b)).hex(), pdq_kernel.quality(b))
            for b in rotated_buffers(pixels)
        ]
        assert [(h.hex, h.quality) for h in pixel_dihedral_from_pixels(pixels)] == alone
        varied += len({q for _, q in alone}) > 1
    assert varied  # some frame's variants differ in quality: the test can tell them apart


def test_mirrors_close_the_gap_the_dct_variants_leave() -> None:
    # 512 px: the DCT-domain mirrors sit 14-16 bits from the mirrored pixels' hashes.
    image = Image.open(IMAGES / "skimage_astronaut.png").convert("RGB")
    pixels = _full_resolution(image)
    reference = _reference(np.asarray(image))
    dct_gap = [v.distance(r) for v, r in zip(pdq.dihedral_from_pixels(pixels), reference, strict=True)]
    assert max(dct_gap) >= 10
    assert [v.distance(r) for v, r in zip(pixel_dihedral_from_pixels(pixels), reference, strict=True)] == [
        0
    ] * 8


def test_reduced_decode_stays_close() -> None:
    image = Image.open(IMAGES / "bridge-1-original.jpg").convert("RGB")
    pixels = Pixels.from_image(image, image.width, image.height)
    assert pixels.scale > 1
    distances = [
        v.distance(r)
        for v, r in zip(pixel_dihedral_from_pixels(pixels), _reference(np.asarray(image)), strict=True)
    ]
    assert max(distances) <= 4


def test_slivers_get_the_reference_answer() -> None:
    image = Image.new("RGB", (3, 200), (10, 20, 30))
    assert all(
        h.quality == 0 and h.value == bytes(32) for h in pixel_dihedral_from_pixels(_full_resolution(image))
    )


@settings(max_examples=40, deadline=None)
@given(
    columns=st.integers(5, 300),
    rows=st.integers(5, 300),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1, 2, 3]),
)
def test_each_variant_is_the_kernel_on_the_rotated_pixels(
    columns: int, rows: int, seed: int, scale: int
) -> None:
    # Against our own kernel fed the rotated array, at any size and from reduced inputs too:
    # the mirrored weights must give exactly what the kernel computes on the mirrored image.
    # (Sizes are multiples of the scale: a reduced axis of n pixels then holds n / s of them,
    # and reversing it is reversing the full-resolution axis.)
    width, height = columns * scale, rows * scale
    image = _noise(width, height, seed)
    reduced = np.asarray(image.convert("F"))[::scale, ::scale]
    ours = pixel_dihedral_from_pixels(Pixels(width, height, scale, reduced, image.convert("L")))
    for name, variant in zip(pdq.DIHEDRAL_NAMES, ours, strict=True):
        rotated = np.ascontiguousarray(OPERATIONS[name](reduced[:, :, None])[:, :, 0])
        size = (height, width) if name in TRANSPOSING else (width, height)
        expected = pdq.dihedral_from_pixels(Pixels(*size, scale, rotated, image.convert("L")), variants=1)[0]
        if variant.hex == expected.hex:
            continue
        # Bits may differ only where the coefficient ties with the median: pictures that are
        # nearly constant or linear along an axis (a few px, or 64 px with no blur) put dozens
        # of coefficients within 1e-5 of it, and float32 summation order (1e-5 apart in the
        # buffer) decides those bits, in the reference as anywhere.
        block = pdq_kernel.dct_16(pdq_kernel.sample_64(rotated, *size, scale)).ravel()[::-1]
        ties = np.abs(block - np.partition(block, 127)[127]) < 1e-3
        ours_bits = np.unpackbits(np.frombuffer(variant.value, np.uint8)).astype(bool)
        expected_bits = np.unpackbits(np.frombuffer(expected.value, np.uint8)).astype(bool)
        assert not ((ours_bits != expected_bits) & ~ties).any(), name


TRANSPOSING = ("rot90", "rot270", "flip_plus1", "flip_minus1")
