"""``hashwatch review list|show|decide`` against a real database."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from index.hashes import Hash
from index.matcher import Matcher
from reporting import audit
from reporting.store import NewEntry
from scanner.app import open_store
from scanner.cli.main import app
from scanner.recording import ScanContext
from scanner.settings import load_settings
from tests.decisions import as_decided

A = Hash.from_hex("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_show_and_decide(database_url: str, tmp_path: Path) -> None:
    where = ["--data-dir", str(tmp_path / "var"), "--database-url", database_url]
    store = open_store(load_settings(data_dir=tmp_path / "var", database_url=database_url))
    try:
        store.import_entries("ncmec", [NewEntry(A, "ncmec-5")])
        store.set_policy("ncmec", {"report": "after_review"})
        hits = as_decided(store, Matcher(store.matcher_inputs()).match([A]))
        context = ScanContext("r", "shop", "https://shop.example/x.jpg", "192.0.2.7", "image/jpeg")
        first = store.record_match(context, [A], hits, b"bytes")
        second = store.record_match(context, [A], hits, b"bytes")

        code, out, err = invoke("review", "list", *where)
        assert code == 0, err
        assert [line.split()[0] for line in out.splitlines()] == [str(first), str(second)]
        assert "https://shop.example/x.jpg lists=ncmec pdq:0" in out
        code, out, _ = invoke("review", "list", "--json", "--newest", "--limit", "1", *where)
        assert json.loads(out)["match_id"] == second

        code, out, err = invoke("review", "show", str(first), *where)
        assert code == 0, err
        assert "list ncmec entry" in out and "ncmec-5" in out and "192.0.2.7" in out
        assert f"hash       pdq {A.hex}" in out

        code, out, err = invoke("review", "decide", str(first), "confirm", "--note", "apparent", *where)
        assert code == 0, err
        assert f"case {first}: confirmed; report requested" in out
        code, out, err = invoke("review", "decide", str(first), "false-positive", *where)
        assert code == 2 and "only an admin" in err
        code, out, err = invoke("review", "decide", str(second), "maybe", *where)
        assert code == 2 and "unknown decision" in err
        code, out, _ = invoke("review", "list", *where)
        assert [line.split()[0] for line in out.splitlines()] == [str(second)]

        actions = [e.action for e in audit.AuditLog(store.engine).entries(50).entries]
        assert actions[:2] == ["case.confirm", "case.view"]

        code, out, err = invoke("review", "decide", str(second), "false_positive", *where)
        assert code == 0, err
        # The URL's block came from the first case, which is confirmed: it stays.
        assert "block resolved" not in out and "flagged" in out
        code, out, _ = invoke("review", "flags", *where)
        [flag_id] = [line.split()[0] for line in out.splitlines()]
        assert "list ncmec" in out and "ncmec-5" in out
        code, out, err = invoke("review", "flag", flag_id, "restore", *where)
        assert code == 0 and "restored" in out, err
        assert invoke("review", "flags", *where)[1] == ""
        assert audit.verify(store.engine).ok
    finally:
        store.engine.dispose()
