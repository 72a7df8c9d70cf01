"""End to end through a real gRPC server and client, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from PIL import Image

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.scanner.conftest import Running

LISTED = DEMO_LIST / "skimage_rocket.jpg"
UNLISTED = DEMO_UNLISTED / "skimage_camera.png"


def scan(running: Running, content: bytes, **fields: str) -> pb.ScanResponse:
    request = pb.ScanRequest(request_id=fields.pop("request_id", "r1"), content=content, **fields)
    response: pb.ScanResponse = running.stub.Scan(request, timeout=30)
    return response


def test_health_is_serving(running: Running) -> None:
    health = health_pb2_grpc.HealthStub(running.channel)
    for service in ("", "hashwatch.v1.Scanner"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(running: Running) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(running.channel)
    [reply] = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in reply.list_services_response.service}
    assert {"hashwatch.v1.Scanner", "grpc.health.v1.Health"} <= names


def test_a_listed_image_is_blocked_and_the_match_is_recorded_before_the_reply(running: Running) -> None:
    response = scan(
        running,
        LISTED.read_bytes(),
        request_id="req-42",
        customer_id="cust-7",
        url="https://site.example/rocket.jpg",
        client_ip="198.51.100.4",
        content_type="image/jpeg",
    )
    assert response.request_id == "req-42"
    assert response.verdict == pb.VERDICT_BLOCK
    assert response.outcome == pb.OUTCOME_SCANNED
    assert response.match_id > 0
    by_algorithm = {m.algorithm: m for m in response.matches}
    assert by_algorithm[pb.ALGORITHM_PDQ].distance == 0
    assert by_algorithm[pb.ALGORITHM_PDQ].threshold == 31
    assert by_algorithm[pb.ALGORITHM_MD5].list == "demo"
    assert by_algorithm[pb.ALGORITHM_SHA1].list == "demo"
    # The demo list's dHash, aHash and wHash entries are kept but do not decide by default, so
    # they are not computed either.
    assert {h.algorithm for h in response.hashes} == {
        pb.ALGORITHM_PDQ,
        pb.ALGORITHM_PHASH,
        pb.ALGORITHM_MD5,
        pb.ALGORITHM_SHA1,
    }

    [recorded] = running.app.store.matches()
    assert recorded.id == response.match_id
    assert (recorded.customer_id, recorded.url, recorded.client_ip) == (
        "cust-7",
        "https://site.example/rocket.jpg",
        "198.51.100.4",
    )
    assert {h.entry_id for h in recorded.hits} == {m.entry_id for m in response.matches}


def test_a_recompressed_copy_of_a_listed_image_is_blocked(running: Running) -> None:
    image = Image.open(LISTED)
    buffer = io.BytesIO()
    image.resize((image.width // 2, image.height // 2)).save(buffer, "JPEG", quality=60)
    response = scan(running, buffer.getvalue())
    assert response.verdict == pb.VERDICT_BLOCK
    assert pb.ALGORITHM_MD5 not in {m.algorithm for m in response.matches}
    assert any(m.algorithm == pb.ALGORITHM_PDQ and 0 < m.distance <= 31 for m in response.matches)


def test_an_unrelated_image_is_allowed_and_nothing_is_recorded(running: Running) -> None:
    response = scan(running, UNLISTED.read_bytes())
    assert response.verdict == pb.VERDICT_ALLOW
    assert response.outcome == pb.OUTCOME_SCANNED
    assert list(response.matches) == []
    assert response.match_id == 0
    assert running.app.store.matches() == []


@pytest.mark.parametrize(
    ("content", "outcome"),
    [
        (b"", pb.OUTCOME_EMPTY),
        (b"<html>not an image</html>", pb.OUTCOME_UNSUPPORTED_FORMAT),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", pb.OUTCOME_UNSUPPORTED_FORMAT),
        (LISTED.read_bytes()[:4000], pb.OUTCOME_CORRUPT),
    ],
    ids=["empty", "html", "eps", "truncated-jpeg"],
)
def test_unscannable_content_is_an_outcome_and_the_server_keeps_serving(
    running: Running, content: bytes, outcome: int
) -> None:
    response = scan(running, content)
    assert response.outcome == outcome
    assert response.verdict == pb.VERDICT_ALLOW
    assert response.reason
    assert scan(running, LISTED.read_bytes()).verdict == pb.VERDICT_BLOCK


def test_a_20_mib_message_is_accepted(running: Running) -> None:
    response = scan(running, b"\0" * (20 * 1024 * 1024))
    assert response.outcome == pb.OUTCOME_UNSUPPORTED_FORMAT


def test_hash_rpc_hashes_without_recording(running: Running) -> None:
    reply = running.stub.Hash(
        pb.HashRequest(
            request_id="h", content=LISTED.read_bytes(), algorithms=[pb.ALGORITHM_SHA1, pb.ALGORITHM_DHASH]
        ),
        timeout=30,
    )
    assert reply.outcome == pb.OUTCOME_SCANNED
    assert sorted(h.algorithm for h in reply.hashes) == [pb.ALGORITHM_DHASH, pb.ALGORITHM_SHA1]
    assert running.app.store.matches() == []


def test_match_rpc_matches_given_hashes(running: Running) -> None:
    hashed = running.stub.Hash(pb.HashRequest(content=LISTED.read_bytes()), timeout=30)
    reply = running.stub.Match(pb.MatchRequest(hashes=hashed.hashes), timeout=10)
    assert {m.algorithm for m in reply.matches} >= {pb.ALGORITHM_PDQ, pb.ALGORITHM_MD5}
    assert running.app.store.matches() == []


def test_match_rpc_rejects_a_malformed_hash_with_details(running: Running) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        running.stub.Match(
            pb.MatchRequest(hashes=[pb.Hash(algorithm=pb.ALGORITHM_PDQ, hex="abc")]), timeout=10
        )
    error = caught.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "64 hex digits" in (error.details() or "")
    status = rpc_status.from_call(error)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert "64 hex digits" in bad_request.field_violations[0].description


def test_stream_answers_every_request_with_its_own_id(running: Running) -> None:
    listed, unlisted = LISTED.read_bytes(), UNLISTED.read_bytes()
    requests = [
        pb.ScanRequest(request_id=f"{i}-{uuid.uuid4()}", content=listed if i % 3 == 0 else unlisted)
        for i in range(150)
    ]
    replies = list(running.stub.ScanStream(iter(requests), timeout=120))
    assert sorted(r.request_id for r in replies) == sorted(r.request_id for r in requests)
    for reply in replies:
        index = int(reply.request_id.split("-", 1)[0])
        expected = pb.VERDICT_BLOCK if index % 3 == 0 else pb.VERDICT_ALLOW
        assert reply.verdict == expected, reply.request_id
    assert len(running.app.store.matches(limit=1000)) == 50
