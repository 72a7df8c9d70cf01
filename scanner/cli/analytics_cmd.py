"""``hashwatch analytics``: per-customer daily counts, one customer or an export of all.

With ``--server`` the command asks a running server (``hashwatch.v1.Analytics``) with
``--token``: the way a partner reads its own customers. Without it, it reads the database
directly, as an operator, and sees every customer.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TextIO

import grpc
import typer

from scanner.api.hashwatch.v1 import analytics_pb2 as pb
from scanner.api.hashwatch.v1 import analytics_pb2_grpc as pb_grpc
from scanner.api.hashwatch.v1 import scanner_pb2
from scanner.cli.common import (
    DatabaseUrl,
    DataDir,
    fail,
    open_cli_store,
    secret_option,
    settings_or_exit,
)
from scanner.errors import HashwatchError
from scanner.outcomes import Outcome
from scanner.rpc.tls import channel_credentials
from scanner.settings import SettingsError

app = typer.Typer(
    help="Per-customer daily counts: scans, matches, blocks, reports, notifications.", no_args_is_help=True
)

Server = Annotated[
    str | None,
    typer.Option(help="HOST:PORT of a hashwatch server to ask; without it, the database is read directly."),
]
Token = Annotated[
    str | None, secret_option("HASHWATCH_TOKEN", "API token (analytics:read or partner) for --server.")
]
Tls = Annotated[bool, typer.Option("--tls", help="Use TLS with --server (implied by --tls-ca).")]
TlsCa = Annotated[Path | None, typer.Option(help="PEM CA to trust (default: the system's).")]
FromDay = Annotated[str | None, typer.Option("--from", help="First UTC day, YYYY-MM-DD.")]
ToDay = Annotated[str | None, typer.Option("--to", help="Last UTC day, YYYY-MM-DD.")]

OUTCOMES = [o.value for o in Outcome]
CSV_COLUMNS = [
    "customer_id",
    "day",
    "scans",
    "scans_allowed",
    "scans_blocked",
    *(f"scans_{o}" for o in OUTCOMES),
    "matches",
    "blocks",
    "reports_filed",
    "notifications_sent",
    "notifications_failed",
]


class _Local:
    """The service itself, over the database: same checks, same answers, every customer."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def days(self, request: pb.GetDailyCountsRequest) -> list[pb.DailyCounts]:
        return list(self.service.GetDailyCounts(request, None).days)

    def export(self, request: pb.ExportDailyCountsRequest) -> Iterator[pb.DailyCounts]:
        return iter(self.service.ExportDailyCounts(request, None))


class _Remote:
    def __init__(self, stub: pb_grpc.AnalyticsStub, token: str | None) -> None:
        self.stub = stub
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None

    def days(self, request: pb.GetDailyCountsRequest) -> list[pb.DailyCounts]:
        return list(self.stub.GetDailyCounts(request, timeout=60, metadata=self.metadata).days)

    def export(self, request: pb.ExportDailyCountsRequest) -> Iterator[pb.DailyCounts]:
        return iter(self.stub.ExportDailyCounts(request, metadata=self.metadata))


@contextmanager
def _source(
    server: str | None, token: str | None, tls: bool, tls_ca: Path | None, data_dir: Any, database_url: Any
) -> Iterator[_Local | _Remote]:
    if server is None:
        from reporting.analytics import DailyCountStore
        from scanner.rpc.analytics_service import AnalyticsService

        with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
            yield _Local(AnalyticsService(DailyCountStore(store.engine)))
        return
    if tls or tls_ca:
        try:
            channel = grpc.secure_channel(server, channel_credentials(tls_ca, None, None))
        except SettingsError as exc:
            raise fail(str(exc)) from None
    else:
        channel = grpc.insecure_channel(server)
    with channel:
        yield _Remote(pb_grpc.AnalyticsStub(channel), token)


def _error(exc: Exception, server: str | None) -> typer.Exit:
    if isinstance(exc, grpc.RpcError):
        code = exc.code()
        usage = code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
        return fail(f"{server}: {code.name}: {exc.details()}", 2 if usage else 1)
    return fail(str(exc), 2)


def row_dict(row: pb.DailyCounts) -> dict[str, Any]:
    by_outcome = {
        scanner_pb2.Outcome.Name(item.outcome).removeprefix("OUTCOME_").lower(): item.count
        for item in row.scans_by_outcome
    }
    return {
        "customer_id": row.customer_id,
        "day": row.day,
        "scans": row.scans,
        "scans_allowed": row.scans_allowed,
        "scans_blocked": row.scans_blocked,
        "scans_by_outcome": by_outcome,
        "matches": row.matches,
        "blocks": row.blocks,
        "reports_filed": row.reports_filed,
        "notifications_sent": row.notifications_sent,
        "notifications_failed": row.notifications_failed,
    }


