"""The harnesses without atheris: replay the corpus, then mutate it with Hypothesis.

Not coverage-guided, so far weaker than libFuzzer; it keeps the harnesses, the CI run and the
crash files working on machines atheris has no wheel for. It understands the libFuzzer options
the CI run uses: ``-max_total_time``, ``-runs``/``-atheris_runs`` and ``-artifact_prefix``.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

BATCH = 50


def run(check: Callable[[bytes], None], options: Sequence[str], dirs: Sequence[str]) -> int:
    values = dict(o.lstrip("-").split("=", 1) for o in options if "=" in o)
    deadline = time.monotonic() + float(values.get("max_total_time", "60"))
    runs = int(values.get("atheris_runs", values.get("runs", "-1")))
    prefix = values.get("artifact_prefix", "./")
    files = [p for d in dirs if Path(d).is_dir() for p in sorted(Path(d).iterdir()) if p.is_file()]
    seeds = [p.read_bytes() for p in files]
    done = 0
    for seed in seeds:
        if not _one(check, seed, prefix):
            return 1
        done += 1
    strategy = st.binary(max_size=4096) | (st.sampled_from(seeds).flatmap(_mutated) if seeds else st.binary())
    failed: list[bytes] = []

    @settings(
        max_examples=BATCH,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def batch(data: bytes) -> None:
        if not failed and not _one(check, data, prefix):
            failed.append(data)

    while time.monotonic() < deadline and (runs < 0 or done < runs) and not failed:
        batch()
        done += BATCH
    print(f"Done {done} runs (corpus replay and Hypothesis mutations, no atheris)")
    return 1 if failed else 0


def _one(check: Callable[[bytes], None], data: bytes, prefix: str) -> bool:
    try:
        check(data)
    except Exception:
        path = Path(f"{prefix}crash-{hashlib.sha1(data).hexdigest()}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        traceback.print_exc()
        print(f"==ERROR: uncaught Python exception; Test unit written to {path}")
        return False
    return True


@st.composite
def _mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(("set", "insert", "delete", "truncate", "repeat")))
        if edit == "set" and at < len(data):
            data[at] = draw(st.sampled_from((0, 1, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255)))))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif edit == "truncate":
            del data[at:]
        elif edit == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(1, 16))
    return bytes(data)
