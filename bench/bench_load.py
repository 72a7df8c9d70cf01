"""Load benchmark: ``hashwatch serve`` end to end on loopback, against two baselines measured in
the same run.

* service: ``hashwatch serve`` started as a subprocess on a fresh data directory with the demo
  list (plus ``--list-size`` random PDQ hashes) imported, in the environment an operator would
  use (JSON access log, metrics endpoint, outbox worker, embedded SQLite); gRPC clients
  (``grpc.aio``, one channel) with unary ``Scan`` and streaming ``ScanStream`` at each
  concurrency (a stream keeps that many requests in flight);
* ceiling: the service's own hashing (``scanner.pipeline.hash_content``, fast mode, PDQ + pHash +
  MD5) in one process per CPU, no gRPC: what the machine can hash;
* naive: a single-process plain gRPC servicer written here (Pillow full decode, ``pdqhash`` +
  ``imagehash`` + MD5, a FAISS ``IndexBinaryFlat`` over the same list), driven by the same client
  (at 1 MP unless ``--naive-sizes``: at 12 MP it takes minutes to drain 64 requests in flight).

Then an overload run: the sustainable rate is the best closed-loop 1 MP unary rate measured
above; an open-loop client sends at twice that rate (each request with a deadline) and the
p50/p99 of admitted requests, the rejected (RESOURCE_EXHAUSTED) and timed-out fractions come out.

Images: the photographs in tests/data/images that are not in the demo list (so every scan is a
miss, as almost all real traffic is), Lanczos-resized to 0.3 and 1 MP, and 12 MP mosaics of
native-resolution crops, all JPEG quality 90 (``bench_hashing.py`` makes them the same way).

Every figure is the median over ``--repeats`` rounds; each round measures the ceiling, the
service and the naive server back to back, so a neighbour's load falls on all three alike.
The clients run in this process on the same CPUs as the server: on a small machine they take
a share of it (the client CPU column says how much).

    .venv/bin/python bench/bench_load.py --quick   # under a minute
    .venv/bin/python bench/bench_load.py           # full: ~8 min on a quiet 2-CPU machine
    .venv/bin/python bench/bench_load.py --hash-workers 2 --queue-size 64   # the hashing pool
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from bench_hashing import PHOTOS, encode, load, mosaic, resized
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner.api.hashwatch.v1 import scanner_pb2 as pb  # noqa: E402
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc  # noqa: E402

DEMO_LIST = ROOT / "demo" / "list"
# In the demo list: scanning them would match and write to the database on every request.
LISTED = {p.name for p in DEMO_LIST.iterdir()}
SCANNED = [name for name in PHOTOS if name not in LISTED]
PDQ_THRESHOLD = 31
MESSAGE_LIMIT = 64 << 20
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MESSAGE_LIMIT),
    ("grpc.max_receive_message_length", MESSAGE_LIMIT),
]
TICKS = os.sysconf("SC_CLK_TCK")
# Closed-loop clients wait this long for an answer (a 12 MP scan queued behind 63 others on a
# busy machine takes a while); a request that takes longer counts as failed.
REQUEST_TIMEOUT = 300.0


# --------------------------------------------------------------------------- images


def corpus(sizes: list[float]) -> dict[float, list[bytes]]:
    photos = [load(name) for name in SCANNED]
    out: dict[float, list[bytes]] = {}
    for size in sizes:
        if size >= 6:
            # Upscaled photographs are smoother than camera files and decode too cheaply.
            out[size] = [encode(mosaic(photos, size, seed)) for seed in range(4)]
        else:
            out[size] = [encode(resized(photo, size)) for photo in photos]
    return out


def label(size: float) -> str:
    return f"{size:g} MP"


# --------------------------------------------------------------------------- ceiling


def _ceiling_worker(
    contents: dict[float, list[bytes]], seconds: float, barrier: Barrier, results: Any
) -> None:
    from scanner.pipeline import hash_content

    for size, images in contents.items():
        for content in images:  # warm-up: allocator, caches
            hash_content(content)
        barrier.wait()
        count, started, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - started < seconds:
            hash_content(images[count % len(images)])
            count += 1
        results.put((size, count / (time.perf_counter() - started), (time.process_time() - cpu) / count))


def ceiling(
    contents: dict[float, list[bytes]], processes: int, seconds: float
) -> dict[float, tuple[float, float]]:
    """Scans per second of ``hash_content`` summed over ``processes`` processes hashing at once,
    and the CPU milliseconds one scan took."""
    context = multiprocessing.get_context("spawn")  # this process holds gRPC threads: no fork
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=_ceiling_worker, args=(contents, seconds, barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    rates: dict[float, float] = dict.fromkeys(contents, 0.0)
    cpu: dict[float, list[float]] = {size: [] for size in contents}
    for _ in range(processes * len(contents)):
        size, rate, cpu_seconds = results.get(timeout=600)
        rates[size] += rate
        cpu[size].append(cpu_seconds * 1000)
    for worker in workers:
        worker.join()
    return {size: (rates[size], statistics.mean(cpu[size])) for size in contents}


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_random_list(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    path.write_text("".join(f"{rng.getrandbits(256):064x}\n" for _ in range(n)))


def hashwatch(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "scanner", *args], env=env, check=True, cwd=ROOT, timeout=600)


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    address: str
    log_path: Path

    def cpu_seconds(self) -> float:
        """CPU time of the server and every process it started (hashing workers)."""
        return sum(_cpu(pid) for pid in _tree(self.process.pid))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    pids, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        pids += children
        frontier = children
    return pids


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def start_service(work: Path, list_file: Path | None, extra_env: dict[str, str]) -> Service:
    """``hashwatch serve`` on a fresh data directory with the demo list (and ``list_file``) imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("HASHWATCH_DATABASE_URL",)}
    env.update(
        HASHWATCH_DATA_DIR=str(work / "var"),
        HASHWATCH_PORT="0",  # the "serving" log line says which port it bound
        HASHWATCH_METRICS_PORT=str(free_port()),
        HASHWATCH_SHUTDOWN_DELAY_SECONDS="0",
        HASHWATCH_GRACE_SECONDS="5",
    )
    env.update(extra_env)
    hashwatch("lists", "import", str(DEMO_LIST), "--list", "demo", "--format", "images", env=env)
    if list_file is not None:
        hashwatch("lists", "import", str(list_file), "--list", "bench", "--format", "pdq", env=env)
    log_path = work / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "scanner", "serve"], env=env, stderr=log, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        for line in log_path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "serving":
                return Service(process, event["address"], log_path)
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"hashwatch serve did not start:\n{log_path.read_text()[-3000:]}")