def csv_row(row: pb.DailyCounts) -> dict[str, Any]:
    record = row_dict(row)
    by_outcome = record.pop("scans_by_outcome")
    record.update({f"scans_{o}": by_outcome.get(o, 0) for o in OUTCOMES})
    return record


@app.command("show")
def show(
    customer: Annotated[str, typer.Option(help="The customer id.")],
    from_day: FromDay = None,
    to_day: ToDay = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per day.")] = False,
    server: Server = None,
    token: Token = None,
    tls: Tls = False,
    tls_ca: TlsCa = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One customer's counts, day by day (default: the last 30 days). Days with nothing counted
    are left out."""
    request = pb.GetDailyCountsRequest(customer_id=customer, from_day=from_day or "", to_day=to_day or "")
    try:
        with _source(server, token, tls, tls_ca, data_dir, database_url) as source:
            days = source.days(request)
    except (grpc.RpcError, HashwatchError) as exc:
        raise _error(exc, server) from None
    for row in days:
        record = row_dict(row)
        if as_json:
            typer.echo(json.dumps(record))
            continue
        outcomes = " ".join(f"{k}={v}" for k, v in sorted(record["scans_by_outcome"].items()))
        typer.echo(
            f"{row.day} scans {row.scans} (allowed {row.scans_allowed}, blocked {row.scans_blocked}"
            f"{'; ' + outcomes if outcomes else ''}) matches {row.matches} blocks {row.blocks} "
            f"reports {row.reports_filed} notifications {row.notifications_sent} sent, "
            f"{row.notifications_failed} failed"
        )


@app.command("export")
def export(
    from_day: FromDay = None,
    to_day: ToDay = None,
    output_format: Annotated[str, typer.Option("--format", help="jsonl (default) or csv.")] = "jsonl",
    cursor: Annotated[
        str, typer.Option(help="Resume after this cursor (printed when an export is interrupted).")
    ] = "",
    output: Annotated[
        Path | None,
        typer.Option(help="Write here instead of standard output; appended to when resuming (--cursor)."),
    ] = None,
    page_size: Annotated[int, typer.Option(help="Rows the server reads at a time (a hint).")] = 0,
    server: Server = None,
    token: Token = None,
    tls: Tls = False,
    tls_ca: TlsCa = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Every customer's counts (a partner's: its own customers), one line per customer and day,
    ordered by day then customer id. Default: yesterday (UTC), the last complete day. If the
    export stops part way, the cursor to resume from is printed on standard error."""
    if output_format not in ("jsonl", "csv"):
        raise fail(f"--format must be jsonl or csv, not {output_format!r}", 2)
    first = from_day or (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    request = pb.ExportDailyCountsRequest(
        from_day=first, to_day=to_day or "", cursor=cursor, page_size=page_size
    )
    resuming = bool(cursor)
    last_cursor = cursor
    written = 0
    try:
        with (
            _source(server, token, tls, tls_ca, data_dir, database_url) as source,
            _open(output, resuming) as out,
        ):
            writer = _writer(out, output_format, header=not resuming)
            for row in source.export(request):
                writer(row)
                # The cursor printed on failure must name a row that reached the output.
                out.flush()
                last_cursor, written = row.cursor, written + 1
    except (grpc.RpcError, HashwatchError, OSError, KeyboardInterrupt) as exc:
        if written == 0 and not isinstance(exc, KeyboardInterrupt | OSError):
            raise _error(exc, server) from None
        detail = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(_error_text(exc))
        resume = f"; resume with --cursor {last_cursor}" if last_cursor else "; start again"
        raise fail(f"export stopped after {written} rows ({detail}){resume}", 1) from None
    typer.echo(f"exported {written} rows", err=True)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc)


@contextmanager
def _open(output: Path | None, append: bool) -> Iterator[TextIO]:
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with output.open("a" if append else "w", newline="", encoding="utf-8") as handle:
        yield handle


def _writer(out: TextIO, output_format: str, header: bool) -> Any:
    if output_format == "jsonl":
        return lambda row: out.write(json.dumps(row_dict(row)) + "\n")
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    if header:
        writer.writeheader()
    return lambda row: writer.writerow(csv_row(row))
