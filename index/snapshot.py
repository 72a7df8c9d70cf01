"""Index snapshots: raw arrays in one data file plus a versioned JSON sidecar. No pickle.

Layout, for a snapshot saved at ``pdq.snapshot``::

    pdq.snapshot                      the sidecar (JSON): format version, bits, count, checksum, ...
    pdq.snapshot.<checksum:16>.data   every array's raw bytes, each at a 64-byte aligned offset

The sidecar is the commit point. A save writes and fsyncs a new data file under a name no reader
uses yet, then writes the sidecar to a temporary file, fsyncs it and renames it over the old one,
then fsyncs the directory: a reader sees the old snapshot or the new one, never a mix. The data
file of the previous snapshot is kept (a reader that has just read the old sidecar can still open
it); older ones are deleted.

A load checks the format version, the data file's size and its SHA-256 against the sidecar
before it trusts a byte of it, then memory-maps the arrays (read-only), so a replica is
answering within the time it takes to hash the file once, and pages are shared with the page
cache instead of copied. Anything wrong raises ``SnapshotError`` and the caller keeps the index
it has.
"""

from __future__ import annotations

import hashlib
import json
import mmap as mmap_module
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT = "hashwatch-index"
FORMAT_VERSION = 1
_ALIGN = 64
_CHUNK = 8 << 20


class SnapshotError(Exception):
    """A snapshot that cannot be used: missing, partial, corrupt, or of another format."""


@dataclass(frozen=True)
class ArraySpec:
    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int

    @property
    def nbytes(self) -> int:
        return int(np.dtype(self.dtype).itemsize * int(np.prod(self.shape, dtype=np.int64)))


def write(path: Path | str, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> dict[str, Any]:
    """Write ``arrays`` and a sidecar holding ``meta`` plus the layout; returns the sidecar."""
    path = Path(path)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    specs: list[ArraySpec] = []
    offset = 0
    for name, array in arrays.items():
        offset = -(-offset // _ALIGN) * _ALIGN
        spec = ArraySpec(name, np.dtype(array.dtype).str, tuple(int(x) for x in array.shape), offset)
        specs.append(spec)
        offset += spec.nbytes
    size = offset
    tmp_data = directory / f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    digest = hashlib.sha256()
    try:
        with open(tmp_data, "wb") as f:
            written = 0
            for spec in specs:
                pad = spec.offset - written
                if pad:
                    f.write(b"\0" * pad)
                    digest.update(b"\0" * pad)
                buffer = memoryview(np.ascontiguousarray(arrays[spec.name]).reshape(-1).view(np.uint8).data)
                for start in range(0, len(buffer), _CHUNK):
                    chunk = buffer[start : start + _CHUNK]
                    f.write(chunk)
                    digest.update(chunk)
                written = spec.offset + spec.nbytes
            f.flush()
            os.fsync(f.fileno())
        checksum = digest.hexdigest()
        data_name = f"{path.name}.{checksum[:16]}.data"
        os.replace(tmp_data, directory / data_name)
    except BaseException:
        tmp_data.unlink(missing_ok=True)
        raise
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **meta,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data_file": data_name,
        "data_size": size,
        "checksum": f"sha256:{checksum}",
        "arrays": [
            {"name": s.name, "dtype": s.dtype, "shape": list(s.shape), "offset": s.offset} for s in specs
        ],
    }
    previous = _data_file_of(path)
    tmp_sidecar = directory / f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.json.tmp"
    try:
        with open(tmp_sidecar, "w", encoding="utf-8") as f:
            json.dump(sidecar, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_sidecar, path)
    except BaseException:
        tmp_sidecar.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    _remove_stale(path, keep={data_name, previous})
    return sidecar


def read_sidecar(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc}") from exc
    try:
        sidecar = json.loads(text)
    except ValueError as exc:
        raise SnapshotError(f"snapshot sidecar {path} is not valid JSON: {exc}") from exc
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise SnapshotError(f"{path} is not a hashwatch index snapshot")
    if sidecar.get("format_version") != FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot {path} has format version {sidecar.get('format_version')!r}; "
            f"this build reads version {FORMAT_VERSION}"
        )
    return sidecar


def read(
    path: Path | str, *, verify: bool = True, mmap: bool = True
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """The sidecar and the arrays of a snapshot, checked against the sidecar.

    ``verify=False`` skips the checksum (the size and layout are still checked); ``mmap=False``
    reads the arrays into private memory instead of mapping the file."""
    path = Path(path)
    sidecar = read_sidecar(path)
    try:
        data = path.parent / str(sidecar["data_file"])
        size = int(sidecar["data_size"])
        algo, _, expected = str(sidecar["checksum"]).partition(":")
        specs = [
            ArraySpec(str(a["name"]), str(a["dtype"]), tuple(int(x) for x in a["shape"]), int(a["offset"]))
            for a in sidecar["arrays"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"snapshot sidecar {path} is missing or has a bad field: {exc}") from exc
    if algo != "sha256":
        raise SnapshotError(f"snapshot {path}: unknown checksum algorithm {algo!r}")
    try:
        actual_size = data.stat().st_size
    except OSError as exc:
        raise SnapshotError(f"snapshot data {data} is missing: {exc}") from exc
    if actual_size != size:
        raise SnapshotError(f"snapshot data {data} has {actual_size} bytes, the sidecar says {size}")
    for spec in specs:
        if spec.offset < 0 or spec.offset + spec.nbytes > size:
            raise SnapshotError(f"snapshot {path}: array {spec.name} lies outside the data file")
    if verify:
        digest = hashlib.sha256()
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        with open(data, "rb") as f:
            while n := f.readinto(buffer):
                digest.update(view[:n])
        if digest.hexdigest() != expected:
            raise SnapshotError(f"snapshot data {data} does not match its checksum (corrupt or partial)")
    source: Any
    if size == 0:
        source = b""
    elif mmap:
        with open(data, "rb") as f:
            # The mapping outlives the file descriptor; the arrays below keep it alive.
            source = mmap_module.mmap(f.fileno(), 0, access=mmap_module.ACCESS_READ)
    else:
        source = data.read_bytes()
    arrays: dict[str, npt.NDArray[Any]] = {}
    for spec in specs:
        count = spec.nbytes // np.dtype(spec.dtype).itemsize
        flat = np.frombuffer(source, dtype=spec.dtype, count=count, offset=spec.offset if count else 0)
        arrays[spec.name] = flat.reshape(spec.shape)
    return sidecar, arrays


def _data_file_of(path: Path) -> str | None:
    try:
        return str(read_sidecar(path)["data_file"])
    except (SnapshotError, KeyError):
        return None


def _remove_stale(path: Path, keep: set[str | None]) -> None:
    prefix = f"{path.name}."
    for candidate in path.parent.iterdir():
        name = candidate.name
        if name.startswith(prefix) and name.endswith(".data") and name not in keep:
            candidate.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
