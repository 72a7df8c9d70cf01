"""Writes the project-made seeds of the committed corpus (``python -m fuzz.seeds``).

Every image here is drawn from a fixed random seed, so the files are reproducible and free of
rights; the README beside the corpus lists them with the copied hostile files.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
from PIL import Image

from scanner.api.hashwatch.v1 import scanner_pb2 as pb

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"
HOSTILE = ROOT / "tests" / "data" / "hostile"
# Hostile files larger than this stay in tests/data/hostile: libFuzzer's mutations get slow on
# big inputs and the committed corpus is meant to stay small.
MAX_COPIED_BYTES = 32 * 1024

# The request harness reads its first byte as the message kind (fuzz.scan_request.KINDS).
SCAN, HASH, MATCH, BLOCKS = b"\x00", b"\x01", b"\x02", b"\x03"


def picture(size: tuple[int, int] = (64, 48), seed: int = 1) -> Image.Image:
    """Shapes over noise, laid out by ``seed``: a trustworthy PDQ hash in a few hundred bytes,
    and pictures of different seeds far apart in every perceptual hash."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, 2 * np.pi)
    base = 128 + 100 * np.cos(angle) * (x / width - 0.5) * 2 + 100 * np.sin(angle) * (y / height - 0.5) * 2
    for _ in range(3):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(height / 8, height / 3)
        base[(x - cx) ** 2 + (y - cy) ** 2 < r**2] = rng.uniform(0, 255)
    noise = rng.integers(-24, 24, size=(height, width, 3))
    rgb = np.clip(base[..., None] + noise + rng.integers(-60, 60, size=3), 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def _save(image: Image.Image, format_: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format_, **options)
    return out.getvalue()


def _animation(format_: str, **options: object) -> bytes:
    frames = [picture((40, 30), seed) for seed in range(10, 13)]
    out = io.BytesIO()
    frames[0].save(out, format_, save_all=True, append_images=frames[1:], duration=40, **options)
    return out.getvalue()


IMAGES: dict[str, Callable[[], bytes]] = {
    "photo.jpg": lambda: _save(picture(), "JPEG", quality=80),
    "progressive.jpg": lambda: _save(picture(), "JPEG", quality=70, progressive=True),
    "gray.jpg": lambda: _save(picture().convert("L"), "JPEG"),
    "cmyk.jpg": lambda: _save(picture((32, 24)).convert("CMYK"), "JPEG"),
    "photo.png": lambda: _save(picture(seed=2), "PNG"),
    "palette.png": lambda: _save(picture().convert("P"), "PNG", transparency=0),
    "rgba.png": lambda: _save(picture().convert("RGBA"), "PNG"),
    "gray16.png": lambda: _save(picture((32, 24)).convert("I;16"), "PNG"),
    "interlaced.png": lambda: _save(picture((32, 24)), "PNG", interlace=1),
    "still.gif": lambda: _save(picture(), "GIF"),
    "animated.gif": lambda: _animation("GIF", loop=0),
    "lossy.webp": lambda: _save(picture(), "WEBP", quality=60),
    "lossless.webp": lambda: _save(picture((32, 24)), "WEBP", lossless=True),
    "animated.webp": lambda: _animation("WEBP"),
    "photo.bmp": lambda: _save(picture((16, 12)), "BMP"),
    "photo.tiff": lambda: _save(picture((16, 12)), "TIFF", compression="tiff_lzw"),
    "flat.png": lambda: _save(Image.new("RGB", (64, 64), "gray"), "PNG"),
}


def requests() -> dict[str, bytes]:
    """Serialized requests, each behind its kind byte."""
    photo = IMAGES["photo.jpg"]()
    listed = _listed_pdq_hex()
    return {
        "scan-listed.bin": SCAN
        + pb.ScanRequest(
            request_id="r-1",
            customer_id="customer-1",
            url="https://example.com/a.jpg",
            content=photo,
            content_type="image/jpeg",
            client_ip="192.0.2.1",
        ).SerializeToString(),
        "scan-unlisted.bin": SCAN
        + pb.ScanRequest(
            request_id="r-2", customer_id="c", content=IMAGES["animated.gif"]()
        ).SerializeToString(),
        # Refused: a NUL cannot be recorded with the match (scanner.rpc.convert.CONTEXT_LIMITS).
        "scan-nul-customer.bin": SCAN
        + pb.ScanRequest(
            customer_id="a\x00b", url="https://example.com/\x00", content=photo
        ).SerializeToString(),
        "scan-empty.bin": SCAN + pb.ScanRequest().SerializeToString(),
        "scan-text.bin": SCAN + pb.ScanRequest(request_id="r-3", content=b"not an image").SerializeToString(),
        "hash-all.bin": HASH
        + pb.HashRequest(
            request_id="h-1", content=IMAGES["photo.png"](), algorithms=list(pb.Algorithm.values())[1:]
        ).SerializeToString(),
        "hash-unknown-algorithm.bin": HASH
        + pb.HashRequest(
            content=IMAGES["still.gif"](), algorithms=[cast(pb.Algorithm.ValueType, 99)]
        ).SerializeToString(),
        "match-listed.bin": MATCH
        + pb.MatchRequest(hashes=[pb.Hash(algorithm=pb.ALGORITHM_PDQ, hex=listed)]).SerializeToString(),
        "match-bad-hex.bin": MATCH
        + pb.MatchRequest(hashes=[pb.Hash(algorithm=pb.ALGORITHM_MD5, hex="xyz")]).SerializeToString(),
        "blocks.bin": BLOCKS
        + pb.BlocksRequest(
            customer_id="customer-1", urls=["https://example.com/a.jpg", ""]
        ).SerializeToString(),
        "blocks-nul-url.bin": BLOCKS + pb.BlocksRequest(customer_id="c", urls=["\x00"]).SerializeToString(),
        "blocks-no-customer.bin": BLOCKS + pb.BlocksRequest(urls=["x"]).SerializeToString(),
    }


def _listed_pdq_hex() -> str:
    from fuzz.scan_request import listed_hashes

    return next(h.hex for h in listed_hashes() if h.algorithm.value == "pdq")


def write() -> None:
    hashing = CORPUS / "hash_content"
    hashing.mkdir(parents=True, exist_ok=True)
    for name, make in IMAGES.items():
        (hashing / name).write_bytes(make())
    for path in sorted(HOSTILE.iterdir()):
        if path.suffix not in (".md", ".tsv") and path.stat().st_size <= MAX_COPIED_BYTES:
            shutil.copyfile(path, hashing / f"hostile-{path.name}")
    scanning = CORPUS / "scan_request"
    scanning.mkdir(parents=True, exist_ok=True)
    for name, data in requests().items():
        (scanning / name).write_bytes(data)


if __name__ == "__main__":
    write()