def start_naive(list_file: Path | None) -> Service:
    command = [sys.executable, __file__, "--naive-server"]
    if list_file is not None:
        command += ["--naive-list", str(list_file)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    if not line.startswith("port "):
        process.kill()
        raise SystemExit(f"naive server did not start: {line!r}")
    return Service(process, f"127.0.0.1:{line.split()[1]}", Path("/dev/null"))


class NaiveScanner(pb_grpc.ScannerServicer):
    """What a first version would be: full decode, the reference libraries, a flat FAISS index."""

    def __init__(self, list_file: Path | None) -> None:
        import faiss
        import pdqhash

        self._pdqhash = pdqhash
        rows = []
        self.md5s = set()
        for path in sorted(DEMO_LIST.iterdir()):
            data = path.read_bytes()
            self.md5s.add(hashlib.md5(data, usedforsecurity=False).hexdigest())
            vector, _quality = pdqhash.compute(np.asarray(Image.open(path).convert("RGB")))
            rows.append(np.packbits(vector.astype(np.uint8)))
        if list_file is not None:
            for line in list_file.read_text().split():
                rows.append(np.frombuffer(bytes.fromhex(line), dtype=np.uint8))
        self.index = faiss.IndexBinaryFlat(256)
        self.index.add(np.stack(rows))

    def Scan(self, request: pb.ScanRequest, context: grpc.ServicerContext) -> pb.ScanResponse:
        import imagehash

        started = time.perf_counter()
        image = Image.open(io.BytesIO(request.content))
        image.load()
        vector, _quality = self._pdqhash.compute(np.asarray(image.convert("RGB")))
        imagehash.phash(image)
        md5 = hashlib.md5(request.content, usedforsecurity=False).hexdigest()
        distances, _ids = self.index.search(np.packbits(vector.astype(np.uint8)).reshape(1, 32), 1)
        matched = int(distances[0, 0]) <= PDQ_THRESHOLD or md5 in self.md5s
        return pb.ScanResponse(
            request_id=request.request_id,
            verdict=pb.VERDICT_BLOCK if matched else pb.VERDICT_ALLOW,
            outcome=pb.OUTCOME_SCANNED,
            elapsed_us=int((time.perf_counter() - started) * 1e6),
        )

    def ScanStream(
        self, request_iterator: Iterator[pb.ScanRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.ScanResponse]:
        for request in request_iterator:
            yield self.Scan(request, context)


def serve_naive(list_file: Path | None) -> None:
    server = grpc.server(
        ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", MESSAGE_LIMIT), ("grpc.so_reuseport", 0)],
    )
    pb_grpc.add_ScannerServicer_to_server(NaiveScanner(list_file), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"port {port}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop(1).wait()


# --------------------------------------------------------------------------- clients


@dataclass
class Run:
    scans_per_second: float
    p50_ms: float
    p99_ms: float
    rejected: int = 0
    scans: int = 0
    # Other errors (DEADLINE_EXCEEDED after --request-timeout, …).
    failed: int = 0
    server_cpu_ms: float = 0.0  # per scan
    client_cpu_ms: float = 0.0  # per scan


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    if not latencies:
        return float("nan"), float("nan")
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return float(p50), float(p99)


def _request(contents: list[bytes], i: int) -> pb.ScanRequest:
    return pb.ScanRequest(
        request_id=f"r{i}",
        customer_id="bench",
        url=f"https://bench.example/{i}.jpg",
        content=contents[i % len(contents)],
        content_type="image/jpeg",
    )


async def closed_unary(address: str, contents: list[bytes], concurrency: int, seconds: float) -> Run:
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.ScannerStub(channel)
        await stub.Scan(_request(contents, 0), timeout=REQUEST_TIMEOUT)  # connect, warm up
        latencies: list[float] = []
        rejected = 0
        failed: dict[str, int] = {}
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + seconds

        async def client(k: int) -> None:
            nonlocal rejected
            i = k
            while loop.time() < stop_at:
                began = time.perf_counter()
                try:
                    await stub.Scan(_request(contents, i), timeout=REQUEST_TIMEOUT)
                except grpc.aio.AioRpcError as exc:
                    # Counted, not fatal: an overloaded baseline must not end the run.
                    if exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                        rejected += 1
                    else:
                        failed[exc.code().name] = failed.get(exc.code().name, 0) + 1
                    await asyncio.sleep(0.001)
                else:
                    latencies.append(time.perf_counter() - began)
                i += concurrency

        began = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - began
    return Run(
        len(latencies) / elapsed,
        *_percentiles(latencies),
        rejected=rejected,
        scans=len(latencies),
        failed=sum(failed.values()),
    )


async def closed_stream(address: str, contents: list[bytes], window: int, seconds: float) -> Run:
    """One ScanStream with ``window`` requests in flight: a new one goes as an answer comes."""
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.ScannerStub(channel)
        await stub.Scan(_request(contents, 0), timeout=REQUEST_TIMEOUT)
        call = stub.ScanStream(timeout=seconds + 300)
        sent: dict[str, float] = {}
        latencies: list[float] = []
        slots = asyncio.Semaphore(window)
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + seconds

        async def writer() -> None:
            i = 0
            while loop.time() < stop_at:
                await slots.acquire()
                request = _request(contents, i)
                sent[request.request_id] = time.perf_counter()
                await call.write(request)
                i += 1
            await call.done_writing()

        async def reader() -> None:
            while (response := await call.read()) is not grpc.aio.EOF:
                assert isinstance(response, pb.ScanResponse)
                latencies.append(time.perf_counter() - sent.pop(response.request_id))
                slots.release()

        began = time.perf_counter()
        await asyncio.gather(writer(), reader())
        elapsed = time.perf_counter() - began
    return Run(len(latencies) / elapsed, *_percentiles(latencies), scans=len(latencies))


@dataclass
class Overload:
    sustainable_per_second: float
    offered_per_second: float
    sent: int
    admitted: int
    p50_ms: float
    p99_ms: float
    p99_over_p50: float
    rejected_fraction: float
    deadline_exceeded_fraction: float
    other_errors: dict[str, int] = field(default_factory=dict)


async def open_loop(
    address: str, contents: list[bytes], sustainable: float, seconds: float, deadline: float
) -> Overload:
    """Requests sent on a fixed schedule at twice ``sustainable``, whatever the answers do.
    Latency counts from the scheduled send time, so a client that falls behind is not hidden."""
    rate = 2 * sustainable
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.ScannerStub(channel)
        await stub.Scan(_request(contents, 0), timeout=REQUEST_TIMEOUT)
        loop = asyncio.get_running_loop()
        codes: dict[str, int] = {}
        latencies: list[float] = []

        async def one(i: int, scheduled: float) -> None:
            try:
                await stub.Scan(_request(contents, i), timeout=deadline)
            except grpc.aio.AioRpcError as exc:
                name = exc.code().name
                codes[name] = codes.get(name, 0) + 1
            else:
                latencies.append(loop.time() - scheduled)

        tasks = []
        start = loop.time() + 0.05
        for i in range(max(1, int(rate * seconds))):
            scheduled = start + i / rate
            if (delay := scheduled - loop.time()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, scheduled)))
        await asyncio.gather(*tasks)
    sent = len(tasks)
    p50, p99 = _percentiles(latencies)
    rejected = codes.pop("RESOURCE_EXHAUSTED", 0)
    timed_out = codes.pop("DEADLINE_EXCEEDED", 0)
    return Overload(
        sustainable,
        rate,
        sent,
        len(latencies),
        p50,
        p99,
        p99 / p50 if latencies else float("nan"),
        rejected / sent,
        timed_out / sent,
        codes,
    )


def measure(service: Service, kind: str, contents: list[bytes], concurrency: int, seconds: float) -> Run:
    client = closed_unary if kind == "unary" else closed_stream
    server_cpu, client_cpu = service.cpu_seconds(), time.process_time()
    run = asyncio.run(client(service.address, contents, concurrency, seconds))
    scans = max(1, run.scans)
    run.server_cpu_ms = (service.cpu_seconds() - server_cpu) * 1000 / scans
    run.client_cpu_ms = (time.process_time() - client_cpu) * 1000 / scans
    return run


def median_run(runs: list[Run]) -> Run:
    def med(name: str) -> float:
        return float(statistics.median(getattr(r, name) for r in runs))

    return Run(
        med("scans_per_second"),
        med("p50_ms"),
        med("p99_ms"),
        rejected=int(med("rejected")),
        failed=int(med("failed")),
        scans=sum(r.scans for r in runs),
        server_cpu_ms=med("server_cpu_ms"),
        client_cpu_ms=med("client_cpu_ms"),
    )


# --------------------------------------------------------------------------- report


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """The hashing pool's settings, only when given: a server without the pool ignores them
    (unknown HASHWATCH_* variables are ignored by the settings), and unset they keep its defaults."""
    env = {}
    for flag, name in (
        ("hash_workers", "HASHWATCH_HASH_WORKERS"),
        ("queue_size", "HASHWATCH_QUEUE_SIZE"),
        ("hash_timeout", "HASHWATCH_HASH_TIMEOUT_SECONDS"),
        ("threads", "HASHWATCH_THREADS"),
    ):
        if (value := getattr(args, flag)) is not None:
            env[name] = str(value)
    return env


def _fmt(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="0.3 and 1 MP, concurrency 1 and 8, 1 round")
    parser.add_argument("--sizes", type=float, nargs="+", help="megapixels (default 0.3 1 12)")
    parser.add_argument("--concurrency", type=int, nargs="+", help="requests in flight (default 1 8 64)")
    parser.add_argument("--seconds", type=float, help="per measurement (default 4; quick 1)")
    parser.add_argument("--repeats", type=int, help="rounds, medians taken (default 3; quick 1)")
    parser.add_argument("--overload-seconds", type=float, help="open-loop run length (default 15; quick 2)")
    parser.add_argument("--overload-deadline", type=float, default=2.0, help="client deadline, seconds")
    parser.add_argument(
        "--list-size", type=int, help="random PDQ hashes in the list (default 100000; quick 0)"
    )
    parser.add_argument("--processes", type=int, help="ceiling processes (default: the CPUs usable)")
    parser.add_argument("--hash-workers", type=int, help="HASHWATCH_HASH_WORKERS for the server")
    parser.add_argument("--queue-size", type=int, help="HASHWATCH_QUEUE_SIZE for the server")
    parser.add_argument("--hash-timeout", type=float, help="HASHWATCH_HASH_TIMEOUT_SECONDS for the server")
    parser.add_argument("--threads", type=int, help="HASHWATCH_THREADS for the server")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive server")
    parser.add_argument(
        "--naive-sizes", type=float, nargs="+", default=[1.0], help="sizes the naive server scans (default 1)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--naive-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--naive-list", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_server:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        serve_naive(args.naive_list)
        return
    quick = args.quick
    sizes = args.sizes or ([0.3, 1.0] if quick else [0.3, 1.0, 12.0])
    if 1.0 not in sizes:
        sizes.append(1.0)  # the summary's ratios are at 1 MP
    if 1.0 not in args.naive_sizes:
        args.naive_sizes.append(1.0)
    concurrencies = args.concurrency or ([1, 8] if quick else [1, 8, 64])
    seconds = args.seconds or (1.0 if quick else 4.0)
    repeats = args.repeats or (1 if quick else 3)
    overload_seconds = args.overload_seconds or (2.0 if quick else 15.0)
    list_size = args.list_size if args.list_size is not None else (0 if quick else 100_000)
    cpus = len(os.sched_getaffinity(0))
    processes = args.processes or cpus
    load_start = os.getloadavg()

    print("# Load benchmark\n")
    print(
        f"CPUs: {os.cpu_count()} (usable {cpus}); load average at start: "
        + " ".join(f"{x:.2f}" for x in load_start)
    )
    print(
        f"sizes {sizes} MP, concurrency {concurrencies}, {seconds:g} s per measurement, "
        f"{repeats} round(s), list {list_size} random PDQ + demo list, server env {server_env(args)}\n",
        flush=True,
    )
    contents = corpus(sizes)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        list_file = None
        if list_size:
            list_file = work / "list.txt"
            write_random_list(list_file, list_size)
        service = start_service(work, list_file, server_env(args))
        naive = None if args.no_naive else start_naive(list_file)
        try:
            figures = run_rounds(args, service, naive, contents, concurrencies, seconds, repeats, processes)
            best = max(
                (figures["service"][(kind, 1.0, c)].scans_per_second, kind, c)
                for kind in ("unary", "stream")
                for c in concurrencies
            )
            sustainable = max(figures["service"][("unary", 1.0, c)].scans_per_second for c in concurrencies)
            print(f"\nOverload: open loop at 2x {sustainable:.1f} scans/s, 1 MP, {overload_seconds:g} s ...")
            overload = asyncio.run(
                open_loop(
                    service.address, contents[1.0], sustainable, overload_seconds, args.overload_deadline
                )
            )
        finally:
            service.stop()
            if naive is not None:
                naive.stop()
    load_end = os.getloadavg()
    report(
        args, figures, overload, best, sizes, concurrencies, processes, cpus, load_start, load_end, contents
    )


def run_rounds(
    args: argparse.Namespace,
    service: Service,
    naive: Service | None,
    contents: dict[float, list[bytes]],
    concurrencies: list[int],
    seconds: float,
    repeats: int,
    processes: int,
) -> dict[str, Any]:
    ceilings: dict[float, list[float]] = {size: [] for size in contents}
    ceiling_cpu: dict[float, list[float]] = {size: [] for size in contents}
    service_runs: dict[tuple[str, float, int], list[Run]] = {}
    naive_runs: dict[tuple[str, float, int], list[Run]] = {}
    for round_number in range(repeats):
        print(f"round {round_number + 1}/{repeats}: ceiling", flush=True)
        for size, (rate, cpu_ms) in ceiling(contents, processes, seconds).items():
            ceilings[size].append(rate)
            ceiling_cpu[size].append(cpu_ms)
        for size, images in contents.items():
            for kind in ("unary", "stream"):
                for c in concurrencies:
                    run = measure(service, kind, images, c, seconds)
                    service_runs.setdefault((kind, size, c), []).append(run)
            if naive is not None and size in args.naive_sizes:
                for c in concurrencies:
                    run = measure(naive, "unary", images, c, seconds)
                    naive_runs.setdefault(("unary", size, c), []).append(run)
        print(f"round {round_number + 1}/{repeats}: done", flush=True)
    return {
        "ceiling": {size: statistics.median(rates) for size, rates in ceilings.items()},
        "ceiling_cpu_ms": {size: statistics.median(ms) for size, ms in ceiling_cpu.items()},
        "service": {key: median_run(runs) for key, runs in service_runs.items()},
        "naive": {key: median_run(runs) for key, runs in naive_runs.items()},
    }


def report(
    args: argparse.Namespace,
    figures: dict[str, Any],
    overload: Overload,
    best: tuple[float, str, int],
    sizes: list[float],
    concurrencies: list[int],
    processes: int,
    cpus: int,
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
    contents: dict[float, list[bytes]],
) -> None:
    print(f"\n## Ceiling: hash_content in {processes} processes, no gRPC (scans/s)\n")
    print("| input | images | KiB | scans/s | CPU ms per scan |")
    print("|---|---|---|---|---|")
    for size in sizes:
        kib = statistics.median(len(c) for c in contents[size]) / 1024
        print(
            f"| {label(size)} JPEG | {len(contents[size])} | {kib:.0f} | {_fmt(figures['ceiling'][size])} "
            f"| {_fmt(figures['ceiling_cpu_ms'][size])} |"
        )

    print("\n## End to end: hashwatch serve (scans/s, latency ms, CPU ms per scan)\n")
    print(
        "| input | client | in flight | scans/s | p50 | p99 | rejected/failed | server CPU | client CPU "
        "| % of ceiling |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        for kind in ("unary", "stream"):
            for c in concurrencies:
                run = figures["service"][(kind, size, c)]
                share = 100 * run.scans_per_second / figures["ceiling"][size]
                print(
                    f"| {label(size)} | {kind} | {c} | {_fmt(run.scans_per_second)} | {_fmt(run.p50_ms)} "
                    f"| {_fmt(run.p99_ms)} | {run.rejected}/{run.failed} | {_fmt(run.server_cpu_ms)} "
                    f"| {_fmt(run.client_cpu_ms)} | {share:.0f}% |"
                )
    if figures["naive"]:
        print("\n## Naive server: one process, pdqhash + imagehash + FAISS IndexBinaryFlat, unary\n")
        print("| input | in flight | scans/s | p50 | p99 | failed | server CPU |")
        print("|---|---|---|---|---|---|---|")
        for size in sorted({key[1] for key in figures["naive"]}):
            for c in concurrencies:
                run = figures["naive"][("unary", size, c)]
                print(
                    f"| {label(size)} | {c} | {_fmt(run.scans_per_second)} | {_fmt(run.p50_ms)} "
                    f"| {_fmt(run.p99_ms)} | {run.failed} | {_fmt(run.server_cpu_ms)} |"
                )

    print(
        f"\n## Overload: open loop at 2x the sustainable rate, 1 MP, {args.overload_deadline:g} s deadline\n"
    )
    print(
        "| sustainable/s | offered/s | sent | admitted | p50 ms | p99 ms | p99/p50 | rejected | "
        "timed out | other errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    o = overload
    print(
        f"| {_fmt(o.sustainable_per_second)} | {_fmt(o.offered_per_second)} | {o.sent} | {o.admitted} "
        f"| {_fmt(o.p50_ms)} | {_fmt(o.p99_ms)} | {o.p99_over_p50:.2f} | {100 * o.rejected_fraction:.1f}% "
        f"| {100 * o.deadline_exceeded_fraction:.1f}% | {o.other_errors or '-'} |"
    )

    best_rate, best_kind, best_c = best
    naive_1mp = max(
        (figures["naive"][("unary", 1.0, c)].scans_per_second for c in concurrencies if figures["naive"]),
        default=0.0,
    )
    of_ceiling = best_rate / figures["ceiling"][1.0]
    # What a neighbour's load does not move: CPU per scan, hashing alone against the server's.
    best_run = figures["service"][(best_kind, 1.0, best_c)]
    cpu_of_ceiling = figures["ceiling_cpu_ms"][1.0] / best_run.server_cpu_ms
    over_naive = best_rate / naive_1mp if naive_1mp else float("nan")
    # No server passes the ceiling: this is the most "service / naive" can be on this machine.
    ceiling_over_naive = figures["ceiling"][1.0] / naive_1mp if naive_1mp else float("nan")
    summary = {
        "cpus": cpus,
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in load_end],
        "service_1mp_scans_per_second": round(best_rate, 1),
        "service_1mp_best_client": f"{best_kind} x{best_c}",
        "ceiling_1mp_scans_per_second": round(figures["ceiling"][1.0], 1),
        "naive_1mp_scans_per_second": round(naive_1mp, 1),
        "service_over_ceiling": round(of_ceiling, 3),
        "service_over_ceiling_cpu": round(cpu_of_ceiling, 3),
        "service_over_naive": round(over_naive, 2),
        "ceiling_over_naive": round(ceiling_over_naive, 2),
        "overload_p99_over_p50": round(o.p99_over_p50, 2),
        "overload_rejected_fraction": round(o.rejected_fraction, 3),
    }
    print("\n## Summary\n")
    print(f"- CPUs: {cpus}; load average {summary['load_average_start']} -> {summary['load_average_end']}")
    print(
        f"- 1 MP end to end: {best_rate:.1f} scans/s ({best_kind}, {best_c} in flight); "
        f"ceiling {figures['ceiling'][1.0]:.1f}; naive {naive_1mp:.1f}"
    )
    print(
        f"- service / ceiling: {100 * of_ceiling:.0f}% (bar >= 80%); in CPU per scan "
        f"(hashing alone / server): {100 * cpu_of_ceiling:.0f}%"
    )
    print(
        f"- service / naive: {over_naive:.1f}x (bar >= 8x); ceiling / naive, the most any server "
        f"reaches here: {ceiling_over_naive:.1f}x"
    )
    print(
        f"- overload at 2x: p99/p50 {o.p99_over_p50:.2f} (bar <= 3), rejected "
        f"{100 * o.rejected_fraction:.1f}%, timed out {100 * o.deadline_exceeded_fraction:.1f}%"
    )
    print("SUMMARY " + json.dumps(summary), flush=True)
    if args.json is not None:
        everything = {
            "summary": summary,
            "ceiling": {label(k): v for k, v in figures["ceiling"].items()},
            "ceiling_cpu_ms": {label(k): v for k, v in figures["ceiling_cpu_ms"].items()},
            "service": [
                {"kind": k, "size": label(s), "in_flight": c, **asdict(r)}
                for (k, s, c), r in figures["service"].items()
            ],
            "naive": [
                {"kind": k, "size": label(s), "in_flight": c, **asdict(r)}
                for (k, s, c), r in figures["naive"].items()
            ],
            "overload": asdict(o),
        }
        args.json.write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()
