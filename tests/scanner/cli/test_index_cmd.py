"""``hashwatch index build|status``, and a server that starts from the snapshots it writes."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs
from typer.testing import CliRunner

from index.hashes import Algorithm, Hash
from reporting.store import NewEntry
from scanner.app import build_app
from scanner.cli.main import app as cli
from scanner.settings import load_settings

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "511130d2072cc744a1fa5015bc23557a"


def test_build_status_and_a_server_that_starts_from_snapshots(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    var = tmp_path / "var"
    where = ["--data-dir", str(var), "--database-url", database_url]
    listed = tmp_path / "l.csv"
    listed.write_text(f"signal_type,signal_value,signal_id\npdq,{PDQ},1\nmd5,{MD5},2\n")
    result = runner.invoke(cli, ["lists", "import", str(listed), "--list", "te", "--format", "csv", *where])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["index", "status", *where])
    assert result.exit_code == 0, result.output
    assert "te: no snapshot" in result.stdout
    result = runner.invoke(cli, ["index", "build", *where])
    assert result.exit_code == 0, result.output
    assert "te (version 1): 1 md5, 1 pdq" in result.stdout
    result = runner.invoke(cli, ["index", "status", *where])
    assert "te pdq: 1 entries, flat" in result.stdout and "snapshot version 1 (up to date)" in result.stdout
    assert "te md5: 1 entries" in result.stdout

    # The database moves on; the server starts from the snapshot and catches up.
    near = Hash.from_hex("pdq", PDQ[:-1] + ("0" if PDQ[-1] != "0" else "1"))
    added = Hash.from_hex("pdq", "ab" * 32)
    settings = load_settings(port=0, data_dir=var, database_url=database_url)
    app = build_app(settings)
    try:
        app.store.import_entries("te", [NewEntry(added)])
        result = runner.invoke(cli, ["index", "status", "--json", *where])
        assert '"snapshot_version": 1, "database_version": 2' in result.stdout
        with capture_logs() as logs:
            app.reload_lists()  # from the database
            fresh = build_app(settings)
        assert any(e["event"] == "lists loaded from snapshots" for e in logs)
        hits = fresh.matchers.current.match([near, added, Hash.from_hex("md5", MD5)])
        assert sorted((str(h.algorithm), h.distance) for h in hits) == [("md5", 0), ("pdq", 0), ("pdq", 1)]
        assert fresh.matchers.current.sizes() == app.matchers.current.sizes()
        fresh.store.engine.dispose()

        # A truncated snapshot: refused loudly, the list served from the database.
        [data] = (var / "index").glob("list-*-pdq.snapshot.*.data")
        data.write_bytes(data.read_bytes()[:10])
        result = runner.invoke(cli, ["index", "status", *where])
        assert result.exit_code == 0, result.output
        with capture_logs() as logs:
            fresh = build_app(settings)
        assert [e["list"] for e in logs if e["event"].startswith("INDEX SNAPSHOT REFUSED")] == ["te"]
        assert fresh.matchers.current.sizes() == {"te": {Algorithm.PDQ: 2, Algorithm.MD5: 1}}
        assert len(fresh.matchers.current.match([near])) == 1
        fresh.store.engine.dispose()
    finally:
        app.store.engine.dispose()
