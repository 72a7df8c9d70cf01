"""Border removal on synthetic padded images: letterbox, pillarbox, colours, JPEG noise, refusals."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from scanner.hashing.letterbox import crop_pixels, find_content_box, remove_borders
from tests.conftest import DATA

IMAGES = DATA / "images"
PHOTOS = ["skimage_astronaut.png", "skimage_chelsea.png", "skimage_rocket.jpg", "sklearn_china.jpg"]


def _content(name: str = "skimage_astronaut.png", size: tuple[int, int] = (400, 300)) -> Image.Image:
    return Image.open(IMAGES / name).convert("RGB").resize(size, Image.Resampling.LANCZOS)


def _pad(
    image: Image.Image, left: int, top: int, right: int, bottom: int, colour: tuple[int, int, int]
) -> Image.Image:
    canvas = Image.new("RGB", (image.width + left + right, image.height + top + bottom), colour)
    canvas.paste(image, (left, top))
    return canvas


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


@pytest.mark.parametrize(
    ("pads", "colour"),
    [
        ((0, 60, 0, 60), (0, 0, 0)),  # letterbox
        ((80, 0, 80, 0), (0, 0, 0)),  # pillarbox
        ((0, 50, 0, 50), (255, 255, 255)),
        ((30, 30, 30, 30), (30, 120, 200)),  # coloured padding on every side
        ((0, 90, 0, 10), (12, 12, 12)),  # uneven
    ],
)
def test_exact_borders_are_found(pads: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    content = _content()
    padded = _pad(content, *pads, colour)
    left, top = pads[:2]
    assert find_content_box(padded) == (left, top, left + content.width, top + content.height)


@pytest.mark.parametrize("quality", [95, 75, 50])
@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (200, 40, 40)])
def test_jpeg_noise_in_the_border_is_tolerated(quality: int, colour: tuple[int, int, int]) -> None:
    content = _content()
    padded = _jpeg(_pad(content, 0, 64, 0, 64, colour), quality)
    box = find_content_box(padded)
    assert box is not None
    left, top, right, bottom = box
    # Ringing near the content edge may leave a JPEG block of border, never take content away.
    assert (left, right) == (0, content.width)
    assert 64 - 8 <= top <= 64
    assert 64 + content.height <= bottom <= 64 + content.height + 8


def test_grey_numpy_input() -> None:
    content = np.asarray(_content().convert("L"))
    padded = np.zeros((content.shape[0], content.shape[1] + 100), dtype=np.uint8)
    padded[:, 50:-50] = content
    assert find_content_box(padded) == (50, 0, 50 + content.shape[1], content.shape[0])


@pytest.mark.parametrize("name", PHOTOS)
def test_photographs_without_borders_are_left_alone(name: str) -> None:
    assert find_content_box(Image.open(IMAGES / name)) is None


def test_dark_but_textured_edges_are_not_borders() -> None:
    rng = np.random.default_rng(8)
    pixels = np.asarray(_content(), dtype=np.uint8).copy()
    # A dark band (a night sky, a shadow) with texture: under 40 everywhere, but not flat.
    pixels[:60] = rng.integers(0, 40, size=pixels[:60].shape, dtype=np.uint8)
    pixels[:, :40] = rng.integers(0, 40, size=pixels[:, :40].shape, dtype=np.uint8)
    assert find_content_box(Image.fromarray(pixels)) is None


def test_mostly_flat_pictures_are_refused() -> None:
    # A small object on a wide flat background is a picture, not a padded copy.
    assert find_content_box(_pad(_content(size=(60, 60)), 200, 200, 200, 200, (0, 0, 0))) is None
    assert find_content_box(Image.new("RGB", (300, 200), (10, 10, 10))) is None


def test_tiny_images_and_tiny_results_are_refused() -> None:
    assert find_content_box(_pad(_content(size=(20, 20)), 0, 2, 0, 2, (0, 0, 0))) is None
    thin = _pad(_content(size=(300, 30)), 0, 15, 0, 15, (0, 0, 0))
    assert find_content_box(thin) is None


def test_remove_borders_crops() -> None:
    content = _content()
    cropped = remove_borders(_pad(content, 0, 40, 0, 40, (0, 0, 0)))
    assert cropped is not None
    assert cropped.size == content.size
    assert np.array_equal(np.asarray(cropped), np.asarray(content))
    assert remove_borders(content) is None


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_crop_pixels_lines_up_with_the_cropped_image(scale: int) -> None:
    from scanner.hashing import pdq
    from scanner.hashing.pixels import Pixels

    content = _content(size=(512, 384))
    padded = _pad(content, 0, 64, 0, 64, (0, 0, 0))
    # A frame prepared as fast mode prepares it (box-reduced by ``scale``).
    luma = padded.convert("F").reduce(scale) if scale > 1 else padded.convert("F")
    pixels = Pixels(padded.width, padded.height, scale, np.asarray(luma), padded.convert("L"))
    inner = crop_pixels(pixels)
    assert inner is not None
    assert (inner.width, inner.height) == content.size
    assert inner.gray.size == content.size
    # The padding is a multiple of the scale, so the cropped reduced luma is the picture's own
    # reduced luma: the same PDQ, bit for bit, as the unpadded picture prepared the same way.
    reduced = content.convert("F").reduce(scale) if scale > 1 else content.convert("F")
    direct = Pixels(content.width, content.height, scale, np.asarray(reduced), content.convert("L"))
    assert pdq.dihedral_from_pixels(inner, 1)[0] == pdq.dihedral_from_pixels(direct, 1)[0]


def test_crop_pixels_without_a_border() -> None:
    from scanner.hashing.pixels import Pixels

    image = _content()
    assert crop_pixels(Pixels.from_image(image, image.width, image.height)) is None


def _edge_cases() -> list[np.ndarray]:
    """Photographs, padded and JPEG'd copies, one flat side, flat strips, noise; RGB and grey."""
    rng = np.random.default_rng(7)
    images = [_content(name) for name in PHOTOS]
    images += [_pad(_content(), *pads, (0, 0, 0)) for pads in [(0, 1, 0, 0), (0, 0, 3, 0), (0, 40, 0, 0)]]
    images += [_jpeg(_pad(_content(), 0, 30, 0, 30, (250, 250, 250)), 60)]
    arrays = [np.asarray(image) for image in images]
    arrays += [np.asarray(image.convert("L")) for image in images]
    arrays.append(np.full((64, 90, 3), 17, dtype=np.uint8))  # entirely flat: the border runs past the limit
    arrays.append(rng.integers(0, 256, (120, 80, 3), dtype=np.uint8))
    striped = rng.integers(0, 256, (100, 100), dtype=np.uint8)
    striped[:, -1] = 128  # only the rightmost column is flat
    arrays.append(striped)
    return arrays


def test_the_edge_shortcut_agrees_with_every_sides_depth() -> None:
    # find_content_box stops early when no side's outermost row is border; the full per-side
    # scan is the oracle: it must then find depth 0 on every side, and something otherwise.
    from scanner.hashing import letterbox

    seen = set()
    for array in _edge_cases():
        pixels = letterbox._as_array(array)
        depths = letterbox._side_depths(pixels, letterbox.DEFAULT_RULES)
        flat_edge = letterbox._any_flat_edge(pixels, letterbox.DEFAULT_RULES)
        assert flat_edge == any(d != 0 for d in depths), depths
        seen.add(flat_edge)
    assert seen == {True, False}
