"""A real gRPC server whose hashing runs in real worker processes, for the pool's tests."""

from __future__ import annotations

import contextlib
import functools
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
from PIL import Image
from prometheus_client import REGISTRY

from index.hashes import Algorithm
from index.matcher import ListConfig, Matcher
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.engine import MatcherHolder, ScanEngine
from scanner.hashpool.pool import HashPool
from scanner.pipeline import HashingConfig, hash_content
from scanner.recording import InMemoryRecorder
from scanner.rpc.server import Server, create_server
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST

LISTED = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()


@functools.cache
def slow_png() -> bytes:
    """Small on the wire (~120 KB), slow to hash (a flat 36 MP image: over a second), and
    about 320 MB of address space to decode."""
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 6000), "gray").save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Pooled:
    pool: HashPool
    server: Server
    recorder: InMemoryRecorder
    channel: grpc.Channel
    stub: pb_grpc.ScannerStub


@contextlib.contextmanager
def pooled_server(
    size: int = 1,
    *,
    queue_size: int = 4,
    timeout_seconds: float = 60.0,
    memory_mb: int = 0,
    **settings: object,
) -> Iterator[Pooled]:
    pool = HashPool(
        size,
        HashingConfig(),
        queue_size=queue_size,
        timeout_seconds=timeout_seconds,
        memory_mb=memory_mb,
        log_json=False,
    )
    pool.start()
    [pdq] = hash_content(LISTED, [Algorithm.PDQ], HashingConfig()).hashes
    matcher = Matcher()
    matcher.replace_list(ListConfig(1, "demo"), [(1, pdq)])
    recorder = InMemoryRecorder()
    engine = ScanEngine(HashingConfig(), MatcherHolder(matcher), recorder, hash_function=pool.hash)
    server = create_server(load_settings(port=0, **settings), engine, recorder, pool=pool)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Pooled(pool, server, recorder, channel, pb_grpc.ScannerStub(channel))
    finally:
        channel.close()
        server.drain(grace_seconds=5)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False
