"""What the serving process costs per scan when hashing runs in worker processes.

Starts ``hashwatch serve`` (``python -m scanner serve``) as a subprocess configured only by
environment (``HASHWATCH_HASH_WORKERS``, ``HASHWATCH_QUEUE_SIZE``), drives it with unary Scan
calls of one ~1 MP JPEG from ``--clients`` client threads for ``--seconds``, and reads CPU time
from /proc for the serving process and for its hashing processes. Printed:

* main CPU ms per scan: gRPC, protobuf, the pipe to a worker, matching, the reply; this competes
  with the workers for the same cores, so it is the overhead that keeps end-to-end throughput
  under the hashing-only ceiling;
* worker CPU ms per scan, and the in-process ``hash_content`` CPU ms per image measured in the
  same run (the difference is the worker's side of the pipe);
* scans/s, and the hashing-only ceiling (workers / in-process CPU per image) with their ratio.
  The client runs on the same machine and takes CPU too: the ratio is a floor.

With more clients than the workers and the queue hold, some are refused RESOURCE_EXHAUSTED;
they wait the RetryInfo delay (with jitter) before trying again, as docs/operations.md advises.

Run:  .venv/bin/python bench/bench_pool_overhead.py [--workers 2] [--clients 6] [--seconds 20]
          [--log-level warning]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner.api.hashwatch.v1 import scanner_pb2 as pb  # noqa: E402
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc  # noqa: E402
from scanner.pipeline import DEFAULT_ALGORITHMS, hash_content  # noqa: E402

PHOTO = ROOT / "tests" / "data" / "images" / "sklearn_china.jpg"
TICK = os.sysconf("SC_CLK_TCK")


def one_megapixel_jpeg() -> bytes:
    image = Image.open(PHOTO).convert("RGB")
    scale = (1_000_000 / (image.width * image.height)) ** 0.5
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def in_process_cpu_ms(content: bytes, repeats: int = 40) -> float:
    hash_content(content, DEFAULT_ALGORITHMS)
    times = []
    for _ in range(repeats):
        started = time.process_time()
        hash_content(content, DEFAULT_ALGORITHMS)
        times.append(time.process_time() - started)
    return statistics.median(times) * 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(workers: int, queue: int, log_level: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "HASHWATCH_DATA_DIR": str(data_dir),
        "HASHWATCH_PORT": str(port),
        "HASHWATCH_LOG_LEVEL": log_level,
        "HASHWATCH_METRICS_PORT": "0",
        "HASHWATCH_HASH_WORKERS": str(workers),
        "HASHWATCH_QUEUE_SIZE": str(queue),
        "HASHWATCH_SHUTDOWN_DELAY_SECONDS": "0",
    }
    env.pop("HASHWATCH_DATABASE_URL", None)
    log_path = data_dir / "serve.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        command = [sys.executable, "-m", "scanner", "serve", "--no-worker"]
        process = subprocess.Popen(command, env=env, stderr=log)
    address = f"127.0.0.1:{port}"
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                time.sleep(0.2)
                continue
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return process, address
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not start:\n{log_path.read_text()}")


def retry_delay(error: grpc.RpcError) -> float:
    """The server's advised delay (google.rpc.RetryInfo), as a well-behaved client reads it."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    info = error_details_pb2.RetryInfo()
    for detail in status.details if status is not None else ():
        if detail.Unpack(info):
            delay: float = info.retry_delay.ToMilliseconds() / 1000
            return delay
    return 0.05


def drive(address: str, content: bytes, clients: int, seconds: float) -> tuple[int, int, list[float]]:
    channel = grpc.insecure_channel(address)
    stub = pb_grpc.ScannerStub(channel)
    stop = time.monotonic() + seconds
    done, refused, latencies = [0], [0], []
    lock = threading.Lock()

    def client() -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                stub.Scan(pb.ScanRequest(content=content), timeout=30)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                with lock:
                    refused[0] += 1
                time.sleep(retry_delay(error) * random.uniform(1.0, 1.5))
                continue
            with lock:
                done[0] += 1
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    channel.close()
    return done[0], refused[0], latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--clients", type=int, default=0, help="default: 3 per worker")
    parser.add_argument("--queue", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--log-level", default="info", help="the server's; info writes one access line per scan"
    )
    args = parser.parse_args()
    clients = args.clients or 3 * args.workers
    content = one_megapixel_jpeg()
    hash_ms = in_process_cpu_ms(content)
    with tempfile.TemporaryDirectory() as tmp:
        process, address = serve(args.workers, args.queue, args.log_level, Path(tmp) / "var")
        try:
            drive(address, content, clients, 2.0)  # warm-up
            pids = descendants(process.pid)
            main_before = cpu_seconds(process.pid)
            workers_before = sum(cpu_seconds(p) for p in pids)
            started = time.monotonic()
            done, refused, latencies = drive(address, content, clients, args.seconds)
            elapsed = time.monotonic() - started
            main_cpu = cpu_seconds(process.pid) - main_before
            workers_cpu = sum(cpu_seconds(p) for p in pids) - workers_before
        finally:
            process.terminate()
            process.wait(30)
    rate = done / elapsed
    ceiling = args.workers / (hash_ms / 1000)
    latencies.sort()
    print(f"image: {len(content)} bytes, 1 MP JPEG; workers {args.workers}, clients {clients}")
    print(f"server log level: {args.log_level}")
    print(f"load average: {os.getloadavg()[0]:.1f}")
    print(f"in-process hash_content CPU ms per image (median): {hash_ms:.2f}")
    print(f"worker CPU ms per scan:                            {workers_cpu / done * 1000:.2f}")
    print(f"main process CPU ms per scan:                      {main_cpu / done * 1000:.2f}")
    print(f"main share of server CPU:                          {main_cpu / (main_cpu + workers_cpu):.1%}")
    print(f"scans/s {rate:.1f}; hashing-only ceiling {ceiling:.1f}/s; ratio {rate / ceiling:.2f}")
    print(f"refused (RESOURCE_EXHAUSTED): {refused}")
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"latency ms p50 {p50:.1f} p99 {p99:.1f}")


if __name__ == "__main__":
    main()
