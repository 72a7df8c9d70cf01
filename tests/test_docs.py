"""The docs follow the tree: every path, module and link README.md and docs/*.md name exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# A path in the repository: one of its top-level directories, not inside another path
# (``var/fuzz/...`` is a runtime directory, not ``fuzz/``) nor in an earlier commit's tree
# (``f0e834f^:scanner/server.py``, as git spells it).
_PATH = re.compile(
    r"(?<![\w/.~$:-])((?:scanner|reporting|index|tests|docs|bench|proto|fuzz|demo)/[\w./*<>-]*)"
)
# A module or one of its names, written as the first thing in a code span.
_MODULE = re.compile(r"`((?:scanner|reporting|index)(?:\.\w+)+)")
# A file named alone in a code span.
_FILE = re.compile(r"`(\w+\.(?:py|proto|md|html|css))`")
_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")

# Code spans that look like a module but are not one.
NOT_MODULES = {"index.save": "a method of an index object (docs/index.md, Snapshots)"}


def _mentions(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return sorted(
        {
            (doc.relative_to(ROOT).as_posix(), m.group(1))
            for doc in DOCS
            for m in pattern.finditer(doc.read_text())
        }
    )


def _exists(path: str) -> bool:
    path = path.rstrip(".,:;")
    # A placeholder (``<harness>``, ``test_<kind>.py``) stands for any name: the directory it
    # would be in must exist.
    if "<" in path:
        path = path.split("<", 1)[0].rsplit("/", 1)[0] + "/"
    if "*" in path:
        return any(ROOT.glob(path))
    return (ROOT / path).exists()


@pytest.mark.parametrize(("doc", "path"), _mentions(_PATH))
def test_every_path_named_exists(doc: str, path: str) -> None:
    assert _exists(path), f"{doc} names {path}, which is not in the tree"


@pytest.mark.parametrize(("doc", "name"), _mentions(_MODULE))
def test_every_module_named_imports(doc: str, name: str) -> None:
    name = name.rstrip(".")
    if name in NOT_MODULES:
        return
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        if (ROOT / Path(*parts[:cut])).with_suffix(".py").exists() or (ROOT / Path(*parts[:cut])).is_dir():
            break
    value: object = importlib.import_module(module_name)
    for attribute in parts[cut:]:
        assert hasattr(value, attribute), f"{doc} names {name}: {module_name} has no {attribute}"
        value = getattr(value, attribute)


def test_every_file_named_alone_exists_somewhere() -> None:
    tracked = {
        p.name
        for top in ("scanner", "reporting", "index", "tests", "docs", "bench", "proto", "fuzz")
        for p in (ROOT / top).rglob("*")
    }
    tracked |= {p.name for p in ROOT.iterdir()}
    missing = [(doc, name) for doc, name in _mentions(_FILE) if name not in tracked]
    assert missing == []


def test_every_relative_link_resolves() -> None:
    broken = [
        (doc.relative_to(ROOT).as_posix(), target)
        for doc in DOCS
        for target in (m.group(1) for m in _LINK.finditer(doc.read_text()))
        if "://" not in target and not target.startswith("mailto:") and not (doc.parent / target).exists()
    ]
    assert broken == []


def test_the_checks_find_what_they_look_for() -> None:
    # The patterns do see the docs' paths, modules and links (a pattern that matched nothing
    # would pass every check above).
    paths = {path for _, path in _mentions(_PATH)}
    assert {"scanner/decision.py", "bench/RESULTS.md", "docs/architecture.md"} <= paths
    assert ("docs/index.md", "index.synthetic.brute_force") in _mentions(_MODULE)
    assert not _exists("scanner/server.py") and not _exists("reporting/actions.py")
