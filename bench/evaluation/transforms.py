"""The transformation suite: what re-uploads do to a picture, grouped in families.

Every transform is a pure function of the image and a seeded generator (the seed comes from the
image's name and the transform's name), so a run is reproducible. Each declares how its result
is saved: most as JPEG quality 90 (a re-upload is usually a JPEG), the format family as what
it names, the lossless dihedral family as PNG so that it measures the rotation alone.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Apply = Callable[[Image.Image, np.random.Generator], Image.Image]


@dataclass(frozen=True)
class Transform:
    family: str
    name: str
    apply: Apply
    format: str = "JPEG"
    save: dict[str, int] = field(default_factory=lambda: {"quality": 90})

    def seed(self, image_name: str) -> int:
        return zlib.crc32(f"{image_name}/{self.family}/{self.name}".encode())

    def run(self, image: Image.Image, image_name: str) -> bytes:
        result = self.apply(image, np.random.default_rng(self.seed(image_name)))
        return encode(result, self.format, **self.save)


def encode(image: Image.Image, format_: str, **options: int) -> bytes:
    if format_ in ("JPEG", "WEBP") and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if format_ == "GIF":
        image = image.convert("RGB").quantize(256)
    buffer = io.BytesIO()
    image.save(buffer, format_, **options)
    return buffer.getvalue()


def _same(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    return image


def _scale(factor: float) -> Apply:
    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        size = (max(8, round(image.width * factor)), max(8, round(image.height * factor)))
        return image.resize(size, Image.Resampling.LANCZOS)

    return apply


def _thumbnail(longest: int) -> Apply:
    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        copy = image.copy()
        copy.thumbnail((longest, longest), Image.Resampling.BICUBIC)
        return copy

    return apply


def _squash(x: float, y: float) -> Apply:
    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        return image.resize((round(image.width * x), round(image.height * y)), Image.Resampling.BICUBIC)

    return apply


def _enhance(kind: Callable[[Image.Image], ImageEnhance._Enhance], factor: float) -> Apply:
    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        return kind(image).enhance(factor)

    return apply


def _gamma(gamma: float) -> Apply:
    table = [round(255 * (i / 255) ** gamma) for i in range(256)]

    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        return image.point(table * len(image.getbands()))

    return apply


def _grey(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    return image.convert("L")


def _filter(kind: ImageFilter.Filter | type[ImageFilter.Filter]) -> Apply:
    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        return image.filter(kind)

    return apply


def _noise(sigma: float) -> Apply:
    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        pixels = np.asarray(image, dtype=np.float32)
        noisy = pixels + rng.normal(0, sigma, pixels.shape)
        return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))

    return apply


def _crop_side(fraction: float) -> Apply:
    """Cut ``fraction`` of the width or height off one side chosen by the generator."""

    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        side = int(rng.integers(4))
        dx, dy = round(w * fraction), round(h * fraction)
        box = [(dx, 0, w, h), (0, dy, w, h), (0, 0, w - dx, h), (0, 0, w, h - dy)][side]
        return image.crop(box)

    return apply


def _crop_centre(fraction: float) -> Apply:
    """Cut ``fraction`` off every side."""

    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        dx, dy = round(w * fraction), round(h * fraction)
        return image.crop((dx, dy, w - dx, h - dy))

    return apply


def _crop_random(keep: float) -> Apply:
    """A random window keeping ``keep`` of each dimension."""

    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        cw, ch = round(w * keep), round(h * keep)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return image.crop((x, y, x + cw, y + ch))

    return apply


def _pad(left: float, top: float, right: float, bottom: float, colour: tuple[int, int, int]) -> Apply:
    """Pad by fractions of the image's size."""

    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        x0, y0, x1, y1 = round(w * left), round(h * top), round(w * right), round(h * bottom)
        canvas = Image.new("RGB", (w + x0 + x1, h + y0 + y1), colour)
        canvas.paste(image.convert("RGB"), (x0, y0))
        return canvas

    return apply


