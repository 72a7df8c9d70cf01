"""Rescan benchmark: images per second through ``hashwatch rescan``'s engines, and a plain loop.

Measured in the same run, on the same files:

* baseline: a plain Python loop, one process: read the file, Pillow decode, ``convert("RGB")``,
  ``pdqhash.compute``, ``imagehash.phash``, MD5 of the bytes (what a script would do; no matching,
  no recording);
* local-1 / local-2: ``run_rescan`` with the ``local`` engine and 1 or 2 worker processes: read,
  hash (fast mode; PDQ, pHash, MD5), match against the demo list, record the matches in SQLite;
* ray-N: the same with the ``ray`` engine, N actors on a local Ray started for the run (Ray Data
  starts its actor pool per job, so that start-up is in the job's time; printed separately too).

The local pools are started and warmed up before the clock starts (workers loaded, matcher
built); a fresh database per run so every match is recorded. The contenders run interleaved,
best of ``--repeat``; the load average is printed, since other work on the machine skews ratios.

CPU ms/image: this process and the pool's processes during the run (not the per-run database
set-up); parent ms/image: this process alone, which is the rescan's parent (receiving results,
recording matches, bookkeeping): with two workers it takes its share of their two cores.
``--profile-parent`` prints a cProfile of the parent's main thread in the local-2 runs.

Images: photographs from tests/data/images resized to ~1 MP (longest side 1024-1280 px), JPEG
quality 80-92, with 5 % transformed copies of the demo list's images so there is recording work.

Run:  .venv/bin/python bench/bench_rescan.py [--images 400] [--repeat 3] [--no-ray] [--profile-parent]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reporting.db import make_engine, migrate  # noqa: E402
from reporting.matches.rescans import RescanStore  # noqa: E402
from reporting.store import NewEntry, Store  # noqa: E402
from scanner.listimport import collect  # noqa: E402
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig  # noqa: E402
from scanner.rescan.local import LocalEngine  # noqa: E402
from scanner.rescan.ports import MatcherInputs  # noqa: E402
from scanner.rescan.runner import ResultEngine, run_rescan  # noqa: E402
from scanner.rescan.sources import Source, directory_source  # noqa: E402

IMAGES = ROOT / "tests" / "data" / "images"
DEMO = ROOT / "demo" / "list"
PHOTOS = [
    "skimage_astronaut.png",
    "skimage_camera.png",
    "skimage_coffee.png",
    "skimage_hubble_deep_field.jpg",
    "sklearn_china.jpg",
    "sklearn_flower.jpg",
    "bridge-1-original.jpg",
    "skimage_brick.png",
    "skimage_horse.png",
]


def make_corpus(root: Path, count: int, seed: int = 11) -> Path:
    rng = random.Random(seed)
    photos = [Image.open(IMAGES / name).convert("RGB") for name in PHOTOS]
    listed = [Image.open(p).convert("RGB") for p in sorted(DEMO.iterdir())]
    root.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        image = rng.choice(listed if n % 20 == 0 else photos)
        side = rng.randint(1024, 1280)
        scale = side / max(image.size)
        out = image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.BILINEAR)
        dx, dy = rng.randint(0, out.width // 10), rng.randint(0, out.height // 10)
        out = out.crop((dx, dy, out.width - rng.randint(0, out.width // 10), out.height - dy))
        buffer = io.BytesIO()
        out.save(buffer, format="JPEG", quality=rng.randint(80, 92))
        (root / f"{n:05d}.jpg").write_bytes(buffer.getvalue())
    return root


def fresh_store(directory: Path) -> Store:
    directory.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{directory / 'hashwatch.db'}")
    migrate(engine)
    store = Store(engine)
    store.import_entries(
        "demo", [NewEntry(c.hash, c.external_id) for c in collect(DEMO, "images").candidates]
    )
    return store


def baseline(source: Source) -> float:
    started = time.perf_counter()
    for item in source.items:
        content = Path(item.location).read_bytes()
        image: Image.Image = Image.open(io.BytesIO(content))
        if image.mode != "RGB":
            image = image.convert("RGB")
        pdqhash.compute(np.asarray(image))
        imagehash.phash(image)
        hashlib.md5(content).hexdigest()
    return time.perf_counter() - started


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu(pids: list[int]) -> float:
    """User + system CPU seconds of running processes, from /proc (Linux)."""
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def timed_rescan(
    source: Source, engine: ResultEngine, work: Path, name: str, profile: cProfile.Profile | None = None
) -> tuple[float, int, float]:
    """Wall seconds, matches recorded, and the parent's CPU seconds (the database set-up excluded)."""
    store = fresh_store(work / f"db-{time.monotonic_ns()}")
    cpu = _own_cpu()
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    summary = run_rescan(source, engine, RescanStore(store), engine_name=name)
    if profile is not None:
        profile.disable()
    elapsed = time.perf_counter() - started
    cpu = _own_cpu() - cpu
    store.engine.dispose()
    return elapsed, summary.recorded, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ray-actors", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument(
        "--profile-parent",
        action="store_true",
        help="cProfile the parent's side of the local-2 runs and print where its time goes",
    )
    args = parser.parse_args()
    profile_two = cProfile.Profile() if args.profile_parent else None

    with tempfile.TemporaryDirectory(prefix="bench-rescan-") as tmp:
        work = Path(tmp)
        source = directory_source(make_corpus(work / "images", args.images), "bench")
        n = len(source.items)
        inputs = fresh_store(work / "inputs").matcher_inputs()
        hashing = HashingConfig()
        print(f"{n} images (~1 MP JPEG), {os.cpu_count()} CPUs, best of {args.repeat}")
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        times: dict[str, list[float]] = {}
        # CPU seconds (this process and the pool's) per run: on a shared machine the wall clock
        # also measures everyone else's work; CPU time shows what the run itself cost.
        cpu: dict[str, list[float]] = {}
        # The parent alone (receiving results, recording, bookkeeping): with two workers it
        # shares their two cores, with one it has the second core to itself.
        parent: dict[str, list[float]] = {}
        matches: dict[str, int] = {}
        baseline_name = "baseline: pdqhash+imagehash loop"

        # Interleaved, so a burst of load from elsewhere hits every contender alike.
        with (
            LocalEngine(inputs, hashing, DEFAULT_ALGORITHMS, jobs=1) as one,
            LocalEngine(inputs, hashing, DEFAULT_ALGORITHMS, jobs=2) as two,
        ):
            one.warm_up()
            two.warm_up()
            for _ in range(args.repeat):
                before = _own_cpu()
                times.setdefault(baseline_name, []).append(baseline(source))
                cpu.setdefault(baseline_name, []).append(_own_cpu() - before)
                for name, engine, profile in (
                    ("local-1 (warm pool)", one, None),
                    ("local-2 (warm pool)", two, profile_two),
                ):
                    workers = _cpu(engine.worker_pids())
                    elapsed, matches[name], own = timed_rescan(source, engine, work, name, profile)
                    parent.setdefault(name, []).append(own)
                    cpu.setdefault(name, []).append(own + _cpu(engine.worker_pids()) - workers)
                    times.setdefault(name, []).append(elapsed)
        if not args.no_ray:
            run_ray(args.ray_actors, args.repeat, source, inputs, hashing, work, times, matches)

        rates = {name: n / min(values) for name, values in times.items()}
        base = rates[baseline_name]
        print(
            f"{'run':<44} {'images/s':>9} {'vs baseline':>12} {'matches':>8} {'CPU ms/image':>13}"
            f" {'parent ms/image':>16}"
        )
        for name, rate in rates.items():
            found = matches.get(name)
            per_image = f"{1000 * min(cpu[name]) / n:.2f}" if name in cpu else ""
            parent_ms = f"{1000 * min(parent[name]) / n:.3f}" if name in parent else ""
            print(
                f"{name:<44} {rate:9.1f} {rate / base:11.2f}x {found if found is not None else '':>8}"
                f" {per_image:>13} {parent_ms:>16}"
            )
        ratio = rates["local-2 (warm pool)"] / rates["local-1 (warm pool)"]
        print(f"local-2 / local-1: {ratio:.2f}x")
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if profile_two is not None:
            print("parent profile, local-2 runs (profiling slows the parent: rates above are skewed)")
            pstats.Stats(profile_two).sort_stats("tottime").print_stats(25)


