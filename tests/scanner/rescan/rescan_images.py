"""Test material for rescans: transformed copies of the demo list's images (they should match),
transformed unrelated images (they should not), and a few files that cannot be scanned."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageEnhance

from reporting.store import NewEntry, Store
from scanner.listimport import collect
from tests.conftest import DEMO_LIST, ROOT

UNRELATED = (
    "skimage_astronaut.png",
    "skimage_brick.png",
    "skimage_coffee.png",
    "skimage_horse.png",
    "sklearn_flower.jpg",
    "skimage_page.png",
)


def import_demo_list(store: Store, name: str = "demo") -> None:
    collected = collect(DEMO_LIST, "images")
    store.import_entries(name, [NewEntry(c.hash, c.external_id) for c in collected.candidates])


def _variant(image: Image.Image, rng: random.Random) -> tuple[Image.Image, str, int]:
    width, height = image.size
    side = rng.randint(96, 256)
    scale = side / max(width, height)
    out = image.resize((max(8, int(width * scale)), max(8, int(height * scale))), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        dx, dy = int(out.width * rng.uniform(0, 0.04)), int(out.height * rng.uniform(0, 0.04))
        out = out.crop((dx, dy, out.width - dx, out.height - dy))
    if rng.random() < 0.3:
        out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.85, 1.15))
    kind = rng.choice(["jpg", "jpg", "png", "webp"])
    return out, kind, rng.randint(40, 95)


def make_images(root: Path, per_listed: int = 60, per_unrelated: int = 15, seed: int = 7) -> Path:
    """About 3 * per_listed + 6 * per_unrelated images, plus 3 unscannable files, under ``root``."""
    rng = random.Random(seed)
    sources = [(p, "listed") for p in sorted(DEMO_LIST.iterdir())] + [
        (ROOT / "tests" / "data" / "images" / name, "unrelated") for name in UNRELATED
    ]
    for path, group in sources:
        original = Image.open(path).convert("RGB")
        count = per_listed if group == "listed" else per_unrelated
        folder = root / group / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(count):
            image, kind, quality = _variant(original, rng)
            buffer = io.BytesIO()
            image.save(buffer, format={"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[kind], quality=quality)
            (folder / f"{n:03d}.{kind}").write_bytes(buffer.getvalue())
    junk = root / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("not an image\n")
    (junk / "empty.jpg").write_bytes(b"")
    # A JPEG header and nothing after it.
    (junk / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100)
    return root
