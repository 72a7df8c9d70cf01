"""Fast mode against the slow oracle (exact mode: pdqhash and imagehash on a full decode).

Fast mode's promise: PDQ within 2 bits of exact at the 99th percentile on photographs, pHash
within a few. The corpus is the test photographs resized to 0.3-12 MP and randomly cropped,
JPEG quality 70-95, as in bench/bench_hashing.py (which prints the same figures on a larger set).
"""

from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import ahash, dhash, pdq, pdq_kernel, phash, whash
from scanner.outcomes import Outcome
from scanner.pipeline import HashingConfig, HashMode, hash_content
from tests.conftest import DATA
from tests.scanner.hashing.test_hashing_exact import VARIANTS

IMAGES = DATA / "images"
PHOTOS = [
    "skimage_astronaut.png",
    "skimage_camera.png",
    "skimage_chelsea.png",
    "skimage_coffee.png",
    "skimage_rocket.jpg",
    "skimage_hubble_deep_field.jpg",
    "sklearn_china.jpg",
    "sklearn_flower.jpg",
    "bridge-1-original.jpg",
]
ALL_IMAGES = sorted(p for p in IMAGES.glob("*") if p.suffix in {".png", ".jpg"})
EXACT = HashingConfig(mode=HashMode.EXACT)
FAST = HashingConfig(mode=HashMode.FAST)


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _corpus() -> list[bytes]:
    rng = np.random.default_rng(7)
    out = []
    for name in PHOTOS:
        image = Image.open(IMAGES / name).convert("RGB")
        for megapixels in (0.3, 1.0, 2.0, 3.0):
            w = int(image.width * rng.uniform(0.6, 1.0))
            h = int(image.height * rng.uniform(0.6, 1.0))
            left = int(rng.integers(0, image.width - w + 1))
            top = int(rng.integers(0, image.height - h + 1))
            crop = image.crop((left, top, left + w, top + h))
            height = round((megapixels * 1e6 * h / w) ** 0.5)
            resized = crop.resize((round(height * w / h), height), Image.Resampling.LANCZOS)
            out.append(_jpeg(resized, int(rng.integers(70, 96))))
    return out


@pytest.fixture(scope="module")
def drifts() -> dict[Algorithm, list[int]]:
    found: dict[Algorithm, list[int]] = {Algorithm.PDQ: [], Algorithm.PHASH: []}
    for content in _corpus():
        exact = hash_content(content, list(found), EXACT)
        fast = hash_content(content, list(found), FAST)
        for algorithm, into in found.items():
            a, b = exact.get(algorithm), fast.get(algorithm)
            assert a is not None and b is not None
            into.append(a.distance(b))
    return found


def test_fast_pdq_is_within_two_bits_at_the_99th_percentile(drifts: dict[Algorithm, list[int]]) -> None:
    values = drifts[Algorithm.PDQ]
    assert len(values) == 36
    assert np.percentile(values, 99) <= 2
    assert np.median(values) == 0
    assert max(values) <= 4


def test_fast_phash_stays_close(drifts: dict[Algorithm, list[int]]) -> None:
    values = drifts[Algorithm.PHASH]
    assert np.percentile(values, 99) <= 4
    assert max(values) <= 6


@pytest.mark.parametrize("megapixels", [12.0])
def test_large_jpeg_drift(megapixels: float) -> None:
    image = Image.open(IMAGES / "bridge-1-original.jpg").convert("RGB")
    height = round((megapixels * 1e6 * image.height / image.width) ** 0.5)
    content = _jpeg(image.resize((round(height * image.width / image.height), height)))
    exact = hash_content(content, [Algorithm.PDQ, Algorithm.PHASH], EXACT)
    fast = hash_content(content, [Algorithm.PDQ, Algorithm.PHASH], FAST)
    assert all(a.distance(b) <= 2 for a, b in zip(exact.hashes, fast.hashes, strict=True))


@pytest.mark.parametrize("path", ALL_IMAGES, ids=lambda p: p.name)
def test_every_test_image_fast_is_near_exact(path: Path) -> None:
    algorithms = [Algorithm.PDQ, Algorithm.PHASH, Algorithm.DHASH, Algorithm.AHASH, Algorithm.WHASH]
    exact = hash_content(path.read_bytes(), algorithms, EXACT)
    fast = hash_content(path.read_bytes(), algorithms, FAST)
    assert fast.outcome is exact.outcome
    distances = {a.algorithm: a.distance(b) for a, b in zip(exact.hashes, fast.hashes, strict=True)}
    assert distances[Algorithm.PDQ] <= 2
    # aHash and dHash threshold single pixels of an 8 px thumbnail: a texture (brick) moves them
    # the most; they are not in the default set.
    assert distances[Algorithm.PHASH] <= 4
    assert distances[Algorithm.WHASH] <= 4
    assert distances[Algorithm.AHASH] <= 6
    assert distances[Algorithm.DHASH] <= 6


@pytest.mark.parametrize("path", ALL_IMAGES, ids=lambda p: p.name)
def test_fast_imagehash_arithmetic_is_imagehash_without_the_box_reduce(path: Path) -> None:
    """With ``reducing_gap=None`` our fast 64-bit hashes are imagehash's functions, bit for bit."""
    image = Image.open(path)
    assert phash.fast(image, None).hex == str(imagehash.phash(image))
    assert ahash.fast(image, None).hex == str(imagehash.average_hash(image))
    assert dhash.fast(image, None).hex == str(imagehash.dhash(image))
    assert whash.fast(image, image.width, image.height, None).hex == str(imagehash.whash(image))


