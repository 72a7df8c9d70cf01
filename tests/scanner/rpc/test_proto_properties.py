"""Hypothesis-made protobuf requests against a real server: every request gets a response or a
clean status, never UNKNOWN or INTERNAL, and the server keeps serving (on SQLite and PostgreSQL,
so odd field values reach a real recorder when the content matches)."""

from __future__ import annotations

import random

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz.scan_request import listed_hashes
from fuzz.seeds import IMAGES
from reporting.store import NewEntry
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.rpc.convert import CONTEXT_LIMITS
from tests.scanner.conftest import Running

# Small, so that a failing example prints short: the list "fuzz" holds its hashes.
LISTED = IMAGES["photo.jpg"]()
UNLISTED = IMAGES["photo.png"]()
# What a caller may be told about its own request; UNKNOWN and INTERNAL would be server bugs.
CLEAN_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
OUTCOMES = set(pb.Outcome.values()) - {pb.OUTCOME_UNSPECIFIED, pb.OUTCOME_INTERNAL_ERROR}
TOO_LARGE = b"\xff\xd8" + bytes(32 * 1024 * 1024)
# One server serves every example: that it keeps serving is part of the property.
PROPERTY = settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

texts = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", "\x00", "a\x00b", "' OR 1=1 --", "../../etc/passwd", "é" * 2000, "x" * 70_000]),
    # Near the stored fields' limits (scanner.rpc.convert.CONTEXT_LIMITS), in characters of 1 to 4 bytes.
    st.integers(40, 1600).flatmap(lambda n: st.text(st.characters(codec="utf-8"), min_size=n, max_size=n)),
)
urls = st.one_of(
    texts,
    st.builds("https://example.com/{}".format, st.text(max_size=50)),
    st.sampled_from(["http://[::1", "javascript:alert(1)", "https://example.com/\x00.jpg", "//", "%zz"]),
)
contents = st.one_of(
    st.binary(max_size=2048),
    st.sampled_from([LISTED, UNLISTED, b"", *(make() for make in IMAGES.values())]),
    st.builds(lambda data, cut: data[:cut], st.sampled_from([LISTED, UNLISTED]), st.integers(0, 120_000)),
)
algorithms = st.integers(-(2**31), 2**31 - 1) | st.sampled_from(list(pb.Algorithm.values()))
hexes = st.one_of(
    st.text(max_size=80),
    st.text("0123456789abcdefABCDEF", min_size=14, max_size=66),
    st.sampled_from(["", "0" * 64, "f" * 16, "g" * 16, "0x" + "0" * 14, " " + "0" * 15]),
)
scan_requests = st.builds(
    pb.ScanRequest,
    request_id=texts,
    customer_id=texts,
    url=urls,
    content=contents,
    content_type=texts,
    client_ip=st.one_of(texts, st.ip_addresses().map(str)),
)


@pytest.fixture
def served(running: Running) -> Running:
    running.app.store.import_entries("fuzz", [NewEntry(h, f"photo-{h.algorithm}") for h in listed_hashes()])
    running.app.reload_lists()
    return running


