"""What PDQ's 8 rotations and the de-bordered copy cost a scan that matches nothing.

For each photograph of ``tests/data/images`` (as JPEG q90 at its own size, and upscaled to 1600
px on the long side; plus each letterboxed, so a border is found and the inner copy is hashed
too), the median CPU time of ``hash_content`` with the service's default algorithms, FAST mode:

* ``plain``: ``HashingConfig(dihedral=False, deborder=False)`` (the pipeline before matching
  variants);
* ``variants``: the default config (8 pixel-domain PDQ variants, border detection, the
  de-bordered copy's hashes and variants when a border is found);

and the same through ``ScanEngine.scan`` against a matcher of 100 000 random PDQ and pHash
entries (a scan that matches nothing), which adds the 8-16 extra PDQ queries.

Run single core:  taskset -c 1 .venv/bin/python bench/bench_matching_cost.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.hashes import Algorithm, Hash  # noqa: E402
from index.matcher import ListConfig, Matcher  # noqa: E402
from scanner.engine import MatcherHolder, ScanEngine  # noqa: E402
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig, hash_content  # noqa: E402
from scanner.recording import InMemoryRecorder, ScanContext  # noqa: E402

IMAGES = ROOT / "tests" / "data" / "images"
PLAIN = HashingConfig(dihedral=False, deborder=False)
DEFAULT = HashingConfig()


def _cpu_ms(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        call()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _contents(size: int | None, letterbox: bool) -> list[bytes]:
    out = []
    for path in sorted(IMAGES.glob("*")):
        if path.suffix.lower() not in (".png", ".jpg") or "pdq" in path.name:
            continue
        image = Image.open(path).convert("RGB")
        if size:
            image = ImageOps.contain(image, (size, size), Image.Resampling.LANCZOS)
        if letterbox:
            image = ImageOps.pad(image, (image.width, image.width * 3 // 4 + image.height), color="black")
        out.append(_jpeg(image))
    return out


def _engine(config: HashingConfig, entries: int) -> ScanEngine:
    rng = np.random.default_rng(1)
    listed = [(i, Hash(Algorithm.PDQ, rng.bytes(32))) for i in range(entries)]
    listed += [(entries + i, Hash(Algorithm.PHASH, rng.bytes(8))) for i in range(entries)]
    matcher = Matcher([(ListConfig(1, "random"), listed)])
    return ScanEngine(config, MatcherHolder(matcher), InMemoryRecorder(), DEFAULT_ALGORITHMS)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; CPU ms, medians over images of per-image medians\n")
    plain_engine, default_engine = _engine(PLAIN, args.entries), _engine(DEFAULT, args.entries)
    context = ScanContext()
    print("| images | n | hash plain | hash + variants | ratio | scan plain | scan + variants | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for label, size, letterbox in (
        ("own size (191-512 px)", None, False),
        ("own size, letterboxed", None, True),
        ("1600 px", 1600, False),
        ("1600 px, letterboxed", 1600, True),
    ):
        contents = _contents(size, letterbox)
        cells = []
        for engine_plain, engine_default in ((None, None), (plain_engine, default_engine)):
            a, b = [], []
            for content in contents:
                if engine_plain is None or engine_default is None:
                    a.append(_cpu_ms(partial(hash_content, content, DEFAULT_ALGORITHMS, PLAIN), args.repeats))
                    b.append(_cpu_ms(partial(hash_content, content, DEFAULT_ALGORITHMS), args.repeats))
                else:
                    a.append(_cpu_ms(partial(engine_plain.scan, content, context), args.repeats))
                    b.append(_cpu_ms(partial(engine_default.scan, content, context), args.repeats))
            ma, mb = statistics.median(a), statistics.median(b)
            cells += [f"{ma:.2f}", f"{mb:.2f}", f"{mb / ma:.2f}x"]
        print(f"| {label} | {len(contents)} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
