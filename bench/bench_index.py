"""Benchmark of the Hamming index against FAISS flat and HMA's IndexBinaryMultiHash(256, 16, 16).

For each size and data kind, every contender runs in its own child process (so resident memory
is its own), single-threaded, on the same hashes and queries:

* ``ours``: build (and its peak RSS), snapshot size and save time; then a fresh process loads the
  snapshot (timed, checksum verified) and measures RSS, single-query p50/p99 for queries that
  match nothing ("miss": fresh images from the same distribution, the common case on a real
  server) and for planted near-duplicates at distances 0..40 ("hit"), batched throughput, then
  adds 10 000 entries while a reader thread keeps searching.
* ``faiss-flat``: IndexBinaryFlat, range_search(t + 1). Its answers are the brute-force oracle:
  ours must agree on every query, and the planted rows must be found at every distance <= t.
* ``faiss-mih``: IndexBinaryMultiHash(256, 16, 16), nflip = t // 16, as pytx's PDQIndex.

Run from the repo root, pinned to one core:

    taskset -c 0 .venv/bin/python bench/bench_index.py --sizes 1e5,1e6,1e7

``--sizes 1e5`` is a quick check; ``--skip`` leaves out contenders (e.g. ``faiss-mih``; skipping
``faiss-flat`` reuses the oracle a previous run left in the work directory).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.factory import build_index, load_index  # noqa: E402
from index.hashes import Algorithm  # noqa: E402
from index.synthetic import Clustered, flip, uniform  # noqa: E402

BITS = 256
HIT_DISTANCES = 41  # planted at 0..40: recall checked at <= t, absence past it


def _rss_mb() -> tuple[float, float]:
    """Current and peak resident set size of this process, in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def _paths(workdir: Path, kind: str, n: int) -> dict[str, Path]:
    stem = f"{kind}-{n}"
    return {
        "codes": workdir / f"{stem}.codes.npy",
        "misses": workdir / f"{stem}.misses.npy",
        "hits": workdir / f"{stem}.hits.npy",
        "planted": workdir / f"{stem}.planted.npy",
        "oracle": workdir / f"{stem}.oracle.npz",
        "snapshot": workdir / f"{stem}.snapshot",
        "extra": workdir / f"{stem}.extra.npy",
    }


def make_data(workdir: Path, kind: str, n: int, queries: int) -> None:
    paths = _paths(workdir, kind, n)
    present = all(paths[k].exists() for k in ("codes", "misses", "hits", "planted", "extra"))
    if present and len(np.load(paths["misses"], mmap_mode="r")) == queries:
        return
    if kind == "uniform":
        codes = uniform(n, BITS, seed=1)
        misses = uniform(queries, BITS, seed=2)
        extra = uniform(10_000, BITS, seed=3)
    else:
        generator = Clustered(BITS, seed=1)
        codes = generator.families(n)
        misses = generator.centres(queries)
        extra = generator.families(10_000)
    rng = np.random.default_rng(4)
    planted = rng.choice(n, queries, replace=False).astype(np.int64)
    distances = np.arange(queries, dtype=np.int64) % HIT_DISTANCES
    hits = flip(codes[planted], distances, seed=5)
    for key, array in (
        ("codes", codes),
        ("misses", misses),
        ("hits", hits),
        ("planted", planted),
        ("extra", extra),
    ):
        np.save(paths[key], array)


def _load(paths: dict[str, Path], key: str) -> npt.NDArray[Any]:
    return np.load(paths[key], mmap_mode="r")


def _latencies(search: Any, queries: npt.NDArray[Any]) -> dict[str, float]:
    """Wall-clock latency per single query, and the thread's CPU time per query: on a shared
    machine the wall clock includes time the process was not scheduled, the CPU time does not."""
    search(queries[:1])
    times, cpu = [], []
    for i in range(len(queries)):
        c0 = time.thread_time()
        start = time.perf_counter()
        search(queries[i : i + 1])
        times.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - c0)
    ms, cpu_ms = np.array(times) * 1e3, np.array(cpu) * 1e3
    return {
        "p50_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "cpu_p50_ms": float(np.median(cpu_ms)),
        "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
    }


