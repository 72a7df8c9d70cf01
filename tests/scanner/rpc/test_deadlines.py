"""Requests whose deadline passed while they queued are dropped before any work is done."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import pytest
from prometheus_client import REGISTRY

from index.hashes import Algorithm, Hash
from index.matcher import ListConfig, Matcher
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.decision import Decision
from scanner.engine import MatcherHolder, ScanEngine, ScanResult
from scanner.pipeline import HashingConfig, hash_content
from scanner.recording import InMemoryRecorder, ScanContext
from scanner.rpc.scanner_service import ScannerService
from scanner.rpc.server import Server, create_server
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST

LISTED = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()


class HeldRecorder(InMemoryRecorder):
    """Holds every match until released: a database that is slow right now."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def record_match(
        self, context: ScanContext, hashes: Sequence[Hash], decision: Decision, content: bytes
    ) -> int:
        self.release.wait(30)
        return super().record_match(context, hashes, decision, content)


class CountingEngine(ScanEngine):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.scanned: list[str] = []
        self._lock = threading.Lock()

    def scan(self, content: bytes, context: ScanContext) -> ScanResult:
        with self._lock:
            self.scanned.append(context.request_id)
        return super().scan(content, context)


@dataclass
class Held:
    server: Server
    engine: CountingEngine
    recorder: HeldRecorder
    stub: pb_grpc.ScannerStub


@pytest.fixture
def held() -> Iterator[Held]:
    [pdq] = hash_content(LISTED, [Algorithm.PDQ], HashingConfig()).hashes
    matcher = Matcher()
    matcher.replace_list(ListConfig(1, "demo"), [(1, pdq)])
    recorder = HeldRecorder()
    engine = CountingEngine(HashingConfig(), MatcherHolder(matcher), recorder)
    # One scan worker and four RPC threads: easy to fill.
    server = create_server(load_settings(port=0, threads=1), engine, recorder)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Held(server, engine, recorder, pb_grpc.ScannerStub(channel))
    finally:
        recorder.release.set()
        channel.close()
        server.drain(grace_seconds=5)


def _count(method: str) -> float:
    return REGISTRY.get_sample_value("hashwatch_deadline_exceeded_total", {"method": method}) or 0.0


def _eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_scan_that_waited_past_its_deadline_is_not_worked(held: Held) -> None:
    busy = [
        held.stub.Scan.future(pb.ScanRequest(request_id=f"busy{n}", content=LISTED), timeout=30)
        for n in range(4)
    ]
    assert _eventually(lambda: len(held.engine.scanned) == 4)
    with pytest.raises(grpc.RpcError) as late:
        held.stub.Scan(pb.ScanRequest(request_id="late", content=LISTED), timeout=0.3)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    held.recorder.release.set()
    assert all(f.result(timeout=30).verdict == pb.VERDICT_BLOCK for f in busy)
    # gRPC may drop the call itself if it expired before its message was read; otherwise the
    # servicer drops it. Either way it is never hashed.
    time.sleep(0.5)
    assert sorted(held.engine.scanned) == [f"busy{n}" for n in range(4)]
    assert len(held.recorder.matches) == 4


class ExpiredContext:
    """What the servicer sees for a request dispatched after its deadline."""

    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def time_remaining(self) -> float:
        return -0.2

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise RuntimeError("aborted")


@pytest.mark.parametrize(
    "method, message",
    [
        ("Scan", pb.ScanRequest(content=LISTED)),
        ("Hash", pb.HashRequest(content=LISTED)),
        ("Match", pb.MatchRequest()),
    ],
)
def test_the_servicer_answers_an_expired_request_deadline_exceeded_without_work(
    held: Held, method: str, message: object
) -> None:
    context = ExpiredContext()
    dropped = _count(method)
    with ThreadPoolExecutor(1) as workers:
        service = ScannerService(held.engine, held.recorder, workers)
        with pytest.raises(RuntimeError, match="aborted"):
            getattr(service, method)(message, context)
    assert context.aborted is not None and context.aborted[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert held.engine.scanned == []
    assert _count(method) == dropped + 1


def test_stream_items_queued_past_the_stream_deadline_are_skipped(held: Held) -> None:
    dropped = _count("ScanStream")
    requests = [pb.ScanRequest(request_id=f"s{n}", content=LISTED) for n in range(3)]
    answers = held.stub.ScanStream(iter(requests), timeout=0.5)
    with pytest.raises(grpc.RpcError) as late:
        list(answers)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    held.recorder.release.set()
    assert _eventually(lambda: _count("ScanStream") == dropped + 2)
    time.sleep(0.2)
    assert held.engine.scanned == ["s0"]
