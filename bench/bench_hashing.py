"""Hashing benchmark: fast mode against pdqhash + imagehash, measured side by side.

For each size (0.3, 1, 3, 12 MP JPEG and a 1 MP PNG) it prints, per image, the median
milliseconds of

* baseline: Pillow decode at full resolution, ``convert("RGB")`` unless RGB, ``pdqhash.compute``,
  ``imagehash.phash`` on the decoded image (one decode shared by both), MD5 of the bytes;
* exact:    ``hash_content(..., mode=EXACT)`` (the same work through our pipeline);
* fast:     ``hash_content(..., mode=FAST)`` (the default);

with the ratio baseline / fast, and the drift of fast mode against exact mode (PDQ and pHash
Hamming distances) over a wider corpus of derived JPEGs.

Images: the photographs in tests/data/images (scikit-image / scikit-learn samples and Meta's
bridge test photo), each resized with Lanczos to the target size at its own aspect ratio and
saved as JPEG quality 90; the 12 MP row also has mosaics of native-resolution crops, so that
there is real pixel-level detail and not only upscaled smoothness. The drift corpus adds random
crops, JPEG qualities 70-95 and the textures / scans / silhouettes, reported separately.

Run single core:  taskset -c 1 .venv/bin/python bench/bench_hashing.py
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.hashes import Algorithm  # noqa: E402
from scanner.pipeline import HashingConfig, HashMode, hash_content  # noqa: E402

IMAGES = ROOT / "tests" / "data" / "images"
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
OTHERS = ["skimage_brick.png", "skimage_page.png", "skimage_coins.png", "skimage_horse.png"]
ALGORITHMS = (Algorithm.PDQ, Algorithm.PHASH, Algorithm.MD5)
EXACT = HashingConfig(mode=HashMode.EXACT)
FAST = HashingConfig(mode=HashMode.FAST)


def load(name: str) -> Image.Image:
    return Image.open(IMAGES / name).convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", quality: int = 90) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=quality)
    else:
        image.save(out, fmt)
    return out.getvalue()


def resized(image: Image.Image, megapixels: float) -> Image.Image:
    aspect = image.width / image.height
    height = round((megapixels * 1e6 / aspect) ** 0.5)
    return image.resize((round(height * aspect), height), Image.Resampling.LANCZOS)


def mosaic(images: list[Image.Image], megapixels: float, seed: int) -> Image.Image:
    """A 4:3 canvas tiled with native-resolution crops (no resampling)."""
    rng = np.random.default_rng(seed)
    height = round((megapixels * 1e6 * 3 / 4) ** 0.5)
    width = round(height * 4 / 3)
    canvas = Image.new("RGB", (width, height))
    y = 0
    while y < height:
        x = 0
        row_height = 0
        while x < width:
            source = images[int(rng.integers(len(images)))]
            w = int(rng.integers(source.width // 2, source.width + 1))
            h = int(rng.integers(source.height // 2, source.height + 1))
            left = int(rng.integers(0, source.width - w + 1))
            top = int(rng.integers(0, source.height - h + 1))
            canvas.paste(source.crop((left, top, left + w, top + h)), (x, y))
            x += w
            row_height = max(row_height, h)
        y += row_height
    return canvas


def baseline(content: bytes) -> None:
    image = Image.open(io.BytesIO(content))
    image.load()
    pdqhash.compute(np.asarray(image if image.mode == "RGB" else image.convert("RGB")))
    imagehash.phash(image)
    hashlib.md5(content, usedforsecurity=False).digest()


# CPU time of this process (all threads) by default: on a machine shared with other work, wall
# time measures the neighbours; CPU time is what an image costs the core (--clock wall for the
# other view).
CLOCK: Callable[[], float] = time.process_time


def _ms(function: Callable[[], object]) -> float:
    start = CLOCK()
    function()
    return (CLOCK() - start) * 1000


def _median_ms(function: Callable[[], object], repeats: int) -> float:
    function()  # warm-up: weight tables, allocator, caches
    return statistics.median(_ms(function) for _ in range(repeats))


def speed(label: str, contents: list[bytes], repeats: int) -> None:
    base, exact, fast = [], [], []
    for content in contents:
        # Each way is timed in a block of repeats (a service hashes a stream of images one way,
        # so this is its steady state); the three blocks run back to back on the same image.
        # Alternating single calls instead leaves every call the caches the previous one
        # churned, which costs the fast path ~1.5 ms at 1 MP and the reference ~nothing.
        base.append(_median_ms(lambda c=content: baseline(c), repeats))
        exact.append(_median_ms(lambda c=content: hash_content(c, ALGORITHMS, EXACT), repeats))
        fast.append(_median_ms(lambda c=content: hash_content(c, ALGORITHMS, FAST), repeats))
    b, e, f = statistics.median(base), statistics.median(exact), statistics.median(fast)
    kb = statistics.median(len(c) for c in contents) / 1024
    print(
        f"| {label} | {len(contents)} | {kb:.0f} | {b:.2f} | {e:.2f} | {f:.2f} | **{b / f:.1f}x** "
        f"| {min(bb / ff for bb, ff in zip(base, fast, strict=True)):.1f}x |",
        flush=True,
    )


def drift(contents: list[bytes]) -> tuple[list[int], list[int]]:
    pdq, phash = [], []
    for content in contents:
        exact = hash_content(content, (Algorithm.PDQ, Algorithm.PHASH), EXACT)
        fast = hash_content(content, (Algorithm.PDQ, Algorithm.PHASH), FAST)
        for algorithm, into in ((Algorithm.PDQ, pdq), (Algorithm.PHASH, phash)):
            a, b = exact.get(algorithm), fast.get(algorithm)
            assert a is not None and b is not None
            into.append(a.distance(b))
    return pdq, phash


def summary(values: list[int]) -> str:
    array = np.array(values)
    p50, p99 = np.percentile(array, 50), np.percentile(array, 99)
    return f"{p50:.0f} | {p99:.1f} | {array.max()}"


def drift_corpus(names: list[str], sizes: list[float], per_image: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        image = load(name)
        for size in sizes:
            for _ in range(per_image):
                w = int(image.width * rng.uniform(0.6, 1.0))
                h = int(image.height * rng.uniform(0.6, 1.0))
                left = int(rng.integers(0, image.width - w + 1))
                top = int(rng.integers(0, image.height - h + 1))
                crop = resized(image.crop((left, top, left + w, top + h)), size)
                out.append(encode(crop, quality=int(rng.integers(70, 96))))
    return out


def cold_start() -> str:
    code = (
        "import time; t = time.perf_counter();"
        "from scanner.pipeline import hash_content;"
        "import io; from PIL import Image;"
        "b = io.BytesIO(); Image.new('RGB', (1000, 750), 'gray').save(b, 'JPEG');"
        "t1 = time.perf_counter(); hash_content(b.getvalue());"
        "t2 = time.perf_counter(); hash_content(b.getvalue()); t3 = time.perf_counter();"
        "print(f'{(t1 - t) * 1000:.0f} ms import, {(t2 - t1) * 1000:.1f} ms first call, "
        "{(t3 - t2) * 1000:.1f} ms second call')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per image (median taken)")
    parser.add_argument("--drift-per-image", type=int, default=6, help="random crops per image and size")
    parser.add_argument("--only", choices=["speed", "drift"], help="run one half")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="what to time (default: cpu)")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    photos = [load(n) for n in PHOTOS]
    if args.only != "drift":
        print_speed(photos, args.repeats)
    if args.only != "speed":
        print_drift(photos, args.drift_per_image)
    print(f"\nCold start (fresh process, 0.75 MP JPEG): {cold_start()}")


def print_speed(photos: list[Image.Image], repeats: int) -> None:
    clock = "CPU" if CLOCK is time.process_time else "wall"
    print(f"## Speed (PDQ + pHash + MD5, decode included, {clock} ms per image, medians)\n")
    print("| input | images | KiB | pdqhash+imagehash | exact | fast | ratio | worst image |")
    print("|---|---|---|---|---|---|---|---|")
    for size in (0.3, 1.0, 3.0, 12.0):
        speed(f"{size:g} MP JPEG", [encode(resized(p, size)) for p in photos], repeats)
    speed("12 MP JPEG mosaic", [encode(mosaic(photos, 12.0, seed)) for seed in range(4)], repeats)
    speed("1 MP PNG", [encode(resized(p, 1.0), "PNG") for p in photos], repeats)


def print_drift(photos: list[Image.Image], per_image: int) -> None:
    print("\n## Drift of fast mode against exact mode (Hamming distance, bits)\n")
    print("| corpus | images | PDQ p50 | PDQ p99 | PDQ max | pHash p50 | pHash p99 | pHash max |")
    print("|---|---|---|---|---|---|---|---|")
    sizes = [0.3, 1.0, 3.0, 12.0]
    corpora = {
        "photos, resized JPEGs": [encode(resized(p, s)) for p in photos for s in sizes],
        "photos, random crops, q70-95": drift_corpus(PHOTOS, sizes, per_image, 1),
        "12 MP mosaics": [encode(mosaic(photos, 12.0, seed)) for seed in range(10, 20)],
        "texture, scan, coins, silhouette": drift_corpus(OTHERS, sizes, per_image, 2),
    }
    all_pdq: list[int] = []
    all_phash: list[int] = []
    for label, contents in corpora.items():
        pdq, phash = drift(contents)
        print(f"| {label} | {len(contents)} | {summary(pdq)} | {summary(phash)} |", flush=True)
        if label != "texture, scan, coins, silhouette":
            all_pdq += pdq
            all_phash += phash
    print(f"| **all photographs** | {len(all_pdq)} | {summary(all_pdq)} | {summary(all_phash)} |")


if __name__ == "__main__":
    main()