def _violations(error: grpc.RpcError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    status = rpc_status.from_call(error)
    assert status is not None
    details = error_details_pb2.BadRequest()
    [packed] = status.details
    packed.Unpack(details)
    return list(details.field_violations)


def _clean(error: grpc.RpcError) -> None:
    code = error.code()
    assert code in CLEAN_CODES, f"{code}: {error.details()}"


def _check_scan(request: pb.ScanRequest, response: pb.ScanResponse) -> None:
    assert response.request_id == request.request_id
    assert response.outcome in OUTCOMES, response.reason
    assert response.verdict in (pb.VERDICT_ALLOW, pb.VERDICT_BLOCK)
    if response.verdict == pb.VERDICT_BLOCK:
        # Blocked only once the match is recorded, whatever the strings around it.
        assert response.matches
        assert response.match_id > 0, response.reason


def _still_serving(running: Running) -> None:
    response = running.stub.Scan(pb.ScanRequest(request_id="probe", content=LISTED), timeout=30)
    assert response.verdict == pb.VERDICT_BLOCK and response.match_id > 0


def test_scan(served: Running) -> None:
    @PROPERTY
    @given(scan_requests)
    @example(pb.ScanRequest(request_id="huge", content=TOO_LARGE))
    @example(pb.ScanRequest(customer_id="a\x00b", url="https://example.com/\x00", content=LISTED))
    def scan(request: pb.ScanRequest) -> None:
        try:
            response = served.stub.Scan(request, timeout=60)
        except grpc.RpcError as error:
            _clean(error)
            return
        _check_scan(request, response)

    scan()
    _still_serving(served)


def test_scan_stream(served: Running) -> None:
    @PROPERTY
    @given(st.lists(scan_requests, max_size=6))
    def stream(requests: list[pb.ScanRequest]) -> None:
        try:
            responses = list(served.stub.ScanStream(iter(requests), timeout=60))
        except grpc.RpcError as error:
            _clean(error)
            return
        assert len(responses) == len(requests)
        # Answers come in completion order; pair them by request id where ids are unique.
        by_id = {r.request_id: r for r in requests}
        for response in responses:
            assert response.request_id in by_id
            _check_scan(by_id[response.request_id], response)

    stream()
    _still_serving(served)


def test_hash_match_and_blocks(served: Running) -> None:
    hash_requests = st.builds(
        pb.HashRequest, request_id=texts, content=contents, algorithms=st.lists(algorithms, max_size=8)
    )
    match_requests = st.builds(
        pb.MatchRequest,
        hashes=st.lists(
            st.builds(pb.Hash, algorithm=algorithms, hex=hexes, quality=st.integers(-1, 200)), max_size=5
        ),
    )
    blocks_requests = st.builds(
        pb.BlocksRequest,
        customer_id=texts,
        urls=st.lists(urls, max_size=5) | st.integers(990, 1010).map(lambda n: [f"u{i}" for i in range(n)]),
    )

    @PROPERTY
    @given(st.one_of(hash_requests, match_requests, blocks_requests))
    def call(request: pb.HashRequest | pb.MatchRequest | pb.BlocksRequest) -> None:
        try:
            if isinstance(request, pb.HashRequest):
                response: Message = served.stub.Hash(request, timeout=60)
            elif isinstance(request, pb.MatchRequest):
                response = served.stub.Match(request, timeout=60)
            else:
                response = served.stub.Blocks(request, timeout=60)
        except grpc.RpcError as error:
            _clean(error)
            return
        if isinstance(request, pb.HashRequest):
            assert isinstance(response, pb.HashResponse)
            assert response.outcome in OUTCOMES, response.reason
        if isinstance(request, pb.BlocksRequest):
            assert isinstance(response, pb.BlocksResponse)
            assert len(response.blocks) == len(request.urls)

    call()
    _still_serving(served)


def test_unknown_algorithms_are_invalid_arguments(served: Running) -> None:
    # The first number the API does not use yet (8 with seven algorithms), whatever it then is.
    unused = max(pb.Algorithm.values()) + 1
    for algorithm in (0, unused, -1, 2**31 - 1):
        request = pb.MatchRequest(hashes=[pb.Hash(algorithm=algorithm, hex="0" * 64)])  # type: ignore[arg-type]
        with pytest.raises(grpc.RpcError) as raised:
            served.stub.Match(request, timeout=30)
        assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_context_fields_are_refused_only_when_they_cannot_be_recorded(served: Running) -> None:
    # At each limit, in 4-byte characters (incompressible for PostgreSQL's index): recorded.
    rng = random.Random(9)
    longest = {
        name: "".join(chr(rng.randrange(0x10000, 0x10FFFF)) for _ in range(limit // 4))
        for name, limit in CONTEXT_LIMITS.items()
    }
    response = served.stub.Scan(pb.ScanRequest(content=LISTED, **longest), timeout=30)
    assert response.verdict == pb.VERDICT_BLOCK and response.match_id > 0, response.reason
    for name, limit in CONTEXT_LIMITS.items():
        for value in ("a\x00b", "x" * (limit + 1)):
            with pytest.raises(grpc.RpcError) as raised:
                served.stub.Scan(pb.ScanRequest(content=LISTED, **{name: value}), timeout=30)
            assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            [violation] = _violations(raised.value)
            assert violation.field == name


def test_a_stream_with_a_request_that_cannot_be_recorded_ends_invalid(served: Running) -> None:
    requests = [
        pb.ScanRequest(request_id="ok", content=UNLISTED),
        pb.ScanRequest(request_id="bad", url="\x00"),
    ]
    with pytest.raises(grpc.RpcError) as raised:
        list(served.stub.ScanStream(iter(requests), timeout=30))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    _still_serving(served)


def test_blocks_refuses_what_the_database_cannot_compare(served: Running) -> None:
    for request, field in (
        (pb.BlocksRequest(customer_id="c", urls=["https://example.com/a", "\x00"]), "urls"),
        (pb.BlocksRequest(customer_id="c\x00"), "customer_id"),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            served.stub.Blocks(request, timeout=30)
        assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in _violations(raised.value)] == [field]
