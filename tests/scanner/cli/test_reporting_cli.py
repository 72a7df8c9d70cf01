"""The reporting commands of the CLI, against real receivers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reporting.testing.webhook_receiver import WebhookReceiver
from scanner.cli.main import app
from tests.decisions import as_decided

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
    actions, matching = out.splitlines()
    assert json.loads(actions.split(": ", 1)[1]) == {
        "block": True,
        "notify": False,
        "report": report,
        "partner": "cybertipline",
        "preserve": True,
        "decide": ["pdq", "phash", "md5", "sha1"],
    }
    assert matching == (
        "ncmec matching: kind match, thresholds default, review band none, combine any, "
        "decides on pdq, phash, md5, sha1"
    )
    code, _, err = invoke("lists", "policy", "nope", "--report", report, *where)
    assert code == 2 and "no list named" in err


def test_evidence_export_is_recorded_and_show_lists_the_reads(tmp_path: Path) -> None:
    from index.hashes import Hash
    from index.matcher import Matcher
    from reporting.db import make_engine, migrate
    from reporting.matches.evidence import EvidenceBox
    from reporting.store import ActionConfig, NewEntry, Store
    from scanner.recording import ScanContext

    data = tmp_path / "var"
    where = ["--data-dir", str(data)]
    engine = make_engine(f"sqlite:///{data / 'hashwatch.db'}")
    migrate(engine)
    store = Store(engine, ActionConfig(evidence=EvidenceBox.from_setting("", data)))
    value = Hash.from_hex("md5", "511130d2072cc744a1fa5015bc23557a")
    store.import_entries("l", [NewEntry(value)])
    match_id = store.record_match(
        ScanContext(customer_id="c", url="https://x.example/a.jpg"),
        [value],
        as_decided(store, Matcher(store.matcher_inputs()).match([value])),
        b"the matched bytes",
    )
    engine.dispose()
    out_file = tmp_path / "evidence.bin"
    code, out, err = invoke(
        "evidence",
        "export",
        str(match_id),
        "--out",
        str(out_file),
        "--actor",
        "ops-1",
        "--purpose",
        "LE request 42",
        *where,
    )
    assert code == 0, err
    assert out_file.read_bytes() == b"the matched bytes"
    assert out_file.stat().st_mode & 0o777 == 0o600
    code, out, _ = invoke("evidence", "show", str(match_id), *where)
    shown = json.loads(out)
    assert [(r["actor"], r["purpose"]) for r in shown["reads"]] == [("ops-1", "LE request 42")]
    assert "the matched bytes" not in out
    code, out, _ = invoke("reports", "list", *where)
    assert code == 0 and out == ""
