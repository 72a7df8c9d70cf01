"""``hashwatch index``: build the index snapshots servers start from, and show their status."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from scanner.cli.common import DatabaseUrl, DataDir, open_cli_store, settings_or_exit

app = typer.Typer(help="Index snapshots that servers start from.", no_args_is_help=True)


@app.command("build")
def build(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Snapshot every enabled list into DATA_DIR/index/. Servers started afterwards load them
    (memory-mapped) and catch up from the database instead of loading every entry."""
    from reporting.lists.snapshots import build_snapshots, index_dir

    settings = settings_or_exit(data_dir=data_dir, database_url=database_url)
    directory = index_dir(settings.data_dir)
    started = time.monotonic()
    with open_cli_store(settings) as store:
        manifest = build_snapshots(store.engine, directory)
    for item in manifest.lists:
        counts = ", ".join(f"{n} {a}" for a, n in sorted(item.counts.items())) or "empty"
        typer.echo(f"{item.config.name} (version {item.config.version}): {counts}")
    typer.echo(f"wrote {len(manifest.lists)} lists to {directory} in {time.monotonic() - started:.1f} s")


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Per list and algorithm: entries, structure, memory, snapshot version against the
    database's, and the snapshot's age."""
    from reporting.lists.snapshots import index_dir
    from reporting.lists.snapshots import status as index_status

    settings = settings_or_exit(data_dir=data_dir, database_url=database_url)
    with open_cli_store(settings) as store:
        rows = index_status(store.engine, index_dir(settings.data_dir))
    if as_json:
        for row in rows:
            typer.echo(
                json.dumps(
                    {
                        "list": row.list_name,
                        "algorithm": str(row.algorithm) if row.algorithm else None,
                        "entries": row.entries,
                        "structure": row.structure,
                        "bytes": row.nbytes,
                        "snapshot_version": row.snapshot_version,
                        "database_version": row.database_version,
                        "snapshot_age_seconds": row.snapshot_age_seconds,
                        "problem": row.problem,
                    }
                )
            )
        return
    if not rows:
        typer.echo("no lists and no snapshots")
    for row in rows:
        name = f"{row.list_name} {row.algorithm}" if row.algorithm else row.list_name
        if row.problem and not row.entries:
            typer.echo(f"{name}: {row.problem} (database version {row.database_version})")
            continue
        behind = (
            "up to date"
            if row.snapshot_version == row.database_version
            else f"database at version {row.database_version}"
        )
        age = f"{row.snapshot_age_seconds:.0f} s old" if row.snapshot_age_seconds is not None else ""
        typer.echo(
            f"{name}: {row.entries} entries, {row.structure}, {row.nbytes / 1e6:.1f} MB, "
            f"snapshot version {row.snapshot_version} ({behind}), {age}"
        )
