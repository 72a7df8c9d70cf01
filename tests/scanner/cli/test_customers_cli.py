"""``hashwatch customers`` and ``tokens create --scope partner`` against a real database and a
real SMTP server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reporting.testing.smtp_sink import SmtpSink
from scanner.cli.main import app

runner = CliRunner()


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        monkeypatch.setenv("HASHWATCH_SMTP_HOST", server.host)
        monkeypatch.setenv("HASHWATCH_SMTP_PORT", str(server.port))
        yield server


def run(database_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    where = ["--data-dir", str(tmp_path / "var"), "--database-url", database_url]
    result = runner.invoke(app, [*args, *where])
    return result.exit_code, result.stdout, result.stderr


def as_json(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_onboard_a_customer_from_the_shell(database_url: str, tmp_path: Path, sink: SmtpSink) -> None:
    code, out, err = run(
        database_url, tmp_path, "customers", "create", "shop", "--name", "Shop", "--partner", "host-a",
        "--site", "shop.example", "--threshold", "pdq=16", "--json",
    )  # fmt: skip
    assert code == 0, err
    [made] = as_json(out)
    assert made["partner_id"] == "host-a" and made["sites"] == ["shop.example"] and not made["enabled"]
    assert made["settings"] == {
        "lists": [],
        "thresholds": {"pdq": 16},
        "degraded_verdict": "",
        "notify": "immediate",
    }

    code, _, err = run(database_url, tmp_path, "customers", "enable", "shop")
    assert code == 1 and "no verified email" in err

    code, out, err = run(
        database_url, tmp_path, "customers", "email", "set", "shop", "owner@shop.example", "--json"
    )
    assert code == 0, err
    assert as_json(out)[0]["email"] == "o***@shop.example" and "owner@" not in out
    body = sink.wait_for(1)[0].message.get_content()
    found = re.search(r"Verification code: (\S+)", body)
    assert found is not None

    code, _, err = run(database_url, tmp_path, "customers", "email", "verify", "shop", "WRONG")
    assert code == 2 and "4 attempt(s) left" in err
    code, out, err = run(database_url, tmp_path, "customers", "email", "verify", "shop", found.group(1))
    assert code == 0 and "(verified)" in out, err
    code, out, _ = run(database_url, tmp_path, "customers", "enable", "shop")
    assert code == 0 and "enabled" in out

    code, _, err = run(database_url, tmp_path, "customers", "update", "shop", "--threshold", "pdq=99")
    assert code == 2 and "only tighten" in err
    code, out, err = run(
        database_url,
        tmp_path,
        "customers",
        "update",
        "shop",
        "--notify",
        "digest",
        "--degraded",
        "allow",
        "--json",
    )
    assert code == 0, err
    assert as_json(out)[0]["settings"] == {
        "lists": [],
        "thresholds": {"pdq": 16},
        "degraded_verdict": "allow",
        "notify": "digest",
    }

    # An id with ':' is in the namespace of the partner before it: created for that partner only.
    code, _, err = run(database_url, tmp_path, "customers", "create", "host-b:other")
    assert code == 2 and "namespace of partner 'host-b'" in err
    code, out, err = run(database_url, tmp_path, "customers", "create", "host-b:other", "--partner", "host-b")
    assert code == 0 and "partner=host-b" in out, err
    run(database_url, tmp_path, "customers", "create", "other", "--partner", "host-b")
    code, out, _ = run(database_url, tmp_path, "customers", "list", "--partner", "host-a", "--json")
    assert [c["customer_id"] for c in as_json(out)] == ["shop"]
    code, out, _ = run(database_url, tmp_path, "customers", "list", "--json")
    assert [c["customer_id"] for c in as_json(out)] == ["shop", "host-b:other", "other"]

    code, out, _ = run(database_url, tmp_path, "customers", "sites", "add", "other", "*.other.example")
    assert code == 0 and "*.other.example" in out
    code, _, err = run(database_url, tmp_path, "customers", "sites", "add", "other", "shop.example")
    assert code == 1 and "belongs to a customer" in err
    code, out, _ = run(database_url, tmp_path, "customers", "sites", "remove", "other", "*.other.example")
    assert code == 0 and "sites=-" in out

    code, out, _ = run(database_url, tmp_path, "customers", "delete", "shop", "--yes")
    assert code == 0 and "kept 0 match(es)" in out
    code, _, err = run(database_url, tmp_path, "customers", "get", "shop")
    assert code == 1 and "no customer" in err


def test_partner_tokens_from_the_shell(database_url: str, tmp_path: Path) -> None:
    code, out, err = run(
        database_url, tmp_path, "tokens", "create", "--scope", "partner", "--partner", "host-a", "--name", "a"
    )
    assert code == 0, err
    assert "partner=host-a" in out
    code, _, err = run(database_url, tmp_path, "tokens", "create", "--scope", "partner")
    assert code == 2 and "--partner" in err
    code, _, err = run(database_url, tmp_path, "tokens", "create", "--scope", "scan", "--partner", "host-a")
    assert code == 2 and "partner scope only" in err
    # A partner id prefixes its customers' ids (host-a:shop): it cannot hold the ':' itself.
    code, _, err = run(
        database_url, tmp_path, "tokens", "create", "--scope", "partner", "--partner", "host:a"
    )
    assert code == 2 and "cannot hold ':'" in err
    code, out, _ = run(database_url, tmp_path, "tokens", "list", "--json")
    assert [t["partner_id"] for t in as_json(out)] == ["host-a"]
