"""Smoke test of the load benchmark: a real ``hashwatch serve`` and naive server, a short quick
run, and the tables and figures the summary promises."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_reports_every_table_and_ratio(tmp_path: Path) -> None:
    figures = tmp_path / "load.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "bench_load.py"),
        "--quick",
        "--sizes",
        "1",
        "--concurrency",
        "1",
        "4",
        "--seconds",
        "0.2",
        "--overload-seconds",
        "0.5",
        # The hashing pool's settings pass through; a server without the pool ignores them.
        "--hash-workers",
        "2",
        "--queue-size",
        "32",
        "--json",
        str(figures),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=100)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for heading in ("## Ceiling", "## End to end", "## Naive server", "## Overload", "## Summary"):
        assert heading in out
    assert "HASHWATCH_HASH_WORKERS" in out and "HASHWATCH_QUEUE_SIZE" in out
    summary_line = next(line for line in out.splitlines() if line.startswith("SUMMARY "))
    summary = json.loads(summary_line.removeprefix("SUMMARY "))
    data = json.loads(figures.read_text())
    assert data["summary"] == summary
    assert summary["cpus"] >= 1 and len(summary["load_average_start"]) == 3
    for key in ("service_1mp_scans_per_second", "ceiling_1mp_scans_per_second", "naive_1mp_scans_per_second"):
        assert summary[key] > 0, key
    ratio = summary["service_1mp_scans_per_second"] / summary["ceiling_1mp_scans_per_second"]
    assert math.isclose(summary["service_over_ceiling"], ratio, rel_tol=0.01)
    bound = summary["ceiling_1mp_scans_per_second"] / summary["naive_1mp_scans_per_second"]
    assert math.isclose(summary["ceiling_over_naive"], bound, rel_tol=0.01)
    # Both client kinds at both concurrencies, each with latencies that make sense.
    cells = {(row["kind"], row["in_flight"]) for row in data["service"]}
    assert cells == {("unary", 1), ("unary", 4), ("stream", 1), ("stream", 4)}
    for row in data["service"] + data["naive"]:
        assert row["scans_per_second"] > 0
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    overload = data["overload"]
    assert overload["offered_per_second"] == 2 * overload["sustainable_per_second"]
    assert overload["sent"] >= overload["admitted"] > 0
    assert 0 <= overload["rejected_fraction"] <= 1
