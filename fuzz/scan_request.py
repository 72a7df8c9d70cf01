"""Harness: untrusted bytes through the request path of the Scanner service.

The first byte picks the message (``KINDS``); the rest is parsed as that protobuf, and the parsed
request goes to the real ``ScannerService`` method over an engine holding a small list and an
in-memory recorder. Each request must end in a response or a domain error (what the error
interceptor turns into INVALID_ARGUMENT and friends); anything else is a finding. The service
answers a scan that failed inside the engine with ``OUTCOME_INTERNAL_ERROR`` rather than an RPC
error, so that outcome counts as a finding too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn, cast

import grpc
from google.protobuf.message import DecodeError, Message

from index.hashes import Hash, InvalidHash
from index.matcher import ListConfig, Matcher
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.engine import MatcherHolder, ScanEngine
from scanner.errors import HashwatchError
from scanner.pipeline import HashingConfig, hash_content
from scanner.recording import InMemoryRecorder, MatchRecorder
from scanner.rpc.scanner_service import ScannerService

SEED_IMAGE = Path(__file__).resolve().parent / "corpus" / "hash_content" / "photo.jpg"
# The recorder keeps every match's content; a long campaign clears it now and then.
MAX_KEPT_MATCHES = 100


class Violation(AssertionError):
    """A request ended in something other than a response or a domain error."""


class _Aborted(Exception):
    pass


class _Context:
    """What the servicer asks of a gRPC context on the unary path: no deadline, and abort."""

    def time_remaining(self) -> float | None:
        return None

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise _Aborted(f"{code}: {details}")


@functools.cache
def listed_hashes() -> tuple[Hash, ...]:
    """The hashes of the corpus photo: a scan of it (or a Match of its PDQ) is a hit."""
    return hash_content(SEED_IMAGE.read_bytes()).hashes


def service(recorder: MatchRecorder | None = None) -> ScannerService:
    """The servicer over a list holding ``listed_hashes`` and ``recorder`` (in memory by default)."""
    matcher = Matcher([(ListConfig(1, "fuzz"), enumerate(listed_hashes(), start=1))])
    recorder = recorder or InMemoryRecorder()
    engine = ScanEngine(HashingConfig(), MatcherHolder(matcher), recorder)
    blocks = recorder if isinstance(recorder, InMemoryRecorder) else InMemoryRecorder()
    return ScannerService(engine, blocks, ThreadPoolExecutor(max_workers=1))


@functools.cache
def _default() -> ScannerService:
    return service()


def _scan(service: ScannerService, request: Any) -> Message:
    response = service.Scan(request, _CONTEXT)
    if response.outcome == pb.OUTCOME_INTERNAL_ERROR:
        raise Violation(f"scan answered OUTCOME_INTERNAL_ERROR: {response.reason}")
    if response.request_id != request.request_id:
        raise Violation("scan response does not echo the request id")
    if (response.verdict == pb.VERDICT_BLOCK) != bool(response.matches):
        raise Violation(f"verdict {response.verdict} with {len(response.matches)} matches")
    if response.verdict == pb.VERDICT_BLOCK and response.match_id <= 0:
        raise Violation("a block without a recorded match id")
    return response


def _hash(service: ScannerService, request: Any) -> Message:
    response = service.Hash(request, _CONTEXT)
    if response.outcome == pb.OUTCOME_INTERNAL_ERROR:
        raise Violation(f"hash answered OUTCOME_INTERNAL_ERROR: {response.reason}")
    return response


def _match(service: ScannerService, request: Any) -> Message:
    return service.Match(request, _CONTEXT)


def _blocks(service: ScannerService, request: Any) -> Message:
    response = service.Blocks(request, _CONTEXT)
    if len(response.blocks) != len(request.urls):
        raise Violation(f"{len(request.urls)} URLs asked, {len(response.blocks)} statuses answered")
    return response


_CONTEXT = cast(grpc.ServicerContext, _Context())
KINDS: tuple[tuple[type[Message], Callable[[ScannerService, Any], Message]], ...] = (
    (pb.ScanRequest, _scan),
    (pb.HashRequest, _hash),
    (pb.MatchRequest, _match),
    (pb.BlocksRequest, _blocks),
)


def check(data: bytes) -> None:
    run(_default(), data)


def run(servicer: ScannerService, data: bytes) -> Message | None:
    """The response, or None for a request refused cleanly."""
    if not data:
        return None
    message_type, call = KINDS[data[0] % len(KINDS)]
    try:
        request = message_type.FromString(data[1:])
    except DecodeError:
        return None  # gRPC refuses a request it cannot parse before any of our code runs
    try:
        return call(servicer, request)
    except (HashwatchError, InvalidHash):
        return None  # mapped to a status by scanner.rpc.interceptors.errors
    finally:
        recorder = servicer.engine.recorder
        if isinstance(recorder, InMemoryRecorder) and len(recorder.matches) > MAX_KEPT_MATCHES:
            del recorder.matches[:]