def _throughput(search: Any, queries: npt.NDArray[np.uint8]) -> float:
    start = time.perf_counter()
    search(queries)
    return len(queries) / (time.perf_counter() - start)


def _as_sets(lims: Any, labels: Any, dists: Any) -> list[set[tuple[int, int]]]:
    return [
        set(zip(labels[lims[q] : lims[q + 1]].tolist(), dists[lims[q] : lims[q + 1]].tolist(), strict=True))
        for q in range(len(lims) - 1)
    ]


# -- contenders (each runs in a child process) ------------------------------------------------


def run_faiss(workdir: Path, kind: str, n: int, threshold: int, which: str, limit: int) -> dict[str, Any]:
    import faiss

    faiss.omp_set_num_threads(1)
    paths = _paths(workdir, kind, n)
    codes = np.ascontiguousarray(_load(paths, "codes"))
    misses, hits = np.asarray(_load(paths, "misses")), np.asarray(_load(paths, "hits"))
    limit = min(limit, len(misses))
    rss0, _ = _rss_mb()
    start = time.perf_counter()
    index: Any
    if which == "faiss-flat":
        index = faiss.IndexBinaryFlat(BITS)
    else:
        index = faiss.IndexBinaryMultiHash(BITS, 16, 16)
        index.nflip = threshold // 16
    index.add(codes)
    build = time.perf_counter() - start
    rss, _ = _rss_mb()
    blob = faiss.serialize_index_binary(index)
    start = time.perf_counter()
    faiss.deserialize_index_binary(blob)
    load = time.perf_counter() - start
    size_mb = blob.nbytes / 2**20
    del blob

    def search(q: npt.NDArray[np.uint8]) -> Any:
        return index.range_search(q, threshold + 1)

    result: dict[str, Any] = {
        "build_s": build,
        "rss_mb": rss - rss0,
        "load_s": load,
        "file_mb": size_mb,
        "miss": _latencies(search, misses[:limit]),
        "hit": _latencies(search, hits[:limit]),
    }
    if which == "faiss-flat":
        # The oracle needs every query; the batch is timed on the same call.
        batch = np.concatenate([misses, hits])
    else:
        batch = np.concatenate([misses[:limit], hits[:limit]])
    start = time.perf_counter()
    lims, dists, labels = search(batch)
    result["batch_qps"] = len(batch) / (time.perf_counter() - start)
    if which == "faiss-flat":
        np.savez(paths["oracle"], lims=lims, labels=labels, dists=dists)
    else:
        oracle = np.load(paths["oracle"])
        truth = _as_sets(oracle["lims"], oracle["labels"], oracle["dists"])
        truth = truth[:limit] + truth[len(misses) : len(misses) + limit]
        got = _as_sets(lims, labels, dists)
        result["agrees_with_flat"] = sum(g == t for g, t in zip(got, truth, strict=True)) / len(truth)
    return result


def run_ours_build(workdir: Path, kind: str, n: int) -> dict[str, Any]:
    paths = _paths(workdir, kind, n)
    codes = np.ascontiguousarray(_load(paths, "codes"))
    ids = np.arange(n, dtype=np.int64)
    rss0, _ = _rss_mb()
    start = time.perf_counter()
    index = build_index(Algorithm.PDQ, ids, codes)
    build = time.perf_counter() - start
    _, peak = _rss_mb()
    start = time.perf_counter()
    sidecar = index.save(paths["snapshot"], source_version="bench")
    save = time.perf_counter() - start
    return {
        "build_s": build,
        "build_peak_rss_mb": peak,
        "input_rss_mb": rss0,
        "save_s": save,
        "file_mb": sidecar["data_size"] / 2**20,
        "segments": [list(s) for s in index.stats().segments],
    }


