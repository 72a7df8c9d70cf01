"""Control characters and what XML 1.0 cannot carry are refused at the gRPC edge, naming the
field, on a real server (SQLite and PostgreSQL): a URL with U+0001 once made every partner report
of its match unparseable."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.rpc.convert import CONTEXT_LIMITS
from tests.conftest import DEMO_LIST
from tests.scanner.conftest import Running

ROCKET = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
# C0 (TAB and LF included: no id or URL carries them raw), DEL, C1, and the non-characters
# XML 1.0 cannot carry. protobuf strings are UTF-8, so lone surrogates cannot arrive here.
REFUSED = ["\x01", "\x1f", "\t", "\n", "\r", "\x7f", "\x85", "\x9f", "\ufffe", "\uffff"]


def _violated_fields(error: grpc.RpcError) -> list[str]:
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    status = rpc_status.from_call(error)
    assert status is not None
    [packed] = status.details
    details = error_details_pb2.BadRequest()
    packed.Unpack(details)
    return [v.field for v in details.field_violations]


def _matches(running: Running) -> int:
    return len(running.app.store.matches())


@pytest.mark.parametrize("character", REFUSED)
def test_a_scan_with_a_control_character_in_any_field_is_refused_naming_it(
    running: Running, character: str
) -> None:
    for name in CONTEXT_LIMITS:
        fields = {"url": "https://shop.example/a.jpg", name: f"x{character}y"}
        with pytest.raises(grpc.RpcError) as raised:
            running.stub.Scan(pb.ScanRequest(content=ROCKET, **fields), timeout=30)
        assert _violated_fields(raised.value) == [name]
        assert "U+" in (raised.value.details() or "")
    assert _matches(running) == 0


def test_the_url_of_the_report_is_refused_and_ordinary_text_is_not(running: Running) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        running.stub.Scan(pb.ScanRequest(url="https://shop.example/\x01.jpg", content=ROCKET), timeout=30)
    assert _violated_fields(raised.value) == ["url"]
    assert "U+0001" in (raised.value.details() or "")
    # Letters beyond ASCII, emoji and a line separator (not a control character) are recorded.
    url = "https://shop.example/caf\u00e9/\U0001f680\u2028.jpg"
    response = running.stub.Scan(pb.ScanRequest(url=url, content=ROCKET), timeout=30)
    assert response.verdict == pb.VERDICT_BLOCK and response.match_id > 0


def test_a_stream_item_with_a_control_character_ends_the_stream_naming_the_field(running: Running) -> None:
    requests = [
        pb.ScanRequest(request_id="ok", url="https://shop.example/fine.jpg", content=b"not an image"),
        pb.ScanRequest(request_id="bad", url="https://shop.example/\x01.jpg", content=ROCKET),
    ]
    with pytest.raises(grpc.RpcError) as raised:
        list(running.stub.ScanStream(iter(requests), timeout=30))
    assert _violated_fields(raised.value) == ["url"]
    assert _matches(running) == 0
    # The server goes on serving.
    response = running.stub.Scan(pb.ScanRequest(url="https://shop.example/r.jpg", content=ROCKET), timeout=30)
    assert response.verdict == pb.VERDICT_BLOCK


@pytest.mark.parametrize("character", ["\x01", "\n", "\x85"])
def test_blocks_refuses_a_control_character_naming_the_field(running: Running, character: str) -> None:
    for request, field in (
        (pb.BlocksRequest(customer_id="c", urls=["https://shop.example/a", f"x{character}"]), "urls"),
        (pb.BlocksRequest(customer_id=f"c{character}"), "customer_id"),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            running.stub.Blocks(request, timeout=30)
        assert _violated_fields(raised.value) == [field]
