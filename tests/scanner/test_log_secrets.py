"""No log line carries a secret or content, even when the database fails in the middle of
checking one: a real ``hashwatch serve --require-auth --web-port 0`` whose database breaks
(tables dropped under a running SQLite server, or a private PostgreSQL stopped) is called with
bearer tokens and content, and an analyst logs in with password + TOTP on the review page; the
whole log output is then searched for every secret, in JSON and console modes."""

from __future__ import annotations

import base64
import json
import multiprocessing
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import pyotp
import pytest
from typer.testing import CliRunner

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.cli.main import app as cli
from scanner.hashpool import wire
from scanner.hashpool import worker as hashing_worker
from scanner.pipeline import HashingConfig
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.pgserver import PrivatePostgres
from tests.scanner.serving import Served, hashwatch_serve

LISTED = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
UNLISTED = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()
PASSWORD = "correct-horse-battery-staple-91"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')

runner = CliRunner()


@dataclass
class Secrets:
    """Everything that must never reach a log line."""

    tokens: list[str]
    totp_secret: str
    codes: list[str] = field(default_factory=list)


def _cli(where: list[str], *args: str, stdin: str | None = None) -> str:
    result = runner.invoke(cli, [*args, *where], input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def _prepare(where: list[str], tokens: int) -> Secrets:
    _cli(where, "lists", "import", str(DEMO_LIST), "--list", "demo", "--format", "images")
    made = [
        _cli(where, "tokens", "create", "--scope", "scan", "--name", f"edge-{i}").splitlines()[-1]
        for i in range(tokens)
    ]
    created = _cli(
        where, "analysts", "create", "ann", "--role", "analyst", "--password-stdin", stdin=PASSWORD
    )
    totp_secret = next(
        line.split(":", 1)[1].strip() for line in created.splitlines() if line.startswith("totp secret:")
    )
    return Secrets(made, totp_secret)


@contextmanager
def _serve(tmp_path: Path, env: dict[str, str], json_logs: bool) -> Iterator[Served]:
    settings = {
        **env,
        "HASHWATCH_REQUIRE_AUTH": "true",
        "HASHWATCH_LOG_JSON": "true" if json_logs else "false",
        "HASHWATCH_GRACE_SECONDS": "5",
    }
    args = ("--no-worker", "--web-port", "0")
    with hashwatch_serve(
        settings, tmp_path / "serve.log", *args, wait_for=("serving", "review page")
    ) as served:
        yield served


Auth = tuple[tuple[str, str], ...]


def _scan(stub: pb_grpc.ScannerStub, auth: Auth) -> object:
    request = pb.ScanRequest(content=LISTED, customer_id="shop", url="https://s/1")
    return stub.Scan(request, timeout=30, metadata=auth)


def _hash(stub: pb_grpc.ScannerStub, auth: Auth) -> object:
    return stub.Hash(pb.HashRequest(content=UNLISTED), timeout=30, metadata=auth)


def _stream(stub: pb_grpc.ScannerStub, auth: Auth) -> object:
    return list(stub.ScanStream(iter([pb.ScanRequest(content=LISTED)]), timeout=30, metadata=auth))


def _call_with_tokens(address: str, tokens: list[str]) -> list[grpc.StatusCode]:
    """Each token on Scan (with content), Hash and ScanStream; the status codes seen."""
    codes = []
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.ScannerStub(channel)
        for token in tokens:
            for call in (_scan, _hash, _stream):
                try:
                    call(stub, (("authorization", f"Bearer {token}"),))
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as exc:
                    codes.append(exc.code())
    return codes


def _login(web_address: str, secrets: Secrets) -> int:
    """Log in on the review page with the password and a fresh TOTP code; the HTTP status."""
    code = pyotp.TOTP(secrets.totp_secret).now()
    secrets.codes.append(code)
    with httpx.Client(base_url=f"http://{web_address}", timeout=30) as client:
        form = client.get("/login")
        found = _CSRF.search(form.text)
        assert found, form.text
        fields = {"csrf": found.group(1), "username": "ann", "password": PASSWORD, "code": code}
        return client.post("/login", data=fields).status_code


def assert_no_content(text: str, *contents: bytes) -> None:
    """No 48-byte piece of any of ``contents`` in ``text``: base64, hex or repr'd."""
    for content in contents:
        for start in (0, 1000, len(content) // 2):
            chunk = content[start : start + 48]
            assert base64.b64encode(chunk).decode() not in text
            assert chunk.hex() not in text
            assert repr(chunk)[2:40] not in text


def assert_no_secret_or_content(text: str, secrets: Secrets, json_logs: bool) -> None:
    assert text.strip()
    for token in secrets.tokens:
        assert token not in text
        assert token.split("_")[2] not in text  # the random part alone
        assert f"Bearer {token[:12]}" not in text
    assert PASSWORD not in text
    assert "[parameters:" not in text  # values bound to a failed statement stay out too
    assert secrets.totp_secret not in text and secrets.totp_secret.lower() not in text
    for code in secrets.codes:
        assert not re.search(rf"(?<!\d){code}(?!\d)", text), f"TOTP code {code} in the log"
    assert_no_content(text, LISTED, UNLISTED)
    if json_logs:
        # Every line, the libraries' (uvicorn, gRPC) included, is one JSON object.
        for line in text.splitlines():
            assert isinstance(json.loads(line), dict), line


@pytest.mark.parametrize("json_logs", [True, False], ids=["json", "console"])
def test_a_token_lookup_and_a_login_failing_on_a_broken_sqlite_log_no_secret(
    tmp_path: Path, json_logs: bool
) -> None:
    data = tmp_path / "var"
    where = ["--data-dir", str(data)]
    secrets = _prepare(where, tokens=1)
    env = {"HASHWATCH_DATA_DIR": str(data)}
    with _serve(tmp_path, env, json_logs) as serving:
        grpc_address, web_address = serving.addresses["serving"], serving.addresses["review page"]
        # Under the running server: the tables a token check and a login read disappear.
        broken = sqlite3.connect(data / "hashwatch.db")
        broken.executescript("DROP TABLE api_tokens; DROP TABLE analysts;")
        broken.close()
        codes = _call_with_tokens(grpc_address, secrets.tokens)
        assert set(codes) == {grpc.StatusCode.UNAVAILABLE}, codes
        assert _login(web_address, secrets) == 500
        text = serving.log.read_text()
        assert "token verification failed" in text and "no such table" in text
    assert serving.process.returncode == 0, serving.log.read_text()
    assert_no_secret_or_content(serving.log.read_text(), secrets, json_logs)


def test_a_postgresql_failover_during_auth_and_login_logs_no_secret(
    tmp_path: Path, postgres: PrivatePostgres
) -> None:
    data = tmp_path / "var"
    where = ["--data-dir", str(data), "--database-url", postgres.url]
    secrets = _prepare(where, tokens=2)
    cached, uncached = secrets.tokens
    env = {
        "HASHWATCH_DATA_DIR": str(data),
        "HASHWATCH_DATABASE_URL": postgres.url,
        # Hashing processes too: their logging is configured the same way.
        "HASHWATCH_HASH_WORKERS": "1",
    }
    with _serve(tmp_path, env, json_logs=True) as serving:
        grpc_address, web_address = serving.addresses["serving"], serving.addresses["review page"]
        assert _call_with_tokens(grpc_address, [cached])[0] == grpc.StatusCode.OK
        postgres.stop()
        # A cached token still scans (the match is spooled); an uncached one cannot be checked.
        assert _call_with_tokens(grpc_address, [cached])[0] == grpc.StatusCode.OK
        assert set(_call_with_tokens(grpc_address, [uncached])) == {grpc.StatusCode.UNAVAILABLE}
        assert _login(web_address, secrets) == 500
        text = serving.log.read_text()
        assert "token verification failed" in text and "match spooled" in text
    assert serving.process.returncode == 0, serving.log.read_text()
    assert_no_secret_or_content(serving.log.read_text(), secrets, json_logs=True)


def test_a_failing_hashing_process_logs_a_json_line_without_its_content(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Spawned (the pool uses a forkserver) so that the process writes to this test's stderr.
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=True)
    config = wire.encode_config(HashingConfig())
    process = context.Process(target=hashing_worker.run, args=(theirs, config, 0, "info", True))
    process.start()
    theirs.close()
    try:
        assert ours.poll(60) and ours.recv_bytes() == hashing_worker.READY
        ours.send_bytes(b"no-such-algorithm")  # fails in the process, with the content at hand
        ours.send_bytes(LISTED)
        process.join(30)
        assert process.exitcode == 1
    finally:
        if process.is_alive():
            process.kill()
        ours.close()
    text = capfd.readouterr().err
    [line] = [json.loads(line) for line in text.splitlines()]
    assert line["event"] == "hashing process failed" and line["exception"][0]["exc_type"] == "ValueError"
    assert_no_content(text, LISTED)


_BOTH_AT_ONCE = """
import logging, threading
import structlog
from scanner.logs import configure

configure("info", json=True)
ours, library = structlog.get_logger("hashwatch"), logging.getLogger("uvicorn.error")

def service():
    for i in range(2000):
        ours.info("a service line", i=i)

def uvicorn():
    for i in range(2000):
        library.warning("a library line %d", i)

threads = [threading.Thread(target=f) for f in (service, uvicorn, service, uvicorn)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_service_and_library_lines_written_at_once_stay_whole_json_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _BOTH_AT_ONCE], capture_output=True, text=True, timeout=120, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(lines) == 8000
    assert {line["event"][:14] for line in lines} == {"a service line", "a library line"}
