"""What Python's gRPC serving layer costs per 1 MP scan request, with no hashing behind it.

The serving process of ``hashwatch serve`` spends CPU on every scan besides the hashing its
worker processes do: gRPC itself, the protobuf messages, the hand-offs between threads. This
measures the part that belongs to the gRPC stack alone, for the two server APIs grpcio offers,
so the choice between them rests on a figure:

* ``sync``: ``grpc.server`` with a thread pool, the API ``hashwatch serve`` uses;
* ``aio``: ``grpc.aio.server``, handlers as coroutines on one event loop.

Each server runs in its own process and answers ``hashwatch.v1.Scanner/Scan`` and
``ScanStream`` with a fixed ``ScanResponse`` (three hashes, as a miss has) after parsing the
request: the work of a scan minus hashing and matching. A stream's items are answered in order
by its handler, the fewest hand-offs either API allows, so both figures are lower bounds.
Clients (``grpc.aio``, one channel, as in ``bench_load.py``) send the same 1 MP JPEGs as
``bench_load.py`` with unary calls or one stream, N in flight; the server's CPU per request
comes from /proc. Medians over rounds that alternate the two servers, so a neighbour's load
falls on both alike.

    .venv/bin/python bench/bench_grpc_serving.py [--rounds 3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from bench_load import Service, closed_stream, closed_unary, corpus, measure

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner.api.hashwatch.v1 import scanner_pb2 as pb  # noqa: E402
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc  # noqa: E402

SERVERS = ("sync", "aio")
AioContext = grpc.aio.ServicerContext[pb.ScanRequest, pb.ScanResponse]
CLIENTS = (("unary", 8), ("stream", 64))


def _answer(request: pb.ScanRequest) -> pb.ScanResponse:
    response = pb.ScanResponse(request_id=request.request_id, verdict=pb.VERDICT_ALLOW)
    for algorithm, size in ((pb.ALGORITHM_PDQ, 32), (pb.ALGORITHM_PHASH, 8), (pb.ALGORITHM_MD5, 16)):
        response.hashes.add(algorithm=algorithm, hex="0" * (2 * size), quality=100)
    # Touch the content as a real handler does when it hands it on.
    assert len(request.content) > 0
    return response


class SyncScanner(pb_grpc.ScannerServicer):
    def Scan(self, request: pb.ScanRequest, context: grpc.ServicerContext) -> pb.ScanResponse:
        return _answer(request)

    def ScanStream(
        self, request_iterator: Iterator[pb.ScanRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.ScanResponse]:
        for request in request_iterator:
            yield _answer(request)


class AioScanner(pb_grpc.ScannerServicer):
    async def Scan(self, request: pb.ScanRequest, context: AioContext) -> pb.ScanResponse:
        return _answer(request)

    async def ScanStream(
        self, request_iterator: AsyncIterator[pb.ScanRequest], context: AioContext
    ) -> AsyncIterator[pb.ScanResponse]:
        async for request in request_iterator:
            yield _answer(request)


def serve(kind: str) -> None:
    options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    if kind == "sync":
        server = grpc.server(ThreadPoolExecutor(max_workers=32), options=options)
        pb_grpc.add_ScannerServicer_to_server(SyncScanner(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        print(f"port {port}", flush=True)
        server.wait_for_termination()
        return

    async def main() -> None:
        server = grpc.aio.server(options=options)
        pb_grpc.add_ScannerServicer_to_server(AioScanner(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"port {port}", flush=True)
        await server.wait_for_termination()

    asyncio.run(main())


def start(kind: str) -> Service:
    process = subprocess.Popen([sys.executable, __file__, "--serve", kind], stdout=subprocess.PIPE)
    assert process.stdout is not None
    line = process.stdout.readline().decode().split()
    return Service(process, f"127.0.0.1:{line[1]}", Path("/dev/null"))


def measure_server(
    kind: str, client: str, in_flight: int, contents: list[bytes], seconds: float
) -> tuple[float, float]:
    """Requests per second and the server's CPU ms per request (bench_load's measurement)."""
    server = start(kind)
    try:
        drive = closed_stream if client == "stream" else closed_unary
        asyncio.run(drive(server.address, contents, in_flight, 1.0))  # connect, warm up
        run = measure(server, client, contents, in_flight, seconds)
        return run.scans_per_second, run.server_cpu_ms
    finally:
        server.process.kill()
        server.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    contents = corpus([1])[1]
    figures: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for round_ in range(args.rounds):
        for client, in_flight in CLIENTS:
            for kind in SERVERS:
                figures.setdefault((kind, client, in_flight), []).append(
                    measure_server(kind, client, in_flight, contents, args.seconds)
                )
        print(f"round {round_ + 1}/{args.rounds}: done", file=sys.stderr, flush=True)
    kib = statistics.mean(map(len, contents)) / 1024
    print(f"\n1 MP JPEG requests ({kib:.0f} KiB on average), medians of {args.rounds} rounds")
    print("\n| server | client | in flight | requests/s | server CPU ms per request |")
    print("|---|---|---|---|---|")
    for (kind, client, in_flight), runs in figures.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"| {kind} | {client} | {in_flight} | {rate:.0f} | {cpu:.3f} |")
    print(f"\nat {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


if __name__ == "__main__":
    main()