@pytest.mark.parametrize("name", PHOTOS)
def test_fast_dihedral_variants_are_near_pdqhash_compute_dihedral(name: str) -> None:
    content = (IMAGES / name).read_bytes()
    exact = hash_content(content, [Algorithm.PDQ], HashingConfig(mode=HashMode.EXACT, dihedral=True))
    fast = hash_content(content, [Algorithm.PDQ], HashingConfig(mode=HashMode.FAST, dihedral=True))
    assert len(exact.dihedral) == len(fast.dihedral) == 8
    # Each variant has its own median, so near-median coefficients differ per variant: the
    # original is within 2 bits, a variant occasionally 4 (hubble: 0, 2, 0, 4, 4, 2, 0, 0).
    distances = [a.distance(b) for a, b in zip(exact.dihedral, fast.dihedral, strict=True)]
    assert distances[0] <= 2
    assert max(distances) <= 4
    assert fast.dihedral[0] == fast.get(Algorithm.PDQ)


def test_dihedral_variants_of_a_rotated_file_match_the_original() -> None:
    """What dihedral matching is for: a rotated upload still matches the listed original."""
    image = Image.open(IMAGES / "sklearn_china.jpg").convert("RGB")
    original = hash_content(_jpeg(image), [Algorithm.PDQ], HashingConfig(dihedral=True))
    rotated = hash_content(_jpeg(image.transpose(Image.Transpose.ROTATE_90)), [Algorithm.PDQ])
    found = rotated.get(Algorithm.PDQ)
    assert found is not None
    distances = [found.distance(v) for v in original.dihedral]
    assert distances.index(min(distances)) == pdq.DIHEDRAL_NAMES.index("rot90")
    assert min(distances) <= 31


@settings(max_examples=200, deadline=None)
@given(dimension=st.integers(5, 20_000), scale=st.sampled_from([1, 2, 4, 8]))
def test_sample_weights_are_normalised_and_in_bounds(dimension: int, scale: int) -> None:
    reduced = -(-dimension // scale)
    weights = pdq_kernel.axis_weights(dimension, scale, reduced)
    assert weights.index.shape == weights.weights.shape
    assert weights.index.shape[0] == pdq_kernel.SAMPLES
    assert weights.index.min() >= 0
    assert weights.index.max() < reduced
    assert (weights.weights >= 0).all()
    np.testing.assert_allclose(weights.weights.sum(axis=1), 1.0, rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(width=st.integers(600, 2500), height=st.integers(600, 2500), seed=st.integers(0, 2**32 - 1))
def test_box_reduced_luma_samples_close_to_full_resolution(width: int, height: int, seed: int) -> None:
    """The reduced-scale weights (block sums of the tent) approximate the full computation."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 40 + 2, width // 40 + 2), dtype=np.uint8)
    luma = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC).convert("F")
    full = pdq_kernel.sample_64(np.asarray(luma), width, height, 1)
    scale = pdq_kernel.choose_scale(width, height)
    reduced = pdq_kernel.sample_64(np.asarray(luma.reduce(scale)), width, height, scale)
    # Grey levels on a 0-255 scale, for a random field with features of ~40 px (sharper than
    # most photographs at this size); how many bits this moves is measured on photographs above.
    error = np.abs(full - reduced)
    assert error.max() < 4.0
    assert error.mean() < 0.5


@pytest.mark.parametrize(
    ("size", "scale"),
    [
        ((640, 480), 1),
        ((1000, 750), 2),
        ((1225, 817), 2),
        ((2000, 1500), 4),
        ((4000, 3000), 8),
        ((400, 9000), 1),
    ],
)
def test_decode_scale_by_size(size: tuple[int, int], scale: int) -> None:
    assert pdq_kernel.choose_scale(*size) == scale


def test_flat_image_is_low_quality_in_fast_mode_too() -> None:
    content = _jpeg(Image.new("RGB", (1200, 900), (90, 120, 200)))
    for config in (EXACT, FAST):
        outcome = hash_content(content, config=config)
        assert outcome.outcome is Outcome.LOW_QUALITY
        found = outcome.get(Algorithm.PDQ)
        assert found is not None and not found.trustworthy
        assert outcome.get(Algorithm.MD5) is not None


def test_fast_hashes_are_typed_values() -> None:
    outcome = hash_content((IMAGES / "sklearn_flower.jpg").read_bytes(), tuple(Algorithm), FAST)
    assert [h.algorithm for h in outcome.hashes] == list(Algorithm)
    for value in outcome.hashes:
        assert Hash.from_hex(value.algorithm, value.hex) == value


@pytest.mark.parametrize(("name", "content"), VARIANTS, ids=[n for n, _ in VARIANTS])
def test_every_mode_in_every_format_fast_is_near_exact(name: str, content: bytes) -> None:
    exact = hash_content(content, [Algorithm.PDQ, Algorithm.PHASH], EXACT)
    fast = hash_content(content, [Algorithm.PDQ, Algorithm.PHASH], FAST)
    assert fast.outcome is exact.outcome
    pdq_distance, phash_distance = (a.distance(b) for a, b in zip(exact.hashes, fast.hashes, strict=True))
    assert phash_distance <= 4
    # A flat image (16-bit values all clip to white in convert("RGB")) has quality 0: its PDQ
    # bits are float noise in both modes and are never matched.
    if exact.outcome is Outcome.SCANNED:
        assert pdq_distance <= 2
