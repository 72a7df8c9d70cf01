"""hash_content end to end: animations, transparency, orientation, outcomes and its contract."""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing import registry
from scanner.hashing.pdq import DIHEDRAL_NAMES
from scanner.outcomes import Outcome
from scanner.pipeline import (
    DEFAULT_ALGORITHMS,
    HashingConfig,
    HashMode,
    HashOutcome,
    byte_hashes,
    hash_content,
)

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
EXACT = HashingConfig(mode=HashMode.EXACT)
FAST = HashingConfig(mode=HashMode.FAST)
PHOTOS = ["sklearn_china.jpg", "skimage_coffee.png", "skimage_astronaut.png", "sklearn_flower.jpg"]


def _frames(count: int, size: tuple[int, int] = (320, 240)) -> list[Image.Image]:
    sources = [Image.open(IMAGES / name).convert("RGB") for name in PHOTOS]
    out = []
    for i in range(count):
        source = sources[i % len(sources)]
        left = (i * 37) % (source.width - size[0])
        out.append(source.crop((left, 0, left + size[0], size[1])))
    return out


def _animation(fmt: str, frames: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=40, loop=0)
    return out.getvalue()


def _reference_frames(content: bytes) -> list[tuple[str, str]]:
    """(PDQ hex, pHash hex) of every frame, computed the reference way."""
    image = Image.open(io.BytesIO(content))
    out = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frame = image.convert("RGB")
        bits, _ = pdqhash.compute(np.asarray(frame))
        out.append((Hash.from_bits(Algorithm.PDQ, bits.tolist()).hex, str(imagehash.phash(image))))
    return out


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_every_frame_of_a_short_animation_is_hashed_exactly(fmt: str) -> None:
    content = _animation(fmt, _frames(3))
    outcome = hash_content(content, [Algorithm.PDQ, Algorithm.PHASH], EXACT)
    assert outcome.outcome is Outcome.SCANNED
    assert outcome.frame_count == 3
    assert [h.frame for h in outcome.all(Algorithm.PDQ)] == [0, 1, 2]
    expected = _reference_frames(content)
    assert [h.hex for h in outcome.all(Algorithm.PDQ)] == [pdq for pdq, _ in expected]
    assert [h.hex for h in outcome.all(Algorithm.PHASH)] == [phash for _, phash in expected]


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_fast_mode_hashes_the_same_frames_within_a_few_bits(fmt: str) -> None:
    content = _animation(fmt, _frames(3))
    exact = hash_content(content, [Algorithm.PDQ, Algorithm.PHASH], EXACT)
    fast = hash_content(content, [Algorithm.PDQ, Algorithm.PHASH], FAST)
    assert [(h.algorithm, h.frame) for h in exact.hashes] == [(h.algorithm, h.frame) for h in fast.hashes]
    assert max(a.distance(b) for a, b in zip(exact.hashes, fast.hashes, strict=True)) <= 2


def test_long_animations_are_sampled_evenly() -> None:
    content = _animation("WEBP", _frames(30, (96, 64)))
    outcome = hash_content(content, [Algorithm.PDQ, Algorithm.MD5], FAST)
    assert outcome.frame_count == 30
    frames = [h.frame for h in outcome.all(Algorithm.PDQ)]
    assert len(frames) == 8
    assert frames[0] == 0 and frames[-1] == 29
    assert "hashed frames 0, 4, 8" in outcome.reason
    # The bytes are hashed once, as frame 0.
    assert [h.frame for h in outcome.all(Algorithm.MD5)] == [0]


def test_a_flat_first_frame_does_not_make_the_animation_low_quality() -> None:
    frames = [Image.new("RGB", (320, 240), "black"), *_frames(2)]
    outcome = hash_content(_animation("GIF", frames), [Algorithm.PDQ], FAST)
    assert outcome.outcome is Outcome.SCANNED
    qualities = [h.quality or 0 for h in outcome.all(Algorithm.PDQ)]
    assert qualities[0] == 0 and min(qualities[1:]) >= 50


