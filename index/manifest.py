"""A directory of index snapshots that a server starts from: one snapshot per (list, algorithm)
plus a manifest naming them, with each list's id, name, thresholds and the list version the
snapshots reflect. The server catches up from that version (``reporting.lists.changes``).

Layout of ``HASHWATCH_DATA_DIR/index/``::

    manifest.json                          the commit point (JSON, versioned, written atomically)
    list-<id>-v<version>-<algorithm>.snapshot   a ``HammingIndex.save`` snapshot (sidecar + data)

Snapshot names carry the list version, so a new build never overwrites a file that a manifest
still names: a server that read the old manifest opens the old files, one that read the new
manifest the new ones. The files of the previous manifest are kept; older ones are deleted.

Loading is per list: a snapshot that is missing, partial or corrupt (``SnapshotError``) leaves
that list out, and the caller loads it from the database; the others are served from snapshots.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.factory import load_index
from index.hamming import HammingIndex
from index.hashes import Algorithm
from index.matcher import ListConfig, Matcher
from index.snapshot import SnapshotError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "hashwatch-index-manifest"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class SnapshotList:
    config: ListConfig
    # Snapshot file name (relative to the directory) and entry count, per algorithm.
    files: dict[Algorithm, str] = field(default_factory=dict)
    counts: dict[Algorithm, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    created_at: float
    lists: tuple[SnapshotList, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_VERSION,
            "created_at": self.created_at,
            "lists": [
                {
                    "list_id": item.config.list_id,
                    "name": item.config.name,
                    "thresholds": {str(a): t for a, t in item.config.thresholds.items()},
                    "version": item.config.version,
                    "snapshots": {
                        str(a): {"file": name, "count": item.counts.get(a, 0)}
                        for a, name in item.files.items()
                    },
                }
                for item in self.lists
            ],
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Manifest:
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise SnapshotError(f"{where} is not a hashwatch index manifest")
        if data.get("format_version") != MANIFEST_VERSION:
            raise SnapshotError(
                f"{where} has format version {data.get('format_version')!r}; "
                f"this build reads version {MANIFEST_VERSION}"
            )
        try:
            lists = tuple(
                SnapshotList(
                    ListConfig(
                        int(item["list_id"]),
                        str(item["name"]),
                        {Algorithm(a): int(t) for a, t in item["thresholds"].items()},
                        int(item["version"]),
                    ),
                    {Algorithm(a): _plain_name(str(s["file"])) for a, s in item["snapshots"].items()},
                    {Algorithm(a): int(s["count"]) for a, s in item["snapshots"].items()},
                )
                for item in data["lists"]
            )
            return cls(float(data["created_at"]), lists)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SnapshotError(f"{where} is missing or has a bad field: {exc!r}") from exc


def _plain_name(name: str) -> str:
    # The manifest names files inside its own directory, nothing else.
    if Path(name).name != name or name.startswith("."):
        raise ValueError(f"snapshot file name {name!r} is not a plain file name")
    return name


def snapshot_name(config: ListConfig, algorithm: Algorithm) -> str:
    return f"list-{config.list_id}-v{config.version}-{algorithm}.snapshot"


def read_manifest(directory: Path) -> Manifest | None:
    """The manifest in ``directory``; None when there is none. Raises ``SnapshotError``."""
    path = directory / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SnapshotError(f"{path} is not valid JSON: {exc}") from exc
    return Manifest.from_json(data, str(path))


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Write ``manifest`` atomically (temporary file, fsync, rename, fsync the directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{MANIFEST_NAME}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(manifest.to_json(), f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / MANIFEST_NAME)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_matcher(matcher: Matcher, directory: Path) -> Manifest:
    """Snapshot every list ``matcher`` holds into ``directory``, then commit the manifest."""
    previous: Manifest | None
    try:
        previous = read_manifest(directory)
    except SnapshotError:
        previous = None
    items: list[SnapshotList] = []
    for list_id, config in sorted(matcher.configs().items()):
        files: dict[Algorithm, str] = {}
        counts: dict[Algorithm, int] = {}
        for algorithm, index in sorted(matcher.indexes(list_id).items()):
            name = snapshot_name(config, algorithm)
            sidecar = index.save(directory / name, source_version=f"list {list_id} version {config.version}")
            files[algorithm] = name
            counts[algorithm] = int(sidecar["count"])
        items.append(SnapshotList(config, files, counts))
    manifest = Manifest(time.time(), tuple(items))
    write_manifest(directory, manifest)
    keep = {name for m in (manifest, previous) if m for item in m.lists for name in item.files.values()}
    for candidate in directory.iterdir():
        name = candidate.name
        if name.startswith("list-") and not any(name == k or name.startswith(f"{k}.") for k in keep):
            candidate.unlink(missing_ok=True)
    return manifest


def load_list(directory: Path, item: SnapshotList, *, verify: bool = True) -> dict[Algorithm, HammingIndex]:
    """One list's indexes from its snapshots (memory-mapped). Raises ``SnapshotError``."""
    indexes: dict[Algorithm, HammingIndex] = {}
    for algorithm, name in item.files.items():
        index = load_index(directory / name, algorithm=algorithm, verify=verify)
        if len(index) != item.counts.get(algorithm, -1):
            raise SnapshotError(f"snapshot {name} holds {len(index)} entries, the manifest says otherwise")
        indexes[algorithm] = index
    return indexes


def load_matcher(
    directory: Path, refused: Callable[[SnapshotList, SnapshotError], None] | None = None
) -> Matcher | None:
    """A matcher from the snapshots in ``directory``, or None when there is no manifest. A list
    whose snapshot is refused is left out (``refused`` hears why); raises ``SnapshotError`` only
    for an unreadable manifest."""
    manifest = read_manifest(directory)
    if manifest is None:
        return None
    matcher = Matcher()
    for item in manifest.lists:
        try:
            indexes = load_list(directory, item)
        except SnapshotError as exc:
            if refused is not None:
                refused(item, exc)
            continue
        matcher.replace_list_indexes(item.config, indexes)
    return matcher
