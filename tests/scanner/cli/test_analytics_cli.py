"""``hashwatch analytics show`` and ``export``: from the database directly, and from a server."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reporting.analytics import DailyCountStore
from reporting.store import Store
from scanner.analytics import cursor
from scanner.analytics.ports import CountDelta
from scanner.cli.main import app

runner = CliRunner()
DAY = date(2026, 11, 25)
CUSTOMERS = [f"c{i:02d}" for i in range(30)]


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def seeded(store: Store, database_url: str, tmp_path: Path) -> list[str]:
    """Counts for 30 customers on DAY and one on the day after; the database options to pass."""
    counts = DailyCountStore(store.engine)
    deltas = []
    for i, customer in enumerate(CUSTOMERS):
        deltas += [
            CountDelta(DAY, customer, "scans:scanned:allow", 10 + i),
            CountDelta(DAY, customer, "scans:corrupt:allow", i % 3),
            CountDelta(DAY, customer, "scans:scanned:block", i % 2),
            CountDelta(DAY, customer, "matches", i % 2),
        ]
    deltas.append(CountDelta(DAY + timedelta(1), "c00", "notifications_sent", 4))
    counts.add_counts([d for d in deltas if d.n])
    return ["--database-url", database_url, "--data-dir", str(tmp_path / "var")]


def test_show_prints_a_customers_days(seeded: list[str]) -> None:
    code, out, _ = invoke(
        "analytics",
        "show",
        "--customer",
        "c00",
        "--from",
        DAY.isoformat(),
        "--to",
        "2026-11-30",
        "--json",
        *seeded,
    )
    assert code == 0
    days = [json.loads(line) for line in out.splitlines()]
    assert [(d["day"], d["scans"], d["notifications_sent"]) for d in days] == [
        ("2026-11-25", 10, 0),
        ("2026-11-26", 0, 4),
    ]
    assert days[0]["scans_by_outcome"] == {"scanned": 10}
    code, out, _ = invoke(
        "analytics", "show", "--customer", "c03", "--from", DAY.isoformat(), "--to", DAY.isoformat(), *seeded
    )
    assert code == 0
    assert "scans 14 (allowed 13, blocked 1; scanned=14)" in out


def test_export_writes_csv_and_jsonl_that_agree(seeded: list[str]) -> None:
    code, out, err = invoke("analytics", "export", "--from", DAY.isoformat(), "--format", "csv", *seeded)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["customer_id"] for r in rows] == CUSTOMERS
    for i, row in enumerate(rows):
        assert int(row["scans"]) == 10 + i + i % 3 + i % 2
        assert int(row["scans_corrupt"]) == i % 3
        assert int(row["scans_blocked"]) == i % 2 == int(row["matches"])
    assert "exported 30 rows" in err
    code, out, _ = invoke("analytics", "export", "--from", DAY.isoformat(), "--to", "2026-11-26", *seeded)
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["day"], r["customer_id"]) for r in lines] == [(DAY.isoformat(), c) for c in CUSTOMERS] + [
        ("2026-11-26", "c00")
    ]
    assert [r["scans"] for r in lines[:30]] == [int(r["scans"]) for r in rows]


def test_export_resumed_from_a_cursor_appends_the_rest(seeded: list[str], tmp_path: Path) -> None:
    whole, part = tmp_path / "whole.csv", tmp_path / "part.csv"
    args = ["analytics", "export", "--from", DAY.isoformat(), "--format", "csv", "--page-size", "2", *seeded]
    assert invoke(*args, "--output", str(whole))[0] == 0
    lines = whole.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:13]))  # the header and 12 rows: stopped after c11
    code, _, err = invoke(*args, "--output", str(part), "--cursor", cursor.encode(DAY, "c11"))
    assert code == 0, err
    assert part.read_text() == whole.read_text()


def test_a_failed_export_says_where_to_resume_and_bad_options_are_refused(seeded: list[str]) -> None:
    code, _, err = invoke("analytics", "export", "--from", DAY.isoformat(), "--output", "/dev/full", *seeded)
    assert code == 1
    assert "export stopped after 0 rows" in err
    code, _, err = invoke("analytics", "export", "--format", "xml", *seeded)
    assert code == 2 and "--format" in err
    code, _, err = invoke("analytics", "export", "--from", "yesterday", *seeded)
    assert code == 2 and "from_day" in err
    code, _, err = invoke("analytics", "export", "--from", DAY.isoformat(), "--cursor", "bogus", *seeded)
    assert code == 2 and "cursor" in err
