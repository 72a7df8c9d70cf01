"""Index snapshots tied to the database: building them from the lists, starting a server from
them and catching up, and their status beside the database's list versions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import Engine, select

from index.hashes import Algorithm
from index.manifest import Manifest, SnapshotList, load_matcher, read_manifest, save_matcher
from index.matcher import Matcher
from index.snapshot import SnapshotError, read_sidecar
from reporting import models
from reporting.db import session_factory
from reporting.lists.changes import apply_changes, changes_since

log = structlog.get_logger(__name__)


def index_dir(data_dir: Path) -> Path:
    return data_dir / "index"


def matcher_from_database(engine: Engine) -> Matcher:
    """Every enabled list loaded from the database (streamed as arrays)."""
    matcher = Matcher()
    apply_changes(matcher, changes_since(engine, {}))
    return matcher


def build_snapshots(engine: Engine, directory: Path) -> Manifest:
    """Load every enabled list from the database and write its snapshots and the manifest."""
    return save_matcher(matcher_from_database(engine), directory)


def start_matcher(
    engine: Engine, directory: Path, on_refused: Callable[[str], None] | None = None
) -> Matcher:
    """The matcher a server starts with: from the snapshots in ``directory`` when there are
    usable ones, then brought up to date from the database; every list whose snapshot is
    refused, missing or out of date in its thresholds is loaded from the database instead.

    ``on_refused`` hears the name of each list whose snapshot was refused ("(manifest)" for the
    manifest), for an alert beside the error log line."""

    def refused(item: SnapshotList, exc: SnapshotError) -> None:
        log.error(
            "INDEX SNAPSHOT REFUSED; loading the list from the database instead",
            list=item.config.name,
            list_id=item.config.list_id,
            error=str(exc),
        )
        if on_refused is not None:
            on_refused(item.config.name)

    started = time.monotonic()
    try:
        matcher = load_matcher(directory, refused)
    except SnapshotError as exc:
        log.error("INDEX MANIFEST REFUSED; loading every list from the database", error=str(exc))
        if on_refused is not None:
            on_refused("(manifest)")
        matcher = None
    if matcher is None:
        return matcher_from_database(engine)
    loaded = {config.name: config.version for config in matcher.configs().values()}
    added, removed = apply_changes(matcher, changes_since(engine, matcher.configs()))
    log.info(
        "lists loaded from snapshots",
        snapshot_versions=loaded,
        caught_up_added=added,
        caught_up_removed=removed,
        seconds=round(time.monotonic() - started, 3),
    )
    return matcher


@dataclass(frozen=True)
class IndexStatus:
    list_name: str
    algorithm: Algorithm | None
    entries: int
    structure: str
    nbytes: int
    snapshot_version: int | None
    database_version: int | None
    snapshot_age_seconds: float | None
    problem: str = ""


def status(engine: Engine, directory: Path) -> list[IndexStatus]:
    """Per list and algorithm: what the snapshot holds beside the database's list version."""
    with session_factory(engine)() as session:
        versions = {
            row.id: (row.name, row.version, row.enabled) for row in session.scalars(select(models.HashList))
        }
    rows: list[IndexStatus] = []
    try:
        manifest = read_manifest(directory)
    except SnapshotError as exc:
        manifest = None
        rows.append(IndexStatus("(manifest)", None, 0, "", 0, None, None, None, str(exc)))
    seen: set[int] = set()
    now = time.time()
    for item in manifest.lists if manifest else ():
        config = item.config
        seen.add(config.list_id)
        database_version = versions.get(config.list_id, (None, None, None))[1]
        age = now - manifest.created_at if manifest else None
        for algorithm, name in sorted(item.files.items()):
            try:
                sidecar = read_sidecar(directory / name)
                kinds = sorted({str(s["kind"]) for s in sidecar["segments"] if int(s["rows"])})
                rows.append(
                    IndexStatus(
                        config.name,
                        algorithm,
                        int(sidecar["count"]),
                        "+".join(kinds) or "empty",
                        int(sidecar["data_size"]),
                        config.version,
                        database_version,
                        age,
                    )
                )
            except (SnapshotError, KeyError, TypeError, ValueError) as exc:
                rows.append(
                    IndexStatus(
                        config.name, algorithm, 0, "", 0, config.version, database_version, age, str(exc)
                    )
                )
    for list_id, (name, version, enabled) in sorted(versions.items()):
        if list_id not in seen and enabled:
            rows.append(IndexStatus(name, None, 0, "", 0, None, version, None, "no snapshot"))
    return rows
