"""The ``hashwatch`` command."""

from __future__ import annotations

import os

import typer

from scanner.cli import blocks_cmd, destinations_cmd, evidence_cmd, index_cmd, lists_cmd, matches_cmd
from scanner.cli.analysts_cmd import app as analysts_app
from scanner.cli.analytics_cmd import app as analytics_app
from scanner.cli.audit_cmd import app as audit_app
from scanner.cli.customers_cmd import app as customers_app
from scanner.cli.hash_cmd import hash_command
from scanner.cli.rescan_cmd import rescan_command
from scanner.cli.review_cmd import app as review_app
from scanner.cli.scan_cmd import scan_command
from scanner.cli.serve_cmd import serve
from scanner.cli.tokens_cmd import app as tokens_app
from scanner.cli.web_cmd import web_command
from scanner.cli.worker_cmd import worker_command

app = typer.Typer(
    name="hashwatch",
    help="Perceptual-hash content scanning: hash images, match known-bad lists, block, notify, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def private_files(ctx: typer.Context) -> None:
    # Everything a command writes (the SQLite database and its -wal/-shm, keys, journal,
    # index snapshots, exported evidence) is for this user only: files 0600, directories 0700.
    previous = os.umask(0o077)
    ctx.call_on_close(lambda: os.umask(previous))


app.command("serve")(serve)
app.command("hash")(hash_command)
app.command("scan")(scan_command)
app.command("rescan")(rescan_command)
app.add_typer(lists_cmd.app, name="lists")
app.add_typer(index_cmd.app, name="index")
app.command("worker")(worker_command)
app.add_typer(matches_cmd.app, name="matches")
app.add_typer(blocks_cmd.app, name="blocks")
app.add_typer(destinations_cmd.app, name="destinations")
app.add_typer(evidence_cmd.evidence_app, name="evidence")
app.add_typer(evidence_cmd.reports_app, name="reports")
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")
app.add_typer(analysts_app, name="analysts")
app.add_typer(review_app, name="review")
app.add_typer(customers_app, name="customers")
app.add_typer(analytics_app, name="analytics")
app.command("web")(web_command)
