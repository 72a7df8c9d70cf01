"""The layering DESIGN.md promises: a pure core, I/O at the edges."""

from __future__ import annotations

import ast
import graphlib
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from scanner.rpc.interceptors.auth import METHOD_SCOPES, required_scopes

ROOT = Path(__file__).resolve().parents[1]


def _full_imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (in a function, under TYPE_CHECKING), and
    every name imported from one as ``module.name`` (which may be a submodule)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _imports(path: Path) -> set[str]:
    """The top-level packages a file imports."""
    return {name.split(".")[0] for name in _full_imports(path)}


def _sources(package: str) -> list[Path]:
    return [p for p in (ROOT / package).rglob("*.py") if "api/hashwatch" not in p.as_posix()]


def _modules(*packages: str) -> list[str]:
    """The importable modules of ``packages`` (not the migrations, which Alembic runs, nor an
    entry point, which runs when imported)."""
    return sorted(
        p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        for pkg in packages
        for p in _sources(pkg)
        if "migrations" not in p.parts and p.name != "__main__.py"
    )


def _loaded(modules: list[str], watched: tuple[str, ...], blocked: tuple[str, ...] = ()) -> list[str]:
    """In a fresh interpreter, import ``modules`` (with the top-level packages ``blocked``
    impossible to import) and return the loaded modules of the ``watched`` packages."""
    code = (
        "import importlib, importlib.abc, sys\n"
        "class Blocked(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {blocked!r}:\n"
        "            raise ImportError(name + ' is not a run-time dependency')\n"
        "sys.meta_path.insert(0, Blocked())\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in {watched!r})))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert output.returncode == 0, output.stderr[-2000:]
    return output.stdout.split()


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
    scan_path = ["scanner.rpc.server", "scanner.engine", "scanner.pipeline", "index.matcher"]
    assert _loaded(scan_path, ("sqlalchemy", "reporting", "alembic")) == []


def test_reporting_never_imports_grpc() -> None:
    # Directly, by its own imports (the generated messages in scanner/api import grpc only in
    # their *_grpc modules, and protobuf alone is not gRPC)...
    offenders = [str(p.relative_to(ROOT)) for p in _sources("reporting") if "grpc" in _imports(p)]
    assert offenders == []
    # ...and through anything it imports: every user of the store (the CLI, rescans, the
    # outbox worker) loads without the gRPC runtime.
    assert _loaded(_modules("reporting"), ("grpc", "grpc_status", "grpc_health")) == []


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
    assert _loaded(_modules("scanner", "index", "reporting"), ("faiss",), blocked=("faiss",)) == []


# Subpackages without a test directory of their own, and where their tests are.
TESTED_ELSEWHERE = {
    "scanner/api": "generated code; tests/scanner/rpc/test_generated.py fails when it is stale",
    "reporting/http": "through every HTTP delivery (tests/reporting/destinations/, tests/scanner/rescan/)",
    "reporting/models": "the schema against the migrations in tests/reporting/test_store.py",
    "reporting/migrations": "run on SQLite and PostgreSQL by every database fixture (tests/conftest.py)",
    "reporting/testing": "the fakes every delivery and report test runs against",
}


def _subpackages(top: str) -> set[str]:
    return {
        d.relative_to(ROOT).as_posix() for d in (ROOT / top).iterdir() if d.is_dir() and any(d.rglob("*.py"))
    }


def test_tests_mirror_the_packages() -> None:
    sources = _subpackages("scanner") | _subpackages("reporting")
    tests = {
        p.parent.relative_to(ROOT / "tests").as_posix()
        for top in ("scanner", "reporting")
        for p in (ROOT / "tests" / top).glob("*/__init__.py")
    }
    # Every subpackage has its tests in the same place under tests/...
    assert sorted(sources - tests - set(TESTED_ELSEWHERE)) == []
    # ...and every test directory mirrors a package that exists.
    assert sorted(tests - sources) == []
    assert set(TESTED_ELSEWHERE) <= sources
    # At the top, too: tests/<dir> for each top-level directory it tests.
    top_level = {p.parent.name for p in (ROOT / "tests").glob("*/__init__.py")}
    assert sorted(name for name in top_level if not (ROOT / name).is_dir()) == []


def test_only_modules_with_tests_are_named_test() -> None:
    # pytest collects every test_*.py: a helper module named so is collected for nothing, and a
    # reader looks in it for tests. Helpers take a name that says what they hold.
    def has_tests(path: Path) -> bool:
        tree = ast.parse(path.read_text(), filename=str(path))
        return any(
            (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"))
            or (isinstance(node, ast.ClassDef) and node.name.startswith("Test"))
            for node in tree.body
        )

    assert (
        sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py") if not has_tests(p))
        == []
    )
    # Every directory of test code is a package, so modules of the same name in two places
    # (tests/scanner/test_shutdown.py, tests/scanner/analytics/test_shutdown_flush.py) never clash.
    assert (
        sorted(
            str(d.relative_to(ROOT))
            for d in {p.parent for p in (ROOT / "tests").rglob("*.py")}
            if not (d / "__init__.py").exists()
        )
        == []
    )


def test_every_rpc_of_the_api_has_a_scope() -> None:
    # A method in no table is denied to everyone (scanner/rpc/interceptors/auth.py), so an RPC
    # added without its scope would answer PERMISSION_DENIED to every caller; and a table entry
    # naming no method is left over from a rename.
    methods = set()
    for path in sorted((ROOT / "scanner" / "api" / "hashwatch" / "v1").glob("*_pb2.py")):
        module = importlib.import_module(f"scanner.api.hashwatch.v1.{path.stem}")
        for service in module.DESCRIPTOR.services_by_name.values():
            methods |= {f"/{service.full_name}/{method.name}" for method in service.methods}
    assert sorted(m for m in methods if required_scopes(m) is None) == []
    assert sorted(set(METHOD_SCOPES) - methods) == []


def test_reporting_aggregates_depend_on_each_other_without_cycles() -> None:
    # One subpackage per aggregate works only if they can be read in some order: matches may use
    # lists, destinations may use matches, but never both ways round (type-only imports count).
    aggregates = {d.split("/")[1] for d in _subpackages("reporting")}
    graph: dict[str, set[str]] = {name: set() for name in aggregates}
    for name in aggregates:
        for path in (ROOT / "reporting" / name).rglob("*.py"):
            for imported in _full_imports(path):
                parts = imported.split(".")
                if parts[0] == "reporting" and len(parts) > 1 and parts[1] in aggregates - {name}:
                    graph[name].add(parts[1])
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"reporting's subpackages import each other in a cycle: {exc.args[1]}") from None
    assert set(order) == aggregates


def test_the_scan_core_imports_no_edge() -> None:
    # scanner/'s own modules are the pure core; only the composition root (app.py builds,
    # process.py runs and drains, store_ports.py implements the core's ports over the database)
    # and the entry point (__main__.py) put it together with storage and the transports.
    edges = ("reporting", "scanner.rpc", "scanner.cli", "scanner.web", "scanner.rescan")
    offenders = sorted(
        f"{p.relative_to(ROOT)}: {name}"
        for p in (ROOT / "scanner").glob("*.py")
        if p.name not in ("app.py", "process.py", "store_ports.py", "__main__.py")
        for name in _full_imports(p)
        if any(name == edge or name.startswith(edge + ".") for edge in edges)
    )
    assert offenders == []


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
