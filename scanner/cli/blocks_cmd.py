"""``hashwatch blocks``: what is blocked, and lifting a block."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from reporting.matches.blocks import Blocks

from scanner.cli.common import DatabaseUrl, DataDir, actor_name, fail, open_cli_store, settings_or_exit

app = typer.Typer(help="Blocked URLs.", no_args_is_help=True)


@contextmanager
def _blocks(data_dir: object, database_url: object) -> Iterator[Blocks]:
    from reporting.matches.blocks import Blocks

    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        yield Blocks(store.engine)


@app.command("list")
def list_blocks(
    customer: Annotated[str | None, typer.Option(help="Only this customer's blocks.")] = None,
    state: Annotated[str | None, typer.Option(help="pending, active or resolved.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    limit: Annotated[int, typer.Option(help="Newest N blocks.")] = 100,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List blocks, newest first."""
    with _blocks(data_dir, database_url) as blocks:
        views = blocks.all(customer, state, limit)
    for view in views:
        if as_json:
            record = dataclasses.asdict(view)
            for key in ("created_at", "updated_at", "resolved_at"):
                record[key] = record[key].isoformat() if record[key] else None
            typer.echo(json.dumps(record))
        else:
            typer.echo(f"{view.id} {view.state} {view.customer_id} {view.url} (match {view.match_id})")


@app.command("resolve")
def resolve(
    block_id: Annotated[int, typer.Argument(help="Block id.")],
    reason: Annotated[str, typer.Option(help="Why the block is lifted (kept, and sent to the customer).")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Lift a block and notify the customer."""
    try:
        with _blocks(data_dir, database_url) as blocks:
            changed = blocks.resolve(block_id, reason, actor=actor_name())
    except LookupError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(f"block {block_id} resolved" if changed else f"block {block_id} was already resolved")
