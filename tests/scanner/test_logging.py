"""The JSON logs of a real ``hashwatch serve``: one access line per RPC with its request id,
and never a token or a byte of content."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from typer.testing import CliRunner

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.cli.main import app as cli
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.scanner.test_log_secrets import assert_no_content

LISTED = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
UNLISTED = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_access_lines_carry_request_ids_and_never_secrets_or_content(tmp_path: Path) -> None:
    data = tmp_path / "var"
    runner = CliRunner()
    imported = runner.invoke(
        cli,
        ["lists", "import", str(DEMO_LIST), "--list", "demo", "--format", "images", "--data-dir", str(data)],
    )
    assert imported.exit_code == 0, imported.stderr
    created = runner.invoke(
        cli, ["tokens", "create", "--scope", "scan", "--name", "edge", "--data-dir", str(data)]
    )
    assert created.exit_code == 0, created.stderr
    token = created.stdout.splitlines()[-1]
    env = {
        **os.environ,
        "HASHWATCH_DATA_DIR": str(data),
        "HASHWATCH_PORT": "0",
        "HASHWATCH_METRICS_PORT": "0",
        "HASHWATCH_REQUIRE_AUTH": "true",
        "HASHWATCH_LOG_JSON": "true",
        "HASHWATCH_SHUTDOWN_DELAY_SECONDS": "0",
    }
    env.pop("HASHWATCH_DATABASE_URL", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "scanner", "serve", "--no-worker"], env=env, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        address = ""
        while not address and time.monotonic() < deadline and process.poll() is None:
            address = next((e["address"] for e in _lines(log_path) if e["event"] == "serving"), "")
            time.sleep(0.1)
        assert address, log_path.read_text()
        auth = (("authorization", f"Bearer {token}"),)
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.ScannerStub(channel)
            blocked = stub.Scan(
                pb.ScanRequest(
                    request_id="req-listed-7", content=LISTED, customer_id="shop", url="https://s/1"
                ),
                timeout=30,
                metadata=auth,
            )
            assert blocked.verdict == pb.VERDICT_BLOCK
            stub.Hash(
                pb.HashRequest(content=UNLISTED), timeout=30, metadata=(*auth, ("x-request-id", "hdr-42"))
            )
            stub.Scan(pb.ScanRequest(content=UNLISTED), timeout=30, metadata=auth)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Scan(pb.ScanRequest(content=UNLISTED), timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    text = log_path.read_text()
    access = [e for e in _lines(log_path) if e["event"] == "rpc"]
    by_id = {e["request_id"]: e for e in access}
    listed = by_id["req-listed-7"]
    assert listed["method"] == "/hashwatch.v1.Scanner/Scan"
    assert (listed["code"], listed["verdict"], listed["outcome"]) == ("OK", "block", "scanned")
    assert listed["match_id"] > 0 and listed["elapsed_ms"] > 0
    assert by_id["hdr-42"]["method"] == "/hashwatch.v1.Scanner/Hash"
    # Refused before its message is read, a call gets a generated id, like one that sent none.
    generated = [e for e in access if len(e["request_id"]) == 32]
    assert sorted(e["code"] for e in generated) == ["OK", "UNAUTHENTICATED"]
    # Never the token (whole or its secret part), nor any of the content.
    assert token not in text and token.split("_")[2] not in text
    assert_no_content(text, LISTED, UNLISTED)
