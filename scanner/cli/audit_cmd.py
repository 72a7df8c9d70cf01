"""``hashwatch audit``: read the audit log and check its hash chain."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from scanner.cli.common import DatabaseUrl, DataDir, fail, open_cli_store, settings_or_exit

app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)


@app.command("verify")
def verify(
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            help="ID:HASH of a record as printed by an earlier verify and kept elsewhere; repeat.",
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Walk the whole chain: exit 0 when intact, 1 naming the first edited or missing record."""
    from reporting import audit

    anchors: dict[int, str] = {}
    for item in anchor or []:
        record_id, _, digest = item.partition(":")
        if not record_id.isdigit() or len(digest) != 64:
            raise fail(f"--anchor wants ID:HASH (64 hex digits), not {item!r}", 2)
        anchors[int(record_id)] = digest.lower()
    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        result = audit.verify(store.engine, anchors)
    if not result.ok:
        raise fail(f"audit log BROKEN at record {result.bad_id}: {result.problem}", 1)
    typer.echo(f"audit log intact: {result.checked} records; head {result.head_id}:{result.head_hash}")


@app.command("list")
def list_records(
    limit: Annotated[int, typer.Option(help="Newest N records.")] = 50,
    action: Annotated[str, typer.Option(help="Only this action, e.g. token.create.")] = "",
    actor: Annotated[str, typer.Option(help="Only this actor, e.g. analyst:alice.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List audit records, newest first."""
    from reporting.audit import AuditLog

    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        entries = AuditLog(store.engine).entries(limit, action=action, actor=actor).entries
    for e in entries:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "id": e.id,
                        "at": e.at.isoformat(),
                        "actor": e.actor,
                        "action": e.action,
                        "subject": e.subject,
                        "details": e.details,
                        "hash": e.hash,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            details = json.dumps(e.details, sort_keys=True, ensure_ascii=False)
            typer.echo(
                f"{e.id} {e.at.isoformat(timespec='seconds')} {e.actor} {e.action} {e.subject} {details}"
            )
