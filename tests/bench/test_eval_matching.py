"""Smoke test of the matching-quality harness: one image, three families, tables come out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_harness_runs_and_reports(tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(ROOT / "bench" / "eval_matching.py"),
        "--images",
        "skimage_chelsea.png",
        "--families",
        "reencode",
        "pad",
        "dihedral",
        "--no-negatives",
        "--shared",
        str(tmp_path / "absent"),
        "--markdown",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT, timeout=100)
    out = result.stdout
    assert "### Recall" in out
    assert "| dihedral | 7 |" in out
    assert "no shared data" in out
    # The rows are computed, not written down: lossless rotations match through the pixel-domain
    # variants, and every plain PDQ misses them.
    dihedral = next(line for line in out.splitlines() if line.startswith("| dihedral | 7 |"))
    cells = [c.strip() for c in dihedral.strip("|").split("|")]
    assert cells[2] == "0.0"  # PDQ
    assert cells[8] == "100.0"  # PDQ dih pixel
    assert cells[13] == "100.0"  # service: the engine's own matching step
    pad = next(line for line in out.splitlines() if line.startswith("| pad | 9 |"))
    assert [c.strip() for c in pad.strip("|").split("|")][13] == "100.0"
    assert "### Against the issue's targets" in out
    assert "| rotations and flips (lossless and JPEG) | 7 | 100.0 | 0.0 |" in out
