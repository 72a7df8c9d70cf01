"""Exact mode is the reference libraries, bit for bit, on every image we can find or make.

The oracle is what a list maker runs: Pillow opens the file at full resolution, pdqhash gets
``convert("RGB")`` unless the image is RGB already (python-threatexchange), imagehash gets the
Pillow image. Images: the natural photographs, every file of Meta's PDQ test data, and synthetic
images in every Pillow mode and every accepted format, plus Hypothesis-made ones.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import pdq, pdq_kernel
from scanner.outcomes import Outcome
from scanner.pipeline import HashingConfig, HashMode, hash_content
from tests.conftest import DATA

IMAGES = DATA / "images"
EXACT = HashingConfig(mode=HashMode.EXACT)
ALL = tuple(Algorithm)
IMAGEHASH = {
    Algorithm.PHASH: imagehash.phash,
    Algorithm.DHASH: imagehash.dhash,
    Algorithm.AHASH: imagehash.average_hash,
    Algorithm.WHASH: imagehash.whash,
}


def image_files() -> list[Path]:
    return sorted(p for p in IMAGES.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})


def reference(content: bytes) -> dict[Algorithm, str]:
    """What pdqhash, imagehash and hashlib print for ``content``."""
    image = Image.open(io.BytesIO(content))
    image.load()
    bits, quality = pdqhash.compute(np.asarray(image if image.mode == "RGB" else image.convert("RGB")))
    out = {Algorithm.PDQ: Hash.from_bits(Algorithm.PDQ, bits.tolist()).hex + f"/{quality}"}
    for algorithm, function in IMAGEHASH.items():
        out[algorithm] = str(function(image))
    out[Algorithm.MD5] = hashlib.md5(content).hexdigest()
    out[Algorithm.SHA1] = hashlib.sha1(content).hexdigest()
    return out


def ours(content: bytes) -> dict[Algorithm, str]:
    outcome = hash_content(content, ALL, EXACT)
    assert outcome.outcome.hashed, outcome
    found = {}
    for value in outcome.hashes:
        found[value.algorithm] = value.hex + (f"/{value.quality}" if value.algorithm is Algorithm.PDQ else "")
    return found


@pytest.mark.parametrize("path", image_files(), ids=lambda p: p.name)
def test_every_test_image_hashes_exactly_as_the_references(path: Path) -> None:
    content = path.read_bytes()
    assert ours(content) == reference(content)


def _encoded_variants() -> Iterator[tuple[str, bytes]]:
    """Each Pillow mode, saved in each accepted format that can hold it."""
    base = Image.open(IMAGES / "skimage_chelsea.png").convert("RGB")
    alpha = Image.linear_gradient("L").resize(base.size)
    rgba = base.copy()
    rgba.putalpha(alpha)
    modes: dict[str, Image.Image] = {
        "RGB": base,
        "RGBA": rgba,
        "L": base.convert("L"),
        "LA": rgba.convert("LA"),
        "P": base.convert("P", palette=Image.Palette.ADAPTIVE),
        "PA": rgba.convert("PA"),
        "1": base.convert("1"),
        "CMYK": base.convert("CMYK"),
        "I;16": Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257),
        "I": base.convert("I"),
        "F": base.convert("F"),
    }
    formats = {
        "PNG": {"RGB", "RGBA", "L", "LA", "P", "1", "I;16"},
        "JPEG": {"RGB", "L", "CMYK"},
        "WEBP": {"RGB", "RGBA"},
        "BMP": {"RGB", "L", "P", "1"},
        "TIFF": {"RGB", "RGBA", "L", "LA", "P", "1", "CMYK", "I;16", "I", "F"},
        "GIF": {"P", "L"},
    }
    for fmt, accepted in formats.items():
        for mode in sorted(accepted):
            out = io.BytesIO()
            modes[mode].save(out, fmt)
            yield f"{mode}.{fmt.lower()}", out.getvalue()


VARIANTS = list(_encoded_variants())


@pytest.mark.parametrize(("name", "content"), VARIANTS, ids=[n for n, _ in VARIANTS])
def test_every_mode_in_every_format_hashes_exactly_as_the_references(name: str, content: bytes) -> None:
    assert ours(content) == reference(content)


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    mode=st.sampled_from(["RGB", "L", "RGBA", "P"]),
    fmt=st.sampled_from(["PNG", "BMP", "TIFF"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_images_hash_exactly_as_the_references(
    width: int, height: int, mode: str, fmt: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    # Smooth random fields (noise upsampled) look more like images than white noise does.
    small = rng.integers(0, 256, (max(1, height // 16), max(1, width // 16), 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR).convert(mode)
    out = io.BytesIO()
    image.save(out, fmt)
    assert ours(out.getvalue()) == reference(out.getvalue())


def test_exact_dihedral_variants_are_pdqhash_of_the_rotated_pixels() -> None:
    # Not pdqhash.compute_dihedral: its variants come from the DCT and miss rotated files by
    # 6-28 bits on photographs (docs/matching.md); ours are the rotated pixels' own hashes.
    content = (IMAGES / "sklearn_flower.jpg").read_bytes()
    outcome = hash_content(content, [Algorithm.PDQ], HashingConfig(mode=HashMode.EXACT, dihedral=True))
    pixels = np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))
    rotated = [
        pixels,
        np.rot90(pixels, 1),
        np.rot90(pixels, 2),
        np.rot90(pixels, 3),
        pixels[::-1],
        pixels[:, ::-1],
        pixels.transpose(1, 0, 2),
        np.rot90(pixels, 2).transpose(1, 0, 2),
    ]
    expected = []
    for array in rotated:
        bits, quality = pdqhash.compute(np.ascontiguousarray(array))
        expected.append((Hash.from_bits(Algorithm.PDQ, bits.tolist()).hex, int(quality)))
    assert [(h.hex, h.quality) for h in outcome.dihedral] == expected
    assert outcome.dihedral[0] == outcome.get(Algorithm.PDQ)


@pytest.mark.parametrize("path", image_files()[:20], ids=lambda p: p.name)
def test_kernel_on_full_resolution_luma_is_pdqhash(path: Path) -> None:
    """The fast path's kernel, fed full-resolution float luma, gives the reference's exact output."""
    image = Image.open(path).convert("RGB")
    buffer = pdq_kernel.sample_64(np.asarray(image.convert("F")), image.width, image.height, 1)
    bits, quality = pdqhash.compute(np.asarray(image))
    assert (
        pdq_kernel.bits_from_dct(pdq_kernel.dct_16(buffer))
        == Hash.from_bits(Algorithm.PDQ, bits.tolist()).value
    )
    assert pdq_kernel.quality(buffer) == quality


@settings(max_examples=60, deadline=None)
@given(width=st.integers(64, 700), height=st.integers(64, 700), seed=st.integers(0, 2**32 - 1))
def test_kernel_matches_pdqhash_on_random_images(width: int, height: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(noise)
    buffer = pdq_kernel.sample_64(np.asarray(image.convert("F")), width, height, 1)
    bits, quality = pdqhash.compute(noise)
    expected = Hash.from_bits(Algorithm.PDQ, bits.tolist())
    assert Hash(Algorithm.PDQ, pdq_kernel.bits_from_dct(pdq_kernel.dct_16(buffer))) == expected
    assert pdq_kernel.quality(buffer) == quality


@pytest.mark.parametrize("size", [(1, 1), (4, 300), (300, 4), (5, 5)])
def test_slivers_follow_the_reference(size: tuple[int, int]) -> None:
    """Under 5 px the reference gives an all-zero hash of quality 0; both modes say LOW_QUALITY."""
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(out, "PNG")
    for mode in HashMode:
        outcome = hash_content(out.getvalue(), [Algorithm.PDQ], HashingConfig(mode=mode))
        found = outcome.get(Algorithm.PDQ)
        assert found is not None
        assert outcome.outcome is Outcome.LOW_QUALITY
        assert found.quality == 0
        if min(size) < 5:
            assert found.value == bytes(32)


def test_dihedral_variants_helper_on_a_decoded_image() -> None:
    image = Image.open(IMAGES / "skimage_astronaut.png")
    exact = pdq.dihedral_variants(image)
    fast = pdq.dihedral_variants(image, exact=False)
    assert len(exact) == len(fast) == 8
    assert all(a.distance(b) <= 2 for a, b in zip(exact, fast, strict=True))