def run_ours_serve(workdir: Path, kind: str, n: int, threshold: int, mmap: bool) -> dict[str, Any]:
    paths = _paths(workdir, kind, n)
    misses, hits = np.array(_load(paths, "misses")), np.array(_load(paths, "hits"))
    planted = np.array(_load(paths, "planted"))
    extra = np.array(_load(paths, "extra"))
    # Compile the kernels first (numba's JIT takes ~70 MB of its own, whatever the index size).
    warm = build_index(Algorithm.PDQ, np.arange(40_000, dtype=np.int64), uniform(40_000, BITS, 9))
    warm.search(misses[:2], threshold)
    warm.add(np.array([-1], dtype=np.int64), misses[:1])
    warm.search(misses[:2], threshold)
    del warm
    rss0, _ = _rss_mb()
    start = time.perf_counter()
    index = load_index(paths["snapshot"], algorithm=Algorithm.PDQ, mmap=mmap)
    load = time.perf_counter() - start
    rss_loaded, _ = _rss_mb()

    def search(q: npt.NDArray[np.uint8]) -> Any:
        return index.search(q, threshold)

    result: dict[str, Any] = {"load_s": load, "rss_after_load_mb": rss_loaded}
    result["miss"] = _latencies(search, misses)
    result["hit"] = _latencies(search, hits)
    everything = np.concatenate([misses, hits])
    result["batch_qps"] = _throughput(search, everything)
    result["rss_mb"] = _rss_mb()[0] - rss0

    # Exactness: the same (id, distance) sets as brute force, on every query.
    got = search(everything)
    oracle = np.load(paths["oracle"])
    truth = _as_sets(oracle["lims"], oracle["labels"], oracle["dists"])
    result["agrees_with_flat"] = sum(set(g) == t for g, t in zip(got, truth, strict=True)) / len(truth)
    distances = np.arange(len(hits)) % HIT_DISTANCES
    found = np.array([any(i == planted[k] for i, _ in got[len(misses) + k]) for k in range(len(hits))])
    within = distances <= threshold
    result["planted_recall"] = float(found[within].mean())
    result["planted_beyond_found"] = int(found[~within].sum())
    result["results_per_hit_query"] = float(np.mean([len(g) for g in got[len(misses) :]]))

    # 10 000 entries added in batches of 1 000 (as a server applying database changes) while
    # a reader keeps searching.
    stop = threading.Event()
    errors: list[str] = []
    during: list[float] = []

    def reader() -> None:
        k = 0
        while not stop.is_set():
            q = everything[k % len(everything) : k % len(everything) + 1]
            t0 = time.perf_counter()
            try:
                index.search(q, threshold)
            except Exception as exc:
                errors.append(repr(exc))
            during.append(time.perf_counter() - t0)
            k += 1

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.2)
    new_ids = np.arange(10**9, 10**9 + len(extra), dtype=np.int64)
    start = time.perf_counter()
    add_calls = []
    for lo in range(0, len(extra), 1_000):
        t0 = time.perf_counter()
        index.add(new_ids[lo : lo + 1_000], extra[lo : lo + 1_000])
        add_calls.append(time.perf_counter() - t0)
    visible = all((int(new_ids[100 * k]), 0) in h for k, h in enumerate(index.search(extra[::100], 0)))
    added = time.perf_counter() - start
    t0 = time.perf_counter()
    index.compact()
    compact = time.perf_counter() - t0
    time.sleep(0.2)
    stop.set()
    thread.join()
    ms = np.array(during) * 1e3
    result["update"] = {
        "add_10k_s": added,
        "max_add_call_ms": max(add_calls) * 1e3,
        "visible": visible,
        "compact_s": compact,
        "reader_queries": len(during),
        "reader_errors": len(errors),
        "reader_p50_ms": float(np.median(ms)),
        "reader_p99_ms": float(np.percentile(ms, 99)),
        "segments": [list(s) for s in index.stats().segments],
    }
    # A reload (the new snapshot replacing the old one) while the old is still referenced.
    before, _ = _rss_mb()
    start = time.perf_counter()
    fresh = load_index(paths["snapshot"], algorithm=Algorithm.PDQ, mmap=mmap)
    fresh.search(everything[:200], threshold)
    result["reload_s"] = time.perf_counter() - start
    index = fresh
    result["rss_reload_growth_mb"] = _rss_mb()[0] - before
    result["peak_rss_mb"] = _rss_mb()[1]
    return result


