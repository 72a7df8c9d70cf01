"""The reporting commands of the CLI, against real receivers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reporting.testing.webhook_receiver import WebhookReceiver
from scanner.cli.main import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_destinations_add_list_test_and_history(database_url: str, tmp_path: Path) -> None:
    where = ["--data-dir", str(tmp_path / "var"), "--database-url", database_url]
    with WebhookReceiver(secret="s3cret-value-1234") as receiver:
        code, out, err = invoke(
            "destinations", "add", "--customer", "shop", "--kind", "webhook", "--url", receiver.url,
            "--secret", "s3cret-value-1234", "--allow-private", *where,
        )  # fmt: skip
        assert code == 0, err
        assert "destination 1 added" in out
        code, out, _ = invoke("destinations", "list", "--json", *where)
        [listed] = [json.loads(line) for line in out.splitlines()]
        assert listed["kind"] == "webhook"
        assert "s3cret-value-1234" not in out
        code, out, _ = invoke("destinations", "test", "1", *where)
        assert code == 0, out
        assert "delivered after 1 attempt" in out
        assert receiver.valid_signatures()
        assert json.loads(receiver.requests[0].body)["kind"] == "test"
        code, out, _ = invoke("destinations", "history", "1", *where)
        assert " test " in out and " delivered " in out


def test_a_bad_destination_is_refused_before_it_is_stored(database_url: str, tmp_path: Path) -> None:
    where = ["--data-dir", str(tmp_path / "var"), "--database-url", database_url]
    code, _, err = invoke(
        "destinations", "add", "--customer", "shop", "--kind", "pagerduty", "--routing-key", "short", *where
    )
    assert code == 2
    assert "routing" in err
    code, out, _ = invoke("destinations", "list", *where)
    assert out == ""


@pytest.mark.parametrize("report", ["immediately", "after_review", "never"])
def test_lists_policy_round_trip(report: str, tmp_path: Path) -> None:
    where = ["--data-dir", str(tmp_path / "var")]
    pdq = tmp_path / "l.pdq"
    pdq.write_text("f" * 64 + "\n")
    assert invoke("lists", "import", str(pdq), "--list", "ncmec", "--format", "pdq", *where)[0] == 0
    code, out, _ = invoke("lists", "policy", "ncmec", "--report", report, "--no-notify", *where)
    assert code == 0
    assert json.loads(out.split(": ", 1)[1]) == {
        "block": True,
        "notify": False,
        "report": report,
        "partner": "cybertipline",
        "preserve": True,
    }
    code, _, err = invoke("lists", "policy", "nope", "--report", report, *where)
    assert code == 2 and "no list named" in err
