"""``hashwatch review``: the queue of matches waiting for a decision, one case, a decision.

The CLI talks to the database directly, as an operator; the actor recorded in the audit log is
``cli:<os user>``. It never shows an image: analysts use the review page for that.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scanner.cli.common import DatabaseUrl, DataDir, actor_name, fail, open_cli_store, settings_or_exit

if TYPE_CHECKING:
    from reporting.store import Store

app = typer.Typer(help="Review matches: the queue, one case, decisions.", no_args_is_help=True)


@contextmanager
def _store(data_dir: object, database_url: object) -> Iterator[Store]:
    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        yield store


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@app.command("list")
def list_cases(
    state: Annotated[
        str,
        typer.Option(help="pending (default), appealed, all, open, escalated, confirmed, false_positive."),
    ] = "pending",
    customer: Annotated[str, typer.Option(help="Only this customer's cases.")] = "",
    list_name: Annotated[str, typer.Option("--list", help="Only cases that hit this list.")] = "",
    newest: Annotated[bool, typer.Option("--newest", help="Newest first (default oldest).")] = False,
    limit: Annotated[int, typer.Option(help="At most N cases.")] = 50,
    page_token: Annotated[str, typer.Option(help="From the previous page's last line.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output, one case per line.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The queue, escalated and appealed cases first."""
    from reporting.review.errors import ReviewError
    from reporting.review.queue import ReviewQueue

    try:
        with _store(data_dir, database_url) as store:
            page = ReviewQueue(store.engine).page(
                state=state,
                customer_id=customer,
                list_name=list_name,
                newest_first=newest,
                limit=limit,
                page_token=page_token,
            )
    except ReviewError as exc:
        raise fail(str(exc), 2) from None
    for case in page.cases:
        if as_json:
            typer.echo(json.dumps(_plain(dataclasses.asdict(case))))
        else:
            appeal = f" [{case.open_requests} review request(s)]" if case.open_requests else ""
            typer.echo(
                f"{case.match_id} {case.state} {case.created_at:%Y-%m-%d %H:%M} {case.customer_id} "
                f"{case.url} lists={','.join(case.lists)} {case.algorithm}:{case.distance}{appeal}"
            )
    if page.next_page_token and not as_json:
        typer.echo(f"more: --page-token {page.next_page_token}")


@app.command("show")
def show(
    match_id: Annotated[int, typer.Argument(help="The case (match) id.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One case with its evidence (never the image). The view is recorded in the audit log."""
    from reporting.review.errors import ReviewError
    from reporting.review.queue import ReviewQueue

    try:
        with _store(data_dir, database_url) as store:
            case = ReviewQueue(store.engine).case(match_id, actor_name())
    except ReviewError as exc:
        raise fail(str(exc), 2) from None
    if as_json:
        typer.echo(json.dumps(_plain(dataclasses.asdict(case)), indent=2))
        return
    typer.echo(f"case {case.match_id}: {case.state} (priority {case.priority})")
    typer.echo(f"  url        {case.url}")
    typer.echo(
        f"  customer   {case.customer_id}   client {case.client_ip}   at {case.created_at.isoformat()}"
    )
    typer.echo(f"  block      {case.block_state}   report {case.report_partner or '-'} {case.report_step}")
    typer.echo(
        f"  evidence   {'kept' if case.evidence_available else 'none'} "
        f"{case.evidence_size} bytes sha256 {case.evidence_sha256 or '-'}"
    )
    for name, value in sorted(case.hashes.items()):
        typer.echo(f"  hash       {name} {value}")
    for hit in case.hits:
        typer.echo(
            f"  hit        list {hit.list_name} entry {hit.entry_id} ({hit.external_id or 'no external id'}, "
            f"{hit.entry_status}) {hit.algorithm} distance {hit.distance}/{hit.threshold}"
        )
    for request in case.requests:
        typer.echo(
            f"  request    #{request.id} {request.state} {request.attestation} by {request.requested_by}: "
            f"{request.statement}"
        )
    for decision in case.decisions:
        override = " (override)" if decision.override else ""
        typer.echo(
            f"  decision   {decision.decision}{override} by {decision.actor} at "
            f"{decision.decided_at.isoformat()}: {decision.note}"
        )


@app.command("decide")
def decide(
    match_id: Annotated[int, typer.Argument(help="The case (match) id.")],
    decision: Annotated[str, typer.Argument(help="confirm, false_positive or escalate.")],
    note: Annotated[str, typer.Option(help="Why (kept with the decision and in the audit log).")] = "",
    override: Annotated[
        bool, typer.Option("--override", help="Re-decide a decided case, as an admin (recorded).")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Decide a case. A false positive lifts the block and flags the list entries: running
    servers stop matching them on their next list poll (HASHWATCH_LIST_POLL_SECONDS)."""
    from reporting.review.decisions import Decisions
    from reporting.review.errors import ReviewError
    from reporting.review.values import Reviewer

    try:
        with _store(data_dir, database_url) as store:
            result = Decisions(store.engine).decide(
                match_id, decision.replace("-", "_"), Reviewer(actor_name(), override), note
            )
    except ReviewError as exc:
        raise fail(str(exc), 2) from None
    parts = [f"case {match_id}: {result.state}"]
    if result.override:
        parts.append("(override)")
    if result.report_requested:
        parts.append("report requested")
    if result.block_resolved:
        parts.append("block resolved, customer notified")
    if result.flagged_entries:
        parts.append(
            f"entries {', '.join(map(str, result.flagged_entries))} flagged "
            "(running servers follow on their next poll)"
        )
    if result.resolved_requests:
        parts.append(f"review requests {', '.join(map(str, result.resolved_requests))} resolved")
    typer.echo("; ".join(parts))


@app.command("flags")
def flags(
    state: Annotated[str, typer.Option(help="open (default), restored, disabled or all.")] = "open",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List entries a false positive flagged (they match nothing until decided)."""
    from reporting.review.flags import EntryFlags

    with _store(data_dir, database_url) as store:
        views = EntryFlags(store.engine).in_state(state)
    for flag in views:
        typer.echo(
            f"{flag.id} {flag.state} list {flag.list_name} entry {flag.entry_id} "
            f"({flag.external_id or 'no external id'}) {flag.algorithm} {flag.hash_hex} "
            f"from case {flag.match_id} by {flag.flagged_by}"
        )


@app.command("flag")
def decide_flag(
    flag_id: Annotated[int, typer.Argument(help="The flag id (hashwatch review flags).")],
    outcome: Annotated[str, typer.Argument(help="restore (match again) or disable (for good).")],
    note: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Decide a flagged entry. Running servers pick up a restored entry on their next list poll."""
    from reporting.review.errors import ReviewError
    from reporting.review.flags import EntryFlags

    try:
        with _store(data_dir, database_url) as store:
            view = EntryFlags(store.engine).decide(flag_id, outcome, actor_name(), note)
    except ReviewError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(f"entry {view.entry_id} of list {view.list_name}: {view.state}")
