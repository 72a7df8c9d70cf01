"""The layering DESIGN.md promises: a pure core, I/O at the edges."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

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


# Run-time dependencies that no module of the service imports by name, and what loads them.
LOADED_BY_OTHERS = {
    "psycopg": "SQLAlchemy's PostgreSQL driver, chosen by a postgresql:// database URL",
    "python-multipart": "Starlette's form parser (the review page's forms)",
}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_runtime_dependency_is_used_at_run_time() -> None:
    """A package in ``dependencies`` is installed on every server: each one is imported by the
    service's own code or named above with what loads it. (FAISS, which nothing at run time
    imports, is the tests' oracle and the benchmarks' baseline: a dev/bench extra.)"""
    declared = {
        _normalised(Requirement(spec).name)
        for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    owners = importlib.metadata.packages_distributions()
    imported = {
        _normalised(dist)
        for pkg in ("scanner", "index", "reporting")
        for p in (ROOT / pkg).rglob("*.py")
        for name in _imports(p)
        for dist in owners.get(name, ())
    }
    assert sorted(declared - imported - set(LOADED_BY_OTHERS)) == []
    assert set(LOADED_BY_OTHERS) <= declared


def test_nothing_at_run_time_imports_faiss() -> None:
    # By name anywhere in a module (a function-level import included)...
    offenders = [
        str(p.relative_to(ROOT))
        for pkg in ("scanner", "index", "reporting")
        for p in _sources(pkg)
        if "faiss" in _imports(p)
    ]
    assert offenders == []
    # ...and through anything they import: every module of the service loads with FAISS
    # impossible to import.
    modules = sorted(
        p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        for pkg in ("scanner", "index", "reporting")
        for p in _sources(pkg)
        if "migrations" not in p.parts and p.name != "__main__.py"
    )
    code = (
        "import importlib, importlib.abc, sys\n"
        "class NoFaiss(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'faiss':\n"
        "            raise ImportError('faiss is not a run-time dependency')\n"
        "        return None\n"
        "sys.meta_path.insert(0, NoFaiss())\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'faiss'))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert output.returncode == 0, output.stderr[-2000:]
    assert output.stdout.strip() == "[]"