def crossover(threshold: int, queries: int) -> None:
    """Flat scan against multi-index hashing on small segments (the ``flat_below`` choice)."""
    from index.mih import MihSegment
    from index.segments import Segment, to_words

    print(f"\n== crossover: flat scan vs MIH, single query p50 in ms, threshold {threshold}")
    print(f"{'rows':>9}{'uniform flat':>14}{'uniform MIH':>13}{'clustered flat':>16}{'clustered MIH':>15}")
    for n in (1_000, 4_000, 16_000, 32_000, 64_000, 256_000, 1_000_000):
        line = f"{n:>9}"
        for kind in ("uniform", "clustered"):
            if kind == "uniform":
                codes, qs = uniform(n, BITS, 1), uniform(queries, BITS, 2)
            else:
                generator = Clustered(BITS, seed=1)
                codes, qs = generator.families(n), generator.centres(queries)
            words, qw = to_words(codes, BITS), to_words(qs, BITS)
            ids = np.arange(n, dtype=np.int64)
            for segment in (Segment.build(BITS, ids, words), MihSegment.build(BITS, ids, words)):
                p50 = _latencies(lambda q, s=segment: s.search(q, threshold), qw)["p50_ms"]
                line += f"{p50:>14.4f}"
        print(line)
    sys.stdout.flush()


# -- orchestration ------------------------------------------------------------------------------


