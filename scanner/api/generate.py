"""Regenerate the Python gRPC code in ``scanner/api/`` from ``proto/``.

Run ``python -m scanner.api.generate``. protoc writes imports relative to the proto root
(``from hashwatch.v1 import ...``); they are rewritten to live under ``scanner.api`` so the
generated package needs no ``sys.path`` tricks. The test suite regenerates into a temporary
directory and fails when the committed code is stale.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "scanner" / "api"
_IMPORT = re.compile(r"^from hashwatch\.(\S+) import", re.MULTILINE)


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Generate code for every .proto into ``out_dir``; return the files written."""
    from grpc_tools import protoc  # dev dependency: imported only when generating

    include = Path(protoc.__file__).parent / "_proto"
    bindir = Path(sys.executable).parent
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *(str(p.relative_to(PROTO_DIR)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    written = []
    for path in sorted((out_dir / "hashwatch").rglob("*.py*")):
        text = _IMPORT.sub(r"from scanner.api.hashwatch.\1 import", path.read_text())
        path.write_text(text)
        written.append(path)
    for package in {p.parent for p in written} | {out_dir / "hashwatch"}:
        (package / "__init__.py").touch()
    return written


def stale_files() -> list[str]:
    """Names of generated files that differ from what ``proto/`` produces now."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        names = {p.relative_to(fresh) for p in fresh.rglob("*.py*")}
        names |= {p.relative_to(OUT_DIR) for p in (OUT_DIR / "hashwatch").rglob("*.py*")}
        return sorted(
            str(n)
            for n in names
            if not (fresh / n).exists()
            or not (OUT_DIR / n).exists()
            or (fresh / n).read_bytes() != (OUT_DIR / n).read_bytes()
        )


if __name__ == "__main__":
    for path in generate(OUT_DIR):
        print(path.relative_to(ROOT))
    sys.exit(0)
