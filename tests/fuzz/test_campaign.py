"""A bounded libFuzzer campaign per harness, in a subprocess: atheris instruments the code it
imports (and the interpreter's warnings filters differ from this suite's ``error``), and a crash
ends the process. A failure names the saved input; docs/fuzzing.md says how to keep it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuzz.__main__ import HARNESSES

ROOT = Path(__file__).resolve().parents[2]
# Split evenly across the harnesses; CI keeps the default, a local run may set more (or less).
BUDGET_ENV = "HASHWATCH_FUZZ_SECONDS"
BUDGET_SECONDS = float(os.environ.get(BUDGET_ENV, "60"))
# Crashing inputs land here (not in the test's tmp dir) so they outlive the run.
ARTIFACTS = ROOT / "var" / "fuzz" / "artifacts"
# Start-up (imports under instrumentation, the first match's JIT) and the per-input timeout.
SLACK_SECONDS = 240


@pytest.mark.fuzz
@pytest.mark.timeout(BUDGET_SECONDS / len(HARNESSES) + SLACK_SECONDS + 30)
@pytest.mark.parametrize("harness", HARNESSES)
def test_bounded_campaign(harness: str, tmp_path: Path) -> None:
    seconds = max(1, int(BUDGET_SECONDS / len(HARNESSES)))
    prefix = ARTIFACTS / harness
    prefix.mkdir(parents=True, exist_ok=True)
    started = time.time()
    command = [
        sys.executable,
        "-m",
        "fuzz",
        harness,
        f"-max_total_time={seconds}",
        f"-artifact_prefix={prefix}/",
        "-print_final_stats=1",
        str(tmp_path),  # new inputs go here, not into the committed corpus
        str(ROOT / "fuzz" / "corpus" / harness),
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + SLACK_SECONDS
    )
    output = done.stdout + done.stderr
    # libFuzzer also saves slow-unit-* files there: slow is not a failure (the harness bounds time).
    saved = [
        p
        for p in prefix.iterdir()
        if p.name.startswith(("crash-", "timeout-", "oom-", "leak-")) and p.stat().st_mtime >= started - 1
    ]
    if done.returncode != 0 or saved:
        named = re.findall(r"Test unit written to (\S+)", output)
        pytest.fail(
            f"{harness}: exit {done.returncode}; crashing input: {', '.join(named or map(str, saved))}\n"
            f"replay: .venv/bin/python -m fuzz {harness} <that file>\n{output[-4000:]}"
        )
    runs = re.search(r"Done (\d+) runs", output)
    seeds = sum(1 for p in (ROOT / "fuzz" / "corpus" / harness).iterdir() if p.is_file())
    assert runs and int(runs.group(1)) >= seeds, output[-2000:]