def test_transparency_is_dropped_like_the_references_do() -> None:
    """Alpha is discarded, not composited: the colour under transparent pixels is hashed."""
    rgb = Image.open(IMAGES / "skimage_chelsea.png").convert("RGB")
    rgba = rgb.copy()
    alpha = np.full((rgb.height, rgb.width), 255, dtype=np.uint8)
    alpha[:, : rgb.width // 2] = 0  # the left half fully transparent
    rgba.putalpha(Image.fromarray(alpha))
    encoded = {}
    for name, image in (("rgb", rgb), ("rgba", rgba)):
        out = io.BytesIO()
        image.save(out, "PNG")
        encoded[name] = out.getvalue()
    for config in (EXACT, FAST):
        plain = hash_content(encoded["rgb"], [Algorithm.PDQ, Algorithm.PHASH], config)
        transparent = hash_content(encoded["rgba"], [Algorithm.PDQ, Algorithm.PHASH], config)
        assert plain.hashes == transparent.hashes


def test_exif_orientation_is_not_applied() -> None:
    """Stored pixels are hashed; a rotated copy is caught by the dihedral variants."""
    image = Image.open(IMAGES / "sklearn_china.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    plain, tagged = io.BytesIO(), io.BytesIO()
    image.save(plain, "JPEG", quality=95)
    image.save(tagged, "JPEG", quality=95, exif=exif)
    for config in (EXACT, FAST):
        a = hash_content(plain.getvalue(), [Algorithm.PDQ, Algorithm.PHASH], config)
        b = hash_content(tagged.getvalue(), [Algorithm.PDQ, Algorithm.PHASH], config)
        assert a.hashes == b.hashes
        assert (b.width, b.height) == image.size
    upright = hash_content(plain.getvalue(), [Algorithm.PDQ], HashingConfig(dihedral=True))
    displayed = io.BytesIO()
    image.transpose(Image.Transpose.ROTATE_270).save(displayed, "JPEG", quality=95)
    shown = hash_content(displayed.getvalue(), [Algorithm.PDQ]).get(Algorithm.PDQ)
    assert shown is not None
    distances = [shown.distance(v) for v in upright.dihedral]
    assert DIHEDRAL_NAMES[distances.index(min(distances))] == "rot270"
    assert min(distances) <= 31


def test_outcome_describes_the_image() -> None:
    content = (IMAGES / "skimage_coffee.png").read_bytes()
    outcome = hash_content(content)
    assert (outcome.width, outcome.height, outcome.format, outcome.frame_count) == (600, 400, "PNG", 1)
    default = [Algorithm.PDQ, Algorithm.PHASH, Algorithm.MD5, Algorithm.SHA1]
    assert [h.algorithm for h in outcome.hashes] == default
    assert list(DEFAULT_ALGORITHMS) == default
    md5 = outcome.get(Algorithm.MD5)
    assert md5 is not None and md5.hex == hashlib.md5(content).hexdigest()


def test_byte_hashes_need_no_decoding() -> None:
    outcome = hash_content(b"%PDF-1.4 not an image", [Algorithm.MD5, Algorithm.SHA1])
    assert outcome.outcome is Outcome.SCANNED
    sha1 = outcome.get(Algorithm.SHA1)
    assert sha1 is not None and sha1.hex == hashlib.sha1(b"%PDF-1.4 not an image").hexdigest()


def test_repeated_algorithms_are_hashed_once() -> None:
    content = (IMAGES / "sklearn_flower.jpg").read_bytes()
    outcome = hash_content(content, [Algorithm.PDQ, Algorithm.PDQ, "md5"])  # type: ignore[list-item]
    assert [h.algorithm for h in outcome.hashes] == [Algorithm.PDQ, Algorithm.MD5]


def test_unknown_algorithm_is_an_outcome_not_an_exception() -> None:
    outcome = hash_content(b"x", ["nope"])  # type: ignore[list-item]
    assert outcome.outcome is Outcome.INTERNAL_ERROR
    assert "nope" in outcome.reason


def test_a_failing_hasher_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = registry.get(Algorithm.PHASH)

    def broken(*_: object) -> Hash:
        raise RuntimeError("native library fell over")

    monkeypatch.setattr(hasher, "hash_pixels", broken)
    monkeypatch.setattr(hasher, "hash_image", broken)
    for config in (EXACT, FAST):
        content = (IMAGES / "sklearn_flower.jpg").read_bytes()
        outcome = hash_content(content, config=config)
        # The bytes' own hashes were computed before the failure and are kept.
        exact = byte_hashes(content, DEFAULT_ALGORITHMS)
        assert [h.algorithm for h in exact] == [Algorithm.MD5, Algorithm.SHA1]
        assert outcome == HashOutcome(Outcome.INTERNAL_ERROR, exact, reason="hashing failed: RuntimeError")


def test_palette_with_per_entry_transparency_hashes_like_the_references() -> None:
    """Pillow warns on converting such images (tests turn warnings into errors): no INTERNAL_ERROR."""
    image = Image.open(IMAGES / "skimage_chelsea.png").convert("P", palette=Image.Palette.ADAPTIVE)
    out = io.BytesIO()
    image.save(out, "PNG", transparency=bytes(range(256)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _reference_frames(out.getvalue())
    for config in (EXACT, FAST):
        outcome = hash_content(out.getvalue(), [Algorithm.PDQ, Algorithm.PHASH], config)
        assert outcome.outcome is Outcome.SCANNED, outcome.reason
        pdq, phash = outcome.hashes
        assert pdq.distance(Hash.from_hex(Algorithm.PDQ, expected[0][0])) <= (0 if config is EXACT else 2)
        assert phash.distance(Hash.from_hex(Algorithm.PHASH, expected[0][1])) <= (0 if config is EXACT else 4)


def test_mpo_frames_are_hashed_as_jpeg() -> None:
    image = Image.open(IMAGES / "sklearn_china.jpg")
    out = io.BytesIO()
    image.save(out, "MPO", save_all=True, append_images=[image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    for config in (EXACT, FAST):
        outcome = hash_content(out.getvalue(), [Algorithm.PDQ], config)
        assert outcome.outcome is Outcome.SCANNED
        assert (outcome.format, outcome.frame_count) == ("JPEG", 2)
        assert [h.frame for h in outcome.hashes] == [0, 1]


def test_running_out_of_memory_is_too_many_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*_: object) -> None:
        raise MemoryError

    monkeypatch.setattr(Image.Image, "load", exhausted)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", exhausted)
    outcome = hash_content((IMAGES / "skimage_coffee.png").read_bytes())
    assert outcome.outcome is Outcome.TOO_MANY_PIXELS


def test_internal_errors_never_log_the_content(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # pHash: fast mode takes PDQ's plain hash from its rotations, so PDQ's hash_pixels is not
    # on this path.
    hasher = registry.get(Algorithm.PHASH)

    def broken(*_: object) -> Hash:
        raise RuntimeError("boom")

    monkeypatch.setattr(hasher, "hash_pixels", broken)
    out = io.BytesIO()
    # A JPEG comment sits in the first bytes, where a repr of the content would show it.
    Image.open(IMAGES / "sklearn_flower.jpg").save(out, "JPEG", comment=b"SECRET-PIXELS")
    content = out.getvalue()
    assert b"SECRET-PIXELS" in content[:100]
    assert hash_content(content).outcome is Outcome.INTERNAL_ERROR
    captured = capsys.readouterr()
    assert "SECRET-PIXELS" not in captured.out + captured.err
    assert "boom" in captured.out + captured.err
