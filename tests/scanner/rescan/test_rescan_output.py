"""What an operator sees: progress on stderr (a bar on a terminal, lines otherwise), the summary."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from scanner.cli.main import app
from scanner.cli.rescan_cmd import parse_since
from scanner.rescan.progress import Bar, Lines, reporter_for
from scanner.rescan.sources import Item
from scanner.rescan.summary import Summary
from scanner.rescan.work import ItemResult
from tests.conftest import DEMO_LIST


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal_and_a_bar_on_one() -> None:
    assert isinstance(reporter_for(io.StringIO()), Lines)
    assert isinstance(reporter_for(_Terminal()), Bar)
    stream = io.StringIO()
    lines = Lines(stream, every_seconds=0)
    lines.start(10, 4)
    for done in range(5, 11):
        lines.update(done, matches=done // 3)
    lines.stop()
    output = stream.getvalue().splitlines()
    assert output[0] == "rescan: resuming at 4/10"
    assert output[-1].startswith("rescan: 10/10 (100%) ") and output[-1].endswith("matches 3")
    bar = Bar(_Terminal())
    bar.start(3, 0)
    bar.update(3, 1)
    bar.stop()


def test_the_bar_passes_on_updates_at_most_every_interval_and_the_last_at_the_end() -> None:
    bar = Bar(_Terminal(), every_seconds=3600)
    bar.start(10, 0)
    try:
        bar.update(1, 0)
        (task,) = bar.progress.tasks
        assert (task.completed, task.fields["matches"]) == (1, 0), "the first update is shown"
        for done in range(2, 11):
            bar.update(done, done // 4)
        assert task.completed == 1, "updates within the interval wait"
    finally:
        bar.stop()
    assert (task.completed, task.fields["matches"]) == (10, 2)


def test_the_summary_counts_skips_by_reason_and_survives_a_checkpoint() -> None:
    summary = Summary("directory d", "local", files=4)
    item = Item(0, "/d/a.jpg", "c", "file:///d/a.jpg")
    for outcome in ("scanned", "low_quality", "unreadable", "internal_error"):
        summary.count(ItemResult(item, outcome, reason="why"))
    assert (summary.scanned, summary.skipped, summary.errors) == (2, {"unreadable": 1}, 1)
    restored = Summary("directory d", "local", files=4)
    restored.restore(json.loads(json.dumps(summary.counters())))
    assert restored.counters() == summary.counters()
    assert json.loads(summary.to_json())["skipped"] == {"unreadable": 1}
    assert "skipped          1 (unreadable 1)" in summary.to_text()


def test_since_takes_an_iso_time_or_an_age() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2026-11-20T00:00:00", now) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_since("2026-11-20T01:00:00+01:00", now) == datetime(2026, 11, 20, tzinfo=UTC)
    with pytest.raises(typer.BadParameter):
        parse_since("last tuesday", now)


def test_the_command_takes_a_manifest_or_the_hash_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command points structlog at the stderr it runs with: CliRunner's, closed afterwards.
    monkeypatch.setattr("scanner.logs.configure", lambda *args, **kwargs: None)
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "var"), "--json", "-q"]
    assert runner.invoke(app, ["rescan", *data]).exit_code == 2
    assert runner.invoke(app, ["rescan", str(tmp_path), "--stored", *data]).exit_code == 2
    assert runner.invoke(app, ["rescan", str(tmp_path / "nowhere"), *data]).exit_code == 2
    one = sorted(DEMO_LIST.iterdir())[0]
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"path": str(one), "customer": "c", "url": "https://c/1"}) + "\n"
    )
    result = runner.invoke(app, ["rescan", str(tmp_path / "m.jsonl"), "--jobs", "1", *data])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["files"], summary["scanned"], summary["matched"]) == (1, 1, 0), "no lists yet"
    result = runner.invoke(app, ["rescan", "--stored", "--since", "1d", *data])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["engine"] == "stored"