def child(args: list[str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", *args]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ})
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _fmt(x: float | None, unit: str = "", digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1e5,1e6,1e7")
    parser.add_argument("--data", default="uniform,clustered")
    parser.add_argument("--queries", type=int, default=1_000, help="of each kind (miss, hit)")
    parser.add_argument("--threshold", type=int, default=31)
    parser.add_argument(
        "--baseline-queries",
        type=int,
        default=1_000,
        help="single-query latencies of the FAISS baselines over only this many of each kind",
    )
    parser.add_argument("--skip", default="", help="contenders to leave out, e.g. faiss-mih")
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out" / "index"))
    parser.add_argument("--json", help="also write all figures to this file")
    parser.add_argument("--crossover", action="store_true", help="only the flat/MIH crossover table")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        role, workdir, kind, n, threshold_arg, *rest = args.child
        wd, size, threshold = Path(workdir), int(n), int(threshold_arg)
        if role == "data":
            make_data(wd, kind, size, int(rest[0]))
            figures: dict[str, Any] = {}
        elif role in ("faiss-flat", "faiss-mih"):
            figures = run_faiss(wd, kind, size, threshold, role, int(rest[0]))
        elif role == "ours-build":
            figures = run_ours_build(wd, kind, size)
        else:
            figures = run_ours_serve(wd, kind, size, threshold, mmap=role == "ours-mmap")
        print(json.dumps(figures))
        return

    if args.crossover:
        crossover(args.threshold, args.queries)
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    if not {"faiss-flat", "faiss-mih"} <= skip and importlib.util.find_spec("faiss") is None:
        # FAISS is a bench/dev extra, not a dependency of the service.
        raise SystemExit("the FAISS baselines need the bench extra: make install-bench (or --skip them)")
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    kinds = args.data.split(",")
    t = str(args.threshold)
    report: dict[str, Any] = {"threshold": args.threshold, "queries": args.queries, "runs": {}}
    print(f"threshold {args.threshold}, {args.queries} miss + {args.queries} hit queries, one thread")
    for n in sizes:
        for kind in kinds:
            common = [str(workdir), kind, str(n), t]
            child(["data", *common, str(args.queries)])
            run: dict[str, Any] = {}
            if "faiss-flat" not in skip or not _paths(workdir, kind, n)["oracle"].exists():
                # Also writes the oracle.
                run["faiss-flat"] = child(["faiss-flat", *common, str(args.baseline_queries)])
            if "faiss-mih" not in skip:
                run["faiss-mih"] = child(["faiss-mih", *common, str(args.baseline_queries)])
            run["ours-build"] = child(["ours-build", *common])
            run["ours-mmap"] = child(["ours-mmap", *common])
            if "ours-copy" not in skip:
                run["ours-copy"] = child(["ours-copy", *common])
            report["runs"][f"{kind}-{n}"] = run
            _print_run(n, kind, run)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


def _print_run(n: int, kind: str, run: dict[str, Any]) -> None:
    flat, mih = run.get("faiss-flat"), run.get("faiss-mih")
    build = run["ours-build"]
    print(f"\n== {n:.0e} PDQ hashes, {kind}")
    header = (
        f"{'index':<22}{'build s':>9}{'load s':>8}{'RSS MB':>8}{'miss p50':>10}{'miss p99':>10}"
        f"{'hit p50':>9}{'hit p99':>9}{'batch q/s':>11}{'exact':>7}  cpu p50 miss/hit"
    )
    print(header)
    rows: list[tuple[str, dict[str, Any], float | None]] = []
    if flat:
        rows.append(("FAISS flat", flat, flat["build_s"]))
    if mih:
        rows.append(("FAISS MIH(256,16,16)", mih, mih["build_s"]))
    for key, label in (("ours-mmap", "ours (mmap)"), ("ours-copy", "ours (read)")):
        if key in run:
            rows.append((label, run[key], build["build_s"]))
    for label, r, b in rows:
        print(
            f"{label:<22}{_fmt(b, '', 1):>9}{_fmt(r['load_s'], '', 2):>8}{_fmt(r['rss_mb'], '', 0):>8}"
            f"{_fmt(r['miss']['p50_ms']):>10}{_fmt(r['miss']['p99_ms']):>10}"
            f"{_fmt(r['hit']['p50_ms']):>9}{_fmt(r['hit']['p99_ms']):>9}{_fmt(r['batch_qps'], '', 0):>11}"
            f"{_fmt(r.get('agrees_with_flat', 1.0), '', 3):>7}"
            f"  {_fmt(r['miss']['cpu_p50_ms'])}/{_fmt(r['hit']['cpu_p50_ms'])}"
        )
    ours = run["ours-mmap"]
    print(
        f"ours: snapshot {build['file_mb']:.0f} MB, save {build['save_s']:.2f} s, build peak RSS "
        f"{build['build_peak_rss_mb']:.0f} MB (input {build['input_rss_mb']:.0f} MB); "
        f"RSS after load {ours['rss_after_load_mb']:.0f} MB, after queries +{ours['rss_mb']:.0f} MB"
    )
    for key in ("ours-mmap", "ours-copy"):
        if key in run:
            r = run[key]
            print(
                f"{key}: planted recall d<=t {r['planted_recall']:.3f}, planted found beyond t "
                f"{r['planted_beyond_found']}, results per hit query {r['results_per_hit_query']:.1f}, "
                f"process RSS peak {r['peak_rss_mb']:.0f} MB, reload {r['reload_s']:.2f} s "
                f"(+{r['rss_reload_growth_mb']:.0f} MB)"
            )
    u = ours["update"]
    print(
        f"update under load: +10k entries in {u['add_10k_s'] * 1e3:.0f} ms (largest add call "
        f"{u['max_add_call_ms']:.1f} ms), visible={u['visible']}, reader {u['reader_queries']} queries, "
        f"{u['reader_errors']} errors, p50 {u['reader_p50_ms']:.3f} ms p99 {u['reader_p99_ms']:.3f} ms; "
        f"compact {u['compact_s']:.2f} s"
    )
    ratios = []
    for label, key in (("FAISS flat", "faiss-flat"), ("FAISS MIH", "faiss-mih")):
        if key in run:
            base = run[key]
            ratios.append(
                f"vs {label}: miss p50 {base['miss']['p50_ms'] / ours['miss']['p50_ms']:.1f}x faster, "
                f"hit p50 {base['hit']['p50_ms'] / ours['hit']['p50_ms']:.1f}x, "
                f"load {base['load_s'] / ours['load_s']:.1f}x faster, "
                f"RSS ours/theirs {ours['rss_mb'] / max(base['rss_mb'], 1):.2f}"
            )
    for line in ratios:
        print(line)
    sys.stdout.flush()


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
