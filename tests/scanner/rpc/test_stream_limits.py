"""Streams cannot starve the server (a real server on port 0, a real SQLite database, real
clients): idle ScanStreams leave health checks and unary scans answering, a stream past the
bound is refused RESOURCE_EXHAUSTED with a RetryInfo, an idle stream is closed after its limit,
and connections are closed idle and after their maximum age."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.scanner.hashpool.pooled import eventually, sample, slow_png
from tests.scanner.serving import retry_delay, started_app

LISTED = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
UNLISTED = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()


@dataclass
class Served:
    app: App
    channel: grpc.Channel
    stub: pb_grpc.ScannerStub
    health: health_pb2_grpc.HealthStub


@contextlib.contextmanager
def serving(tmp_path: Path, **settings: object) -> Iterator[Served]:
    with (
        started_app(tmp_path / "var", **settings) as app,
        grpc.insecure_channel(f"127.0.0.1:{app.server.port}") as channel,
    ):
        yield Served(app, channel, pb_grpc.ScannerStub(channel), health_pb2_grpc.HealthStub(channel))


class FedByHand:
    """A ScanStream whose requests are sent one by one: opened, it sits idle until fed."""

    def __init__(self, stub: pb_grpc.ScannerStub, timeout: float = 120) -> None:
        self._requests: queue.Queue[pb.ScanRequest | None] = queue.Queue()
        self.call = stub.ScanStream(iter(self._requests.get, None), timeout=timeout)

    def send(self, request_id: str, content: bytes = UNLISTED) -> None:
        self._requests.put(pb.ScanRequest(request_id=request_id, content=content))

    def close(self) -> None:
        self._requests.put(None)
        self.call.cancel()


def open_streams() -> float:
    return sample("hashwatch_streams_open", lane="scan_stream")


def check(served: Served, timeout: float) -> int:
    reply = served.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    status: int = reply.status
    return status


def test_64_idle_streams_leave_health_and_scan_answering_and_the_65th_is_refused(tmp_path: Path) -> None:
    # The defaults: 8 threads (32 RPC threads), at most 64 ScanStreams.
    with serving(tmp_path, max_streams=64) as served:
        streams = [FedByHand(served.stub) for _ in range(64)]
        try:
            eventually(lambda: open_streams() == 64, 20)
            started = time.monotonic()
            assert check(served, timeout=2) == health_pb2.HealthCheckResponse.SERVING
            reply = served.stub.Scan(pb.ScanRequest(request_id="u", content=LISTED), timeout=2)
            assert reply.verdict == pb.VERDICT_BLOCK
            assert time.monotonic() - started < 2
            assert open_streams() == 64

            refused = FedByHand(served.stub, timeout=10)
            refused.send("late")
            with pytest.raises(grpc.RpcError) as raised:
                next(refused.call)
            assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "64 streams" in (raised.value.details() or "")
            assert retry_delay(raised.value) > 0

            # The idle ones still work when fed, and one closing frees a place.
            streams[0].send("fed")
            assert next(streams[0].call).request_id == "fed"
            streams.pop().close()
            assert eventually(lambda: open_streams() == 63, 10)
            another = FedByHand(served.stub)
            streams.append(another)
            another.send("in")
            assert next(another.call).request_id == "in"
        finally:
            for stream in streams:
                stream.close()
        assert eventually(lambda: open_streams() == 0, 10)


def test_health_checks_do_not_queue_behind_unary_scans(tmp_path: Path) -> None:
    # One thread: 4 RPC threads for unary calls, each scan of the slow image a second or more.
    with serving(tmp_path, threads=1) as served:
        content = slow_png()
        with ThreadPoolExecutor(8) as clients:
            scans = [
                clients.submit(
                    served.stub.Scan, pb.ScanRequest(request_id=str(n), content=content), timeout=120
                )
                for n in range(8)
            ]
            time.sleep(0.5)
            assert not all(f.done() for f in scans)
            started = time.monotonic()
            assert check(served, timeout=2) == health_pb2.HealthCheckResponse.SERVING
            assert time.monotonic() - started < 1
            assert not all(f.done() for f in scans), "the scans finished too early to show anything"
            assert sorted(int(f.result().request_id) for f in scans) == list(range(8))


def test_an_idle_stream_is_closed_after_its_limit_and_a_fed_one_is_not(tmp_path: Path) -> None:
    with serving(tmp_path, stream_idle_seconds=1) as served:
        fed = FedByHand(served.stub)
        answers: list[str] = []
        ended: list[grpc.RpcError] = []

        def feed() -> None:
            # Every 0.4 s for 3.2 s: never a second without a request or an answer.
            for n in range(8):
                fed.send(str(n))
                time.sleep(0.4)

        def read() -> None:
            try:
                answers.extend(r.request_id for r in fed.call)
            except grpc.RpcError as exc:
                ended.append(exc)

        feeder, reader = threading.Thread(target=feed), threading.Thread(target=read)
        feeder.start()
        reader.start()
        idle = FedByHand(served.stub, timeout=10)
        try:
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as raised:
                next(idle.call)
            waited = time.monotonic() - started
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "no request on this stream for 1 s" in (raised.value.details() or "")
            assert 0.8 < waited < 5
            feeder.join()
            assert eventually(lambda: len(answers) == 8, 10)
            assert not ended
            # Left alone, the fed one goes the same way, and the places are given back.
            reader.join(10)
            assert [e.code() for e in ended] == [grpc.StatusCode.UNAVAILABLE]
            assert eventually(lambda: open_streams() == 0, 10)
        finally:
            idle.close()
            fed.close()


def test_connections_are_closed_when_idle_and_at_their_maximum_age(tmp_path: Path) -> None:
    with serving(
        tmp_path, connection_idle_seconds=1, connection_max_age_seconds=2, connection_age_grace_seconds=1
    ) as served:
        states: list[grpc.ChannelConnectivity] = []
        served.channel.subscribe(states.append)
        assert check(served, timeout=5) == health_pb2.HealthCheckResponse.SERVING
        assert eventually(lambda: states[-1] == grpc.ChannelConnectivity.READY, 5)
        # No RPC for a second: the server sends GOAWAY, the channel goes idle.
        assert eventually(lambda: states[-1] == grpc.ChannelConnectivity.IDLE, 5)

        # A stream kept busy outlives no connection: at 2 s (±10 %) plus 1 s of grace it ends.
        stream = FedByHand(served.stub)
        started = time.monotonic()
        try:
            with pytest.raises(grpc.RpcError) as raised:
                for n in range(100):
                    stream.send(str(n))
                    next(stream.call)
                    time.sleep(0.2)
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            assert 1.5 < time.monotonic() - started < 6
        finally:
            stream.close()
        # The channel reconnects for the next call.
        assert check(served, timeout=5) == health_pb2.HealthCheckResponse.SERVING
