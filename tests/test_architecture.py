"""The layering DESIGN.md promises: a pure core, I/O at the edges."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _sources(package: str) -> list[Path]:
    return [p for p in (ROOT / package).rglob("*.py") if "api/hashwatch" not in p.as_posix()]


def test_scanner_and_index_never_import_sqlalchemy() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for pkg in ("scanner", "index")
        for p in _sources(pkg)
        if "sqlalchemy" in _imports(p)
    ]
    assert offenders == []


def test_index_never_imports_grpc_or_the_scanner() -> None:
    offenders = [
        str(p.relative_to(ROOT)) for p in _sources("index") if _imports(p) & {"grpc", "scanner", "reporting"}
    ]
    assert offenders == []


def test_the_scan_path_loads_without_the_database_layer() -> None:
    code = (
        "import sys, scanner.rpc.server, scanner.engine, scanner.pipeline, index.matcher;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'reporting', 'alembic')))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert output.stdout.strip() == "[]"


def test_reporting_never_imports_grpc() -> None:
    # Directly, by its own imports (the generated messages in scanner/api import grpc only in
    # their *_grpc modules, and protobuf alone is not gRPC)...
    offenders = [str(p.relative_to(ROOT)) for p in _sources("reporting") if "grpc" in _imports(p)]
    assert offenders == []
    # ...and through anything it imports: every user of the store (the CLI, rescans, the
    # outbox worker) loads without the gRPC runtime.
    modules = sorted(
        p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        for p in _sources("reporting")
        if "migrations" not in p.parts
    )
    code = (
        f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'grpc_status', 'grpc_health')))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert output.stdout.strip() == "[]"


def test_no_hand_written_module_is_over_600_lines() -> None:
    # STYLE.md: small files. Over ~400 lines a module says why at its top; none goes past 600.
    # The generated gRPC code (scanner/api/hashwatch) is left out by ``_sources``.
    long = {
        str(p.relative_to(ROOT)): lines
        for pkg in ("scanner", "index", "reporting")
        for p in _sources(pkg)
        if (lines := len(p.read_text().splitlines())) > 600
    }
    assert long == {}


def test_every_test_module_holds_tests() -> None:
    # Helpers the tests share are named for what they hold, never ``test_*``: pytest would
    # collect them, and a reader would look there for tests.
    empty = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("test_*.py")
        if not any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
            for node in ast.walk(ast.parse(p.read_text(), filename=str(p)))
        )
    ]
    assert empty == []
