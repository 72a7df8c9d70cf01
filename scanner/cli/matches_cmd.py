"""``hashwatch matches``: the recorded matches."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer

from scanner.cli.common import DatabaseUrl, DataDir, open_cli_store, settings_or_exit

app = typer.Typer(help="Recorded matches.", no_args_is_help=True)


@app.command("list")
def list_matches(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per match.")] = False,
    limit: Annotated[int, typer.Option(help="Newest N matches.")] = 100,
    customer: Annotated[str | None, typer.Option(help="Only this customer's matches.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show recorded matches, newest first."""
    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        matches = store.matches(limit=limit, customer_id=customer)
    for match in matches:
        if as_json:
            record = dataclasses.asdict(match)
            record["created_at"] = match.created_at.isoformat()
            typer.echo(json.dumps(record))
            continue
        hits = "; ".join(
            f"{h.list}#{h.entry_id} {h.algorithm} d={h.distance}"
            + (f" {h.variant}" if h.variant else "")
            + ("" if h.action == "block" else f" {h.action}")
            for h in match.hits
        )
        found = "" if match.source == "scan" else f" ({match.source})"
        if match.verdict == "review":
            found += " (queued for review, not blocked)"
        typer.echo(
            f"{match.id} {match.created_at:%Y-%m-%d %H:%M:%S} {match.customer_id} {match.url}{found} [{hits}]"
        )
