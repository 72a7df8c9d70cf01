"""``hashwatch evidence`` and ``hashwatch reports``: preserved evidence and partner reports."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.common import DatabaseUrl, DataDir, fail, open_cli_store, settings_or_exit

evidence_app = typer.Typer(
    help="Preserved evidence (encrypted; every read is recorded).", no_args_is_help=True
)
reports_app = typer.Typer(help="Partner reports.", no_args_is_help=True)


@evidence_app.command("export")
def export(
    match_id: Annotated[int, typer.Argument(help="The match whose evidence to export.")],
    out: Annotated[Path, typer.Option(help="File to write the decrypted bytes to (created 0600).")],
    actor: Annotated[str, typer.Option(help="Who is reading (recorded).")],
    purpose: Annotated[str, typer.Option(help="Why (recorded), e.g. a law-enforcement request number.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Decrypt a match's preserved evidence to a file. The read is recorded first."""
    from reporting.matches.evidence_store import EvidenceStore, EvidenceUnavailable

    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        try:
            content = EvidenceStore(store.engine, store.actions.evidence).read(match_id, actor, purpose)
        except (EvidenceUnavailable, ValueError) as exc:
            raise fail(str(exc)) from None
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    typer.echo(f"{len(content)} bytes written to {out}; the read is recorded")


@evidence_app.command("show")
def show(
    match_id: Annotated[int, typer.Argument(help="The match.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """What is preserved for a match, and who has read it (never the content)."""
    from reporting.matches.evidence_store import EvidenceStore

    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        evidence = EvidenceStore(store.engine, store.actions.evidence)
        view = evidence.describe(match_id)
        if view is None:
            raise fail(f"no evidence preserved for match {match_id}")
        reads = evidence.accesses(match_id)
    record = {
        "match_id": view.match_id,
        "sha256": view.sha256,
        "size": view.size,
        "content_type": view.content_type,
        "created_at": view.created_at.isoformat(),
        "preserve_until": view.preserve_until.isoformat(),
        "purged": view.purged,
        "reads": [{"actor": a, "purpose": p, "at": t.isoformat()} for a, p, t in reads],
    }
    typer.echo(json.dumps(record, indent=2))


@reports_app.command("list")
def list_reports(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Every partner report and the step it reached, newest first."""
    from reporting.partners.reports import list_reports as load

    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        rows = load(store.engine)
    for row in rows:
        error = f" last error: {row.last_error}" if row.last_error else ""
        typer.echo(f"{row.id} match {row.match_id} {row.partner} {row.step} {row.partner_report_id}{error}")
