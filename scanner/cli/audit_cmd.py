"""``hashwatch audit``: read the audit log and check its hash chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.common import Actor, DatabaseUrl, DataDir, actor_name, fail, open_cli_store, settings_or_exit

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
    anchor_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchor-file",
            help="An anchor file copied from another server's data directory (audit.anchor); repeat.",
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Walk the whole chain and check its MACs and anchors: exit 0 when intact, 1 naming the
    first edited or missing record (or an unsealed log)."""
    from reporting import audit
    from reporting.audit_seal import Anchor, AnchorError, read_anchor, seal_of

    anchors: dict[int, str] = {}
    sources: dict[str, Anchor] = {}
    try:
        for text in anchor or []:
            given = Anchor.parse(text)
            anchors[given.id] = given.hash
        for path in anchor_file or []:
            found = read_anchor(path)
            if found is None:
                raise AnchorError(f"no anchor file {path}")
            sources[str(path)] = found
    except AnchorError as exc:
        raise fail(f"--anchor/--anchor-file: {exc}", 2) from None
    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        result = audit.verify(store.engine, anchors, anchor_sources=sources)
        seal = seal_of(store.engine)
    if not result.ok:
        where = f" at record {result.bad_id}" if result.bad_id is not None else ""
        raise fail(f"audit log BROKEN{where}: {result.problem}", 1)
    if result.unsealed:
        raise fail(
            f"audit log NOT SEALED: its {result.checked} records hold together, but none carries the "
            "audit key's MAC (written before the key was in use, or the MACs were removed). If this "
            "log predates the key, `hashwatch audit seal` seals it as it stands.",
            1,
        )
    notes = [f"{result.checked} records"]
    if result.unsealed_records:
        notes.append(f"records 1..{result.unsealed_records} predate the audit key (chain and head MAC only)")
    if seal is not None and seal.anchor_path is not None:
        local = seal.anchor()
        notes.append(
            f"anchored at record {local.id} by {seal.anchor_path}"
            if local
            else f"no anchor yet in {seal.anchor_path} (nothing appended from this data directory)"
        )
    typer.echo(f"audit log intact: {'; '.join(notes)}; head {result.head_id}:{result.head_hash}")


@app.command("seal")
def seal(
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Seal a log written before the audit key was in use: check its chain, then append a record
    that carries the key's MAC, so the head covers every record before it. Run it once."""
    from reporting import audit

    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        result = audit.verify(store.engine)
        if not result.ok:
            raise fail(f"audit log BROKEN at record {result.bad_id}: {result.problem}; not sealed", 1)
        if not result.unsealed:
            typer.echo(f"audit log already sealed: head {result.head_id}:{result.head_hash}")
            return
        audit.AuditLog(store.engine).append(
            actor_name(actor),
            "audit.seal",
            "audit_log",
            {"records": result.checked, "head": result.head_hash},
        )
        sealed = audit.verify(store.engine)
    typer.echo(f"audit log sealed: {result.checked} records; head {sealed.head_id}:{sealed.head_hash}")


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
