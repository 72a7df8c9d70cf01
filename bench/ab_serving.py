"""A/B for the serving path: two ``hashwatch serve`` variants under the same load, in alternation.

On a small shared VM, identical load runs differ by 10-25 % from one minute to the next
(bench/RESULTS.md), so a change to the serving path cannot be judged from one run of
``bench_load.py`` against an older one. This runs the variants round by round, A then B then
A..., each on a fresh data directory with the demo list and ``--list-size`` random PDQ hashes
imported (as ``bench_load.py`` does), and prints for each the median and the range over rounds
of: scans/s, CPU ms per scan of the whole server, of the serving process alone and of the
client, and the latency p50/p99.

A variant is ``NAME=CHECKOUT`` (a directory holding this project, e.g. a ``git worktree`` of the
commit to compare; its own ``bench/bench_load.py`` starts its own server) followed by any
``HASHWATCH_*`` settings for that server, comma-separated:

    git worktree add /tmp/before HEAD~1
    .venv/bin/python bench/ab_serving.py before=/tmp/before after=. --rounds 8
    .venv/bin/python bench/ab_serving.py two=.,HASHWATCH_HASH_WORKERS=2 three=.,HASHWATCH_HASH_WORKERS=3
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType


@dataclass
class Variant:
    name: str
    root: Path
    env: dict[str, str]
    bench: ModuleType
    rows: list[tuple[float, ...]] = field(default_factory=list)


COLUMNS = ("scans/s", "server CPU ms", "serving process ms", "client ms", "p50 ms", "p99 ms")


def load_bench(root: Path) -> ModuleType:
    """That checkout's ``bench_load`` module (its server, its client), imported under its own name."""
    name = f"bench_load_{abs(hash(str(root)))}"
    spec = importlib.util.spec_from_file_location(name, root / "bench" / "bench_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(root / "bench"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(root / "bench"))
    return module


def parse_variant(text: str) -> Variant:
    name, _, rest = text.partition("=")
    root, *settings = rest.split(",")
    if not name or not root:
        raise SystemExit(f"a variant is NAME=CHECKOUT[,HASHWATCH_X=value...], not {text!r}")
    env = {}
    for setting in settings:
        key, _, value = setting.partition("=")
        if not key.startswith("HASHWATCH_"):
            raise SystemExit(f"{setting!r}: only HASHWATCH_* settings are passed to the server")
        env[key] = value
    path = Path(root).resolve()
    return Variant(name, path, env, load_bench(path))


def one_round(variant: Variant, contents: list[bytes], list_file: Path, args: argparse.Namespace) -> None:
    bench = variant.bench
    work = Path(tempfile.mkdtemp(prefix=f"ab-{variant.name}-"))
    service = bench.start_service(work, list_file, variant.env)
    try:
        drive = bench.closed_stream if args.client == "stream" else bench.closed_unary
        asyncio.run(drive(service.address, contents, args.in_flight, 2.0))  # warm up
        serving_before = bench._cpu(service.process.pid)
        # bench_load's own measurement: scans/s, latencies, server and client CPU per scan.
        run = bench.measure(service, args.client, contents, args.in_flight, args.seconds)
        serving_ms = (bench._cpu(service.process.pid) - serving_before) * 1000 / max(run.scans, 1)
    finally:
        service.stop()
        shutil.rmtree(work, ignore_errors=True)
    cpu = (run.server_cpu_ms, serving_ms, run.client_cpu_ms)
    variant.rows.append((run.scans_per_second, *cpu, run.p50_ms, run.p99_ms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="+", help="NAME=CHECKOUT[,HASHWATCH_X=value...]")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--client", choices=("stream", "unary"), default="stream")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--list-size", type=int, default=100_000)
    args = parser.parse_args()
    variants = [parse_variant(text) for text in args.variants]
    first = variants[0].bench
    contents = first.corpus([args.megapixels])[args.megapixels]
    with tempfile.TemporaryDirectory(prefix="ab-list-") as folder:
        list_file = Path(folder) / "random.pdq"
        first.write_random_list(list_file, args.list_size)
        for round_ in range(args.rounds):
            for variant in variants:
                one_round(variant, contents, list_file, args)
                figures = " ".join(f"{value:.2f}" for value in variant.rows[-1])
                print(f"round {round_ + 1} {variant.name}: {figures}", file=sys.stderr, flush=True)
    print(
        f"\n{args.client}, {args.in_flight} in flight, {args.megapixels:g} MP, {args.seconds:g} s x "
        f"{args.rounds} rounds; median (min-max)\n"
    )
    print("| variant | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for variant in variants:
        cells = [
            f"{statistics.median(column):.2f} ({min(column):.2f}-{max(column):.2f})"
            for column in zip(*variant.rows, strict=True)
        ]
        print(f"| {variant.name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
