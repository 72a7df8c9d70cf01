"""Lists benchmark: importing big lists, starting a server from them, and updating a live one.

For each size N (PDQ hashes, uniform random):

* import: ``hashwatch lists import FILE --format pdq`` of an N-line file into a fresh database,
  wall clock of the whole command (a subprocess: parsing, one transaction, audit record); then the
  same file again (every line a duplicate: the idempotent re-import). SQLite always; PostgreSQL
  too when HASHWATCH_TEST_POSTGRES_URL is set (a fresh database is created and dropped).
* start: the matcher a server starts with, loaded from the database (streamed arrays) against
  loaded from the snapshots of ``hashwatch index build`` (memory-mapped, SHA-256 verified) plus
  the catch-up query; the snapshot build time too. The snapshot files were just written, so they
  are in the page cache (a replica's second start; a cold disk adds its read time).
* live: a real server (``build_app``, gRPC on port 0, the list watcher polling every
  ``--poll`` s) holding the N entries; a client thread calls ``Match`` in a loop with a hash that
  is not yet listed; the main thread imports 10 000 new entries including it. Printed: the time
  from the import's commit (and from its start) until the client first sees the hit, and the
  number of failed requests (must be 0).

Run:  taskset -c 0 .venv/bin/python bench/bench_lists.py --sizes 1e5,1e6
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from index.hashes import Algorithm, Hash  # noqa: E402
from reporting.db import make_engine, migrate  # noqa: E402
from reporting.lists.snapshots import build_snapshots, matcher_from_database, start_matcher  # noqa: E402
from reporting.store import NewEntry, Store  # noqa: E402
from scanner.api.hashwatch.v1 import scanner_pb2 as pb  # noqa: E402
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc  # noqa: E402

HASHWATCH = str(Path(sys.executable).parent / "hashwatch")
POSTGRES_ENV = "HASHWATCH_TEST_POSTGRES_URL"


def write_list(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "w") as f:
        for start in range(0, n, 100_000):
            f.write("".join(f"{rng.getrandbits(256):064x}\n" for _ in range(min(100_000, n - start))))


def run_import(path: Path, data_dir: Path, database_url: str | None) -> float:
    command = [HASHWATCH, "lists", "import", str(path), "--list", "bench", "--format", "pdq"]
    command += ["--data-dir", str(data_dir)]
    if database_url:
        command += ["--database-url", database_url]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"import failed: {done.stderr}")
    print(f"      {done.stdout.strip()}", flush=True)
    return elapsed


class Postgres:
    """A fresh PostgreSQL database for one run."""

    def __init__(self, admin_url: str) -> None:
        self.name = f"hw_bench_{uuid.uuid4().hex[:8]}"
        driver = "postgresql+psycopg://" + admin_url.removeprefix("postgresql://")
        self.admin = create_engine(driver, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = admin_url.rsplit("/", 1)[0] + f"/{self.name}"

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def bench_import(n: int, work: Path, list_file: Path) -> None:
    targets: list[tuple[str, str | None, Postgres | None]] = [("sqlite", None, None)]
    admin = os.environ.get(POSTGRES_ENV)
    if admin:
        created = Postgres(admin)
        targets.append(("postgresql", created.url, created))
    for kind, url, pg in targets:
        data_dir = work / f"import-{kind}-{n}"
        try:
            first = run_import(list_file, data_dir, url)
            again = run_import(list_file, data_dir, url)
        finally:
            if pg is not None:
                pg.drop()
        print(f"  import {n:>10,} {kind:<10}: {first:7.1f} s  (re-import, all duplicates: {again:.1f} s)")


def bench_start_and_live(n: int, work: Path, list_file: Path, poll: float) -> None:
    data_dir = work / f"serve-{n}"
    run_import(list_file, data_dir, None)
    engine = make_engine(f"sqlite:///{data_dir / 'hashwatch.db'}")
    migrate(engine)
    started = time.perf_counter()
    from_db = matcher_from_database(engine)
    db_seconds = time.perf_counter() - started
    del from_db
    started = time.perf_counter()
    build_snapshots(engine, data_dir / "index")
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    from_snapshot = start_matcher(engine, data_dir / "index")
    snap_seconds = time.perf_counter() - started
    assert from_snapshot.sizes() == {"bench": {Algorithm.PDQ: n}}, from_snapshot.sizes()
    del from_snapshot
    engine.dispose()
    print(
        f"  start  {n:>10,} from database {db_seconds:6.2f} s, from snapshot {snap_seconds:6.2f} s "
        f"(snapshot build {build_seconds:.1f} s)",
        flush=True,
    )
    live(n, data_dir, poll)


def live(n: int, data_dir: Path, poll: float) -> None:
    from scanner.app import build_app
    from scanner.settings import load_settings

    settings = load_settings(port=0, data_dir=data_dir, threads=4, list_poll_seconds=poll)
    app = build_app(settings)
    app.server.start()
    stop = threading.Event()
    watcher = threading.Thread(target=app.watch_lists, args=(stop,), daemon=True)
    watcher.start()
    rng = random.Random(n + 7)
    planted = Hash(Algorithm.PDQ, rng.getrandbits(256).to_bytes(32, "big"))
    request = pb.MatchRequest(hashes=[pb.Hash(algorithm=pb.ALGORITHM_PDQ, hex=planted.hex)])
    channel = grpc.insecure_channel(f"127.0.0.1:{app.server.port}")
    stub = pb_grpc.ScannerStub(channel)
    failures: list[str] = []
    requests = 0
    seen_at: list[float] = []
    latencies: list[float] = []

    def client() -> None:
        nonlocal requests
        while not stop.is_set():
            t = time.perf_counter()
            try:
                response = stub.Match(request, timeout=10)
            except grpc.RpcError as exc:
                failures.append(str(exc.code()))
                continue
            latencies.append(time.perf_counter() - t)
            requests += 1
            if response.matches and not seen_at:
                seen_at.append(time.perf_counter())

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    time.sleep(1.0)
    assert not seen_at, "the planted hash matched before it was imported"
    entries = [NewEntry(Hash(Algorithm.PDQ, rng.getrandbits(256).to_bytes(32, "big"))) for _ in range(9_999)]
    entries.append(NewEntry(planted, "planted"))
    import_started = time.perf_counter()
    Store(app.store.engine).import_entries("bench", entries)
    committed = time.perf_counter()
    deadline = committed + 60
    while not seen_at and time.perf_counter() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    stop.set()
    thread.join(15)
    watcher.join(15)
    channel.close()
    app.server.drain(grace_seconds=5)
    sizes = app.matchers.current.sizes()
    app.store.engine.dispose()
    if not seen_at:
        print(
            f"  live   {n:>10,}: the planted hash NEVER matched within 60 s; failed requests {len(failures)}"
        )
        return
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(
        f"  live   {n:>10,}: +10 000 entries seen {seen_at[0] - committed:.2f} s after the commit "
        f"({seen_at[0] - import_started:.2f} s after the import began, poll {poll} s); "
        f"{requests} requests, {len(failures)} failed; Match p50 {p50:.2f} ms p99 {p99:.2f} ms; "
        f"held {sizes['bench'][Algorithm.PDQ]:,}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1e5,1e6", help="comma-separated list sizes")
    parser.add_argument("--poll", type=float, default=1.0, help="the server's list_poll_seconds")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: import, serve")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-lists-") as tmp:
        work = Path(tmp)
        for n in (int(float(s)) for s in args.sizes.split(",")):
            list_file = work / f"{n}.pdq"
            write_list(list_file, n, seed=n)
            if "import" not in skip:
                bench_import(n, work, list_file)
            if "serve" not in skip:
                bench_start_and_live(n, work, list_file, args.poll)
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