def _letterbox_to(aspect: float, colour: tuple[int, int, int] = (0, 0, 0)) -> Apply:
    """Fit the picture into a ``aspect`` (width / height) frame, bars where it does not fill."""

    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        frame = (w, round(w / aspect)) if w / h > aspect else (round(h * aspect), h)
        canvas = Image.new("RGB", frame, colour)
        canvas.paste(image.convert("RGB"), ((frame[0] - w) // 2, (frame[1] - h) // 2))
        return canvas

    return apply


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _caption(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A meme-style caption: white text with a black outline across the top."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    size = max(12, out.height // 9)
    draw.text(
        (out.width // 2, size // 2),
        "WHEN YOU SEE IT",
        font=_font(size),
        fill="white",
        stroke_width=max(1, size // 12),
        stroke_fill="black",
        anchor="mt",
    )
    return out


def _watermark(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Semi-transparent text across the middle."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(12, base.width // 10)
    draw.text(
        (base.width // 2, base.height // 2),
        "sample.example",
        font=_font(size),
        fill=(255, 255, 255, 110),
        anchor="mm",
    )
    return Image.alpha_composite(base, layer).convert("RGB")


def _logo(fraction: float) -> Apply:
    """An opaque logo (a filled badge with text) in a random corner, ``fraction`` of the width."""

    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        out = image.convert("RGB")
        w, h = out.size
        side = max(16, round(w * fraction))
        badge = Image.new("RGB", (side, side // 2), (220, 30, 30))
        ImageDraw.Draw(badge).text(
            (side // 2, side // 4), "LOGO", font=_font(max(8, side // 5)), fill="white", anchor="mm"
        )
        corner = int(rng.integers(4))
        margin = max(2, w // 50)
        x = margin if corner in (0, 2) else w - badge.width - margin
        y = margin if corner in (0, 1) else h - badge.height - margin
        out.paste(badge, (x, y))
        return out

    return apply


def _banner(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A solid strip with text added under the picture (a 'caption bar', not a flat border)."""
    out = _pad(0, 0, 0, 0.15, (255, 255, 255))(image, rng)
    draw = ImageDraw.Draw(out)
    size = max(10, image.height // 14)
    draw.text(
        (out.width // 2, image.height + (out.height - image.height) // 2),
        "shared from example.app",
        font=_font(size),
        fill="black",
        anchor="mm",
    )
    return out


def _rotate(degrees: float, *, crop: bool) -> Apply:
    """Rotate by a small angle, black corners, or cropped to the largest upright rectangle."""

    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        rotated = image.convert("RGB").rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)
        if not crop:
            return rotated
        w, h = image.size
        angle = math.radians(abs(degrees))
        # Largest axis-aligned rectangle of the same aspect inside the rotated frame.
        scale = 1 / (math.cos(angle) + math.sin(angle) * max(w / h, h / w))
        cw, ch = round(w * scale), round(h * scale)
        return rotated.crop(((w - cw) // 2, (h - ch) // 2, (w + cw) // 2, (h + ch) // 2))

    return apply


# The 7 non-trivial dihedral operations, named as in scanner.hashing.pdq.DIHEDRAL_NAMES
# (rot90 is counter-clockwise, as numpy's rot90 and Pillow's ROTATE_90).
DIHEDRAL_OPERATIONS: dict[str, Image.Transpose] = {
    "rot90": Image.Transpose.ROTATE_90,
    "rot180": Image.Transpose.ROTATE_180,
    "rot270": Image.Transpose.ROTATE_270,
    "flip_vertical": Image.Transpose.FLIP_TOP_BOTTOM,
    "flip_horizontal": Image.Transpose.FLIP_LEFT_RIGHT,
    "flip_plus1": Image.Transpose.TRANSPOSE,
    "flip_minus1": Image.Transpose.TRANSVERSE,
}


def _transpose(method: Image.Transpose) -> Apply:
    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        return image.transpose(method)

    return apply


BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def suite() -> list[Transform]:
    t = Transform
    transforms = [
        # Re-encoding and format changes.
        t("reencode", "jpeg_q95", _same, "JPEG", {"quality": 95}),
        t("reencode", "jpeg_q75", _same, "JPEG", {"quality": 75}),
        t("reencode", "jpeg_q50", _same, "JPEG", {"quality": 50}),
        t("reencode", "jpeg_q30", _same, "JPEG", {"quality": 30}),
        t("reencode", "jpeg_q15", _same, "JPEG", {"quality": 15}),
        t("reencode", "png", _same, "PNG", {}),
        t("reencode", "webp_q80", _same, "WEBP", {"quality": 80}),
        t("reencode", "webp_q40", _same, "WEBP", {"quality": 40}),
        t("reencode", "gif_palette", _same, "GIF", {}),
        # Resizing.
        t("resize", "down_0.5", _scale(0.5)),
        t("resize", "down_0.25", _scale(0.25)),
        t("resize", "up_1.5", _scale(1.5)),
        t("resize", "up_2", _scale(2.0)),
        t("resize", "thumb_256", _thumbnail(256)),
        t("resize", "thumb_128", _thumbnail(128)),
        t("resize", "down_0.7_webp", _scale(0.7), "WEBP", {"quality": 75}),
        # Colour and tone.
        t("colour", "greyscale", _grey),
        t("colour", "brighter_1.3", _enhance(ImageEnhance.Brightness, 1.3)),
        t("colour", "darker_0.7", _enhance(ImageEnhance.Brightness, 0.7)),
        t("colour", "contrast_1.4", _enhance(ImageEnhance.Contrast, 1.4)),
        t("colour", "contrast_0.6", _enhance(ImageEnhance.Contrast, 0.6)),
        t("colour", "gamma_0.6", _gamma(0.6)),
        t("colour", "gamma_1.6", _gamma(1.6)),
        t("colour", "saturation_1.8", _enhance(ImageEnhance.Color, 1.8)),
        t("colour", "saturation_0.4", _enhance(ImageEnhance.Color, 0.4)),
        # Filters.
        t("filter", "blur_1", _filter(ImageFilter.GaussianBlur(1))),
        t("filter", "blur_3", _filter(ImageFilter.GaussianBlur(3))),
        t("filter", "sharpen", _filter(ImageFilter.SHARPEN)),
        t("filter", "unsharp", _filter(ImageFilter.UnsharpMask(2, 150, 3))),
        t("filter", "median_3", _filter(ImageFilter.MedianFilter(3))),
        t("filter", "noise_8", _noise(8.0)),
        # Aspect squash.
        t("squash", "width_0.8", _squash(0.8, 1.0)),
        t("squash", "height_0.75", _squash(1.0, 0.75)),
        t("squash", "width_1.3", _squash(1.3, 1.0)),
        # Crops.
        t("crop", "side_5pct", _crop_side(0.05)),
        t("crop", "side_10pct", _crop_side(0.10)),
        t("crop", "centre_5pct", _crop_centre(0.05)),
        t("crop", "centre_10pct", _crop_centre(0.10)),
        t("crop", "window_95pct", _crop_random(0.95)),
        t("crop", "window_90pct", _crop_random(0.90)),
        # Padding and letterboxing.
        t("pad", "letterbox_16x9", _letterbox_to(16 / 9)),
        t("pad", "letterbox_21x9", _letterbox_to(21 / 9)),
        t("pad", "pillarbox_9x16", _letterbox_to(9 / 16)),
        t("pad", "square_black", _letterbox_to(1.0)),
        t("pad", "square_white", _letterbox_to(1.0, WHITE)),
        t("pad", "pad_10pct_white", _pad(0.1, 0.1, 0.1, 0.1, WHITE)),
        t("pad", "pad_8pct_colour", _pad(0.08, 0.08, 0.08, 0.08, (40, 90, 160))),
        t("pad", "pad_top_20pct_black", _pad(0, 0.2, 0, 0, BLACK)),
        t("pad", "letterbox_16x9_q60", _letterbox_to(16 / 9), "JPEG", {"quality": 60}),
        # Overlays.
        t("overlay", "caption", _caption),
        t("overlay", "watermark", _watermark),
        t("overlay", "logo_15pct", _logo(0.15)),
        t("overlay", "logo_30pct", _logo(0.30)),
        t("overlay", "banner_below", _banner),
        # Small rotations.
        t("small_rotation", "rot_2", _rotate(2, crop=False)),
        t("small_rotation", "rot_-5", _rotate(-5, crop=False)),
        t("small_rotation", "rot_3_cropped", _rotate(3, crop=True)),
        t("small_rotation", "rot_-10_cropped", _rotate(-10, crop=True)),
    ]
    # The 8 rotations / flips: lossless (the operation alone), then as JPEG re-uploads.
    for name, method in DIHEDRAL_OPERATIONS.items():
        transforms.append(t("dihedral", name, _transpose(method), "PNG", {}))
    for name, method in DIHEDRAL_OPERATIONS.items():
        transforms.append(t("dihedral_jpeg", name, _transpose(method), "JPEG", {"quality": 80}))
    return transforms


FAMILIES: Sequence[str] = (
    "reencode",
    "resize",
    "colour",
    "filter",
    "squash",
    "crop",
    "pad",
    "overlay",
    "small_rotation",
    "dihedral",
    "dihedral_jpeg",
)

# The "re-encode / resize / colour" target is over these families together.
EDIT_FAMILIES = ("reencode", "resize", "colour")


def ensure_rgb(image: Image.Image) -> Image.Image:
    """Originals as RGB (alpha dropped, as the hashers drop it), orientation as stored."""
    return image.convert("RGB") if image.mode != "RGB" else image


def normalise(image: Image.Image, longest: int) -> Image.Image:
    """Shrink to at most ``longest`` px on the long side (Lanczos); smaller images stay."""
    image = ensure_rgb(image)
    if max(image.size) <= longest:
        return image
    return ImageOps.contain(image, (longest, longest), Image.Resampling.LANCZOS)
