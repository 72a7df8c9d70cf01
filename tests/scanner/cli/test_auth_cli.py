"""``hashwatch tokens``, ``audit`` and ``analysts`` against a real database."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pyotp
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from reporting.access.accounts import Accounts
from reporting.audit import AuditLog
from reporting.db import make_engine, migrate
from scanner.api.hashwatch.v1 import audit_pb2, audit_pb2_grpc
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import open_store
from scanner.cli.main import app
from scanner.settings import load_settings
from tests.conftest import DEMO_UNLISTED

runner = CliRunner()
SECRET = re.compile(r"^hw_[0-9A-Za-z]{8}_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}$")


def invoke(database_url: str, tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    return invoke_in(tmp_path / "var", database_url, *args, stdin=stdin)


def invoke_in(
    data_dir: Path, database_url: str, *args: str, stdin: str | None = None
) -> tuple[int, str, str]:
    where = ["--data-dir", str(data_dir), "--database-url", database_url]
    result = runner.invoke(app, [*args, *where], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_tokens_create_prints_the_secret_last_and_once(database_url: str, tmp_path: Path) -> None:
    code, out, err = invoke(
        database_url,
        tmp_path,
        "tokens",
        "create",
        "--scope",
        "scan",
        "--scope",
        "lists:read",
        "--name",
        "edge-fra1",
        "--ttl",
        "90d",
        "--ip",
        "10.0.0.0/8",
        "--actor",
        "cli:ops",
    )
    assert code == 0, err
    secret = out.splitlines()[-1]
    assert SECRET.match(secret)
    assert out.count(secret) == 1
    public_id = secret.split("_")[1]

    code, out, _ = invoke(database_url, tmp_path, "tokens", "verify", stdin=secret + "\n")
    assert code == 0 and public_id in out and "scopes=lists:read,scan" in out
    code, out, _ = invoke(database_url, tmp_path, "tokens", "list", "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert (listed["id"], listed["status"], listed["allowed_cidrs"]) == (public_id, "active", ["10.0.0.0/8"])
    assert secret.split("_")[2] not in out

    code, out, _ = invoke(database_url, tmp_path, "tokens", "revoke", public_id, "--reason", "rotated")
    assert code == 0 and "revoked" in out
    code, _, err = invoke(database_url, tmp_path, "tokens", "verify", secret)
    assert code == 1 and "revoked" in err and secret not in err
    code, _, err = invoke(database_url, tmp_path, "tokens", "verify", secret[:-1])
    assert code == 1 and "not valid" in err

    code, _, err = invoke(database_url, tmp_path, "tokens", "create", "--scope", "everything")
    assert code == 2 and "unknown scope" in err
    code, _, err = invoke(database_url, tmp_path, "tokens", "create", "--scope", "scan", "--ttl", "forever")
    assert code == 2 and "TTL" in err

    code, out, _ = invoke(database_url, tmp_path, "audit", "list", "--json")
    actions = [json.loads(line)["action"] for line in out.splitlines()]
    assert actions == ["token.revoke", "token.create"]


def test_a_customer_appeal_token_is_bound_to_its_customer(database_url: str, tmp_path: Path) -> None:
    code, out, err = invoke(
        database_url, tmp_path, "tokens", "create", "--scope", "customer:appeal", "--customer", "shop-1"
    )
    assert code == 0, err
    assert "scopes=customer:appeal  customer=shop-1" in out
    code, out, _ = invoke(database_url, tmp_path, "tokens", "list", "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert (listed["scopes"], listed["customer_id"], listed["partner_id"]) == (
        ["customer:appeal"],
        "shop-1",
        None,
    )
    code, _, err = invoke(database_url, tmp_path, "tokens", "create", "--scope", "customer:appeal")
    assert code == 2 and "--customer" in err
    code, _, err = invoke(
        database_url,
        tmp_path,
        "tokens",
        "create",
        "--scope",
        "customer:appeal",
        "--scope",
        "review:write",
        "--customer",
        "shop-1",
    )
    assert code == 2 and "customer:appeal scope only" in err


def test_audit_verify_passes_then_fails_after_an_edit(database_url: str, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        code, _, err = invoke(database_url, tmp_path, "tokens", "create", "--scope", "scan", "--name", name)
        assert code == 0, err
    code, out, _ = invoke(database_url, tmp_path, "audit", "verify")
    assert code == 0 and "intact: 3 records" in out
    head = out.strip().rsplit(" ", 1)[-1]
    code, _, _ = invoke(database_url, tmp_path, "audit", "verify", "--anchor", head)
    assert code == 0

    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET details = '{}' WHERE id = 2"))
    engine.dispose()
    code, _, err = invoke(database_url, tmp_path, "audit", "verify")
    assert code == 1
    assert "BROKEN at record 2" in err


def test_audit_verify_names_a_cut_tail_whose_head_was_moved_back(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One key for every machine, from the environment, as servers sharing a database need.
    monkeypatch.setenv("HASHWATCH_SECRETS_KEY", base64.b64encode(os.urandom(32)).decode())
    for name in ("a", "b", "c", "d"):
        code, _, err = invoke(database_url, tmp_path, "tokens", "create", "--scope", "scan", "--name", name)
        assert code == 0, err
    code, out, _ = invoke(database_url, tmp_path, "audit", "verify")
    assert code == 0 and "intact: 4 records" in out and "anchored at record 4" in out

    # Someone who can write the database, but holds neither the key nor the data directory.
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id > 2"))
        conn.execute(
            text(
                "UPDATE audit_head SET last_id = 2, last_hash = (SELECT hash FROM audit_log WHERE id = 2), "
                "mac = (SELECT mac FROM audit_log WHERE id = 2)"
            )
        )
    engine.dispose()
    code, _, err = invoke(database_url, tmp_path, "audit", "verify")
    assert code == 1
    anchor_file = tmp_path / "var" / "audit.anchor"
    assert f"BROKEN at record 3: records 3..4 are missing: {anchor_file} says record 4 was written" in err
    # From a machine without that anchor, the head's MAC shows it; that machine's verify can also
    # take the anchor file copied from the server.
    elsewhere = tmp_path / "elsewhere"
    code, _, err = invoke_in(elsewhere, database_url, "audit", "verify")
    assert code == 1 and "not one the audit key sealed" in err
    code, _, err = invoke_in(elsewhere, database_url, "audit", "verify", "--anchor-file", str(anchor_file))
    assert code == 1 and "records 3..4 are missing" in err


def test_audit_seal_seals_a_log_from_before_the_key(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    AuditLog(engine).append("cli:ops", "token.create", "token:old")  # no seal: as before the key
    engine.dispose()
    code, _, err = invoke(database_url, tmp_path, "audit", "verify")
    assert code == 1 and "NOT SEALED" in err and "hashwatch audit seal" in err
    code, out, err = invoke(database_url, tmp_path, "audit", "seal", "--actor", "cli:ops")
    assert code == 0 and "sealed: 1 records" in out, err
    code, out, _ = invoke(database_url, tmp_path, "audit", "verify")
    assert code == 0 and "records 1..1 predate the audit key" in out
    code, out, _ = invoke(database_url, tmp_path, "audit", "seal")
    assert code == 0 and "already sealed" in out


def test_analysts_create_list_disable(database_url: str, tmp_path: Path) -> None:
    code, out, err = invoke(
        database_url,
        tmp_path,
        "analysts",
        "create",
        "alice",
        "--role",
        "auditor",
        "--display-name",
        "Alice A.",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert code == 0, err
    assert "auditor: audit:read" in out
    secret = re.search(r"totp secret: (\S+)", out)
    assert secret is not None
    codes = re.findall(r"^  ([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})$", out, re.MULTILINE)
    assert len(codes) == 10

    # As the review page would: its engine seals what it appends with the data directory's key.
    store = open_store(load_settings(data_dir=tmp_path / "var", database_url=database_url))
    accounts = Accounts(store.engine)
    totp = pyotp.TOTP(secret.group(1))
    assert accounts.authenticate("alice", "correct horse battery", totp.now()).scopes == {"audit:read"}
    assert accounts.authenticate("alice", "correct horse battery", codes[0]).actor == "analyst:alice"
    store.engine.dispose()

    code, out, _ = invoke(database_url, tmp_path, "analysts", "list")
    assert code == 0 and "alice" in out and "recovery_codes_left=9" in out
    code, out, _ = invoke(database_url, tmp_path, "analysts", "disable", "alice", "--reason", "left")
    assert code == 0 and "disabled" in out
    code, out, _ = invoke(database_url, tmp_path, "analysts", "list", "--json")
    assert json.loads(out)["state"] == "disabled"
    code, _, err = invoke(
        database_url,
        tmp_path,
        "analysts",
        "create",
        "bob",
        "--role",
        "analyst",
        "--password-stdin",
        stdin="short\n",
    )
    assert code == 2 and "at least 12" in err
    code, out, _ = invoke(database_url, tmp_path, "audit", "verify")
    assert code == 0 and "intact" in out


def test_serve_require_auth_end_to_end(tmp_path: Path) -> None:
    """A real ``hashwatch serve --require-auth`` process and a token made by ``tokens create``."""
    data = tmp_path / "var"
    result = runner.invoke(app, ["tokens", "create", "--scope", "scan", "--data-dir", str(data)])
    assert result.exit_code == 0, result.stderr
    secret = result.stdout.splitlines()[-1]
    env = {**os.environ, "HASHWATCH_DATA_DIR": str(data), "HASHWATCH_SHUTDOWN_DELAY_SECONDS": "0"}
    env.pop("HASHWATCH_DATABASE_URL", None)
    env.pop("HASHWATCH_REQUIRE_AUTH", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "scanner", "serve", "--require-auth", "--port", "0", "--no-worker"],
            env=env,
            stderr=log,
        )
    try:
        address = _wait_for_serving(process, log_path)
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.ScannerStub(channel)
            request = pb.ScanRequest(
                request_id="r", content=(DEMO_UNLISTED / "skimage_camera.png").read_bytes()
            )
            with pytest.raises(grpc.RpcError) as raised:
                stub.Scan(request, timeout=30)
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
            token = (("authorization", f"Bearer {secret}"),)
            assert stub.Scan(request, metadata=token, timeout=30).verdict == pb.VERDICT_ALLOW
            with pytest.raises(grpc.RpcError) as raised:
                audit_pb2_grpc.AuditStub(channel).ListAuditLog(
                    audit_pb2.ListAuditLogRequest(), metadata=token, timeout=30
                )
            assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        image = str(DEMO_UNLISTED / "skimage_camera.png")
        refused = runner.invoke(app, ["scan", "--server", address, "--json", image])
        assert refused.exit_code == 1 and "UNAUTHENTICATED" in refused.stderr
        scanned = runner.invoke(
            app, ["scan", "--server", address, "--json", image], env={"HASHWATCH_TOKEN": secret}
        )
        assert scanned.exit_code == 0, scanned.stderr
        assert json.loads(scanned.stdout)["verdict"] == "ALLOW"
        assert secret not in log_path.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def _wait_for_serving(process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        for line in log_path.read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "serving":
                return str(event["address"])
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start:\n{log_path.read_text()}")
