"""``python -m fuzz <harness> [libFuzzer options] [corpus dirs]``.

With atheris installed this is a libFuzzer campaign over the instrumented project code (and
Pillow's Python plugins); options are libFuzzer's (``-max_total_time=600``, ``-atheris_runs=N``,
``-artifact_prefix=dir/``, ``-jobs=N``...). Without corpus dirs it grows ``var/fuzz/<harness>``
from the committed seeds in ``fuzz/corpus/<harness>``. Without atheris (it ships wheels for
Linux x86_64 only) the same command replays the corpus and then mutates it with Hypothesis
until the time is up (see ``fuzz.fallback``).

Nothing may import the project's code before this does: atheris instruments only modules
imported inside ``instrument_imports``.
"""

from __future__ import annotations

import importlib
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESSES = ("hash_content", "scan_request")
INSTRUMENTED = ["fuzz", "scanner", "index", "PIL"]
# numba compiles these from their bytecode, which cannot hold atheris's coverage callbacks.
NOT_INSTRUMENTED = ["index._kernels"]
# A per-input hang is reported (as timeout-<sha1>) rather than waited out; an input may use
# this much memory (the decode limits allow 64 M pixel frames in exact mode).
DEFAULT_OPTIONS = ("-timeout=60", "-rss_limit_mb=4096")


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in HARNESSES:
        print(f"usage: python -m fuzz {{{','.join(HARNESSES)}}} [libFuzzer options] [corpus dirs]")
        return 2
    name, rest = argv[1], argv[2:]
    options = [a for a in rest if a.startswith("-")]
    options += [d for d in DEFAULT_OPTIONS if not any(a.startswith(d.split("=")[0] + "=") for a in rest)]
    dirs = [a for a in rest if not a.startswith("-")]
    if not dirs:
        work = ROOT / "var" / "fuzz" / name
        work.mkdir(parents=True, exist_ok=True)
        dirs = [str(work), str(ROOT / "fuzz" / "corpus" / name)]
    try:
        import atheris  # optional: wheels for Linux x86_64 only
    except ImportError:
        from fuzz import fallback

        return fallback.run(importlib.import_module(f"fuzz.{name}").check, options, dirs)
    with atheris.instrument_imports(include=INSTRUMENTED, exclude=NOT_INSTRUMENTED):
        harness = importlib.import_module(f"fuzz.{name}")
    atheris.Setup([str(_launcher(name)), *options, *dirs], harness.check)
    atheris.Fuzz()
    return 0


def _launcher(name: str) -> Path:
    """An executable that starts this harness again: libFuzzer runs ``argv[0]`` with its own
    options for -merge, -jobs and -fork, and ``python -m`` has no such file."""
    path = ROOT / "var" / "fuzz" / f"run-{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    python, root = shlex.quote(sys.executable), shlex.quote(str(ROOT))
    path.write_text(f'#!/bin/sh\nPYTHONPATH={root} exec {python} -m fuzz {name} "$@"\n')
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    sys.exit(main(sys.argv))