def run_ray(
    actors: int,
    repeat: int,
    source: Source,
    inputs: MatcherInputs,
    hashing: HashingConfig,
    work: Path,
    times: dict[str, list[float]],
    matches: dict[str, int],
) -> None:
    """Ray Data starts a fresh actor pool for every dataset, so every job pays for starting its
    actors (imports, matcher). Reported as is, with that start-up (a job of one image per actor)
    and the rate once it is paid, from the best of each."""
    import ray

    from scanner.rescan.ray_engine import RayEngine

    ray.init(num_cpus=actors, include_dashboard=False, log_to_driver=False)
    engine = RayEngine(inputs, hashing, DEFAULT_ALGORITHMS, actors=actors)
    tiny = Source(source.description, source.items[:actors])
    job = f"ray-{actors} (job, actor start-up included)"
    startups = []
    try:
        list(engine.results(source.items[: actors * 16]))  # let the workers' caches fill
        for _ in range(repeat):
            startups.append(timed_rescan(tiny, engine, work, "ray-start")[0])
            elapsed, matches[job], _ = timed_rescan(source, engine, work, "ray")
            times.setdefault(job, []).append(elapsed)
    finally:
        ray.shutdown()
    startup = min(startups)
    print(f"ray-{actors}: actor pool start-up (a job of {actors} images) {startup:.2f} s")
    if min(times[job]) > startup:
        after = f"ray-{actors} (after start-up)"
        times[after] = [min(times[job]) - startup]
        matches[after] = matches[job]


if __name__ == "__main__":
    main()
