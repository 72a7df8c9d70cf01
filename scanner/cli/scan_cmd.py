"""``hashwatch scan``: a gRPC client that scans files against a running server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated

import grpc
import typer

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.cli.common import fail, secret_option
from scanner.rpc.tls import channel_credentials
from scanner.settings import SettingsError


def scan_command(
    files: Annotated[list[Path], typer.Argument(help="Files to scan.")],
    server: Annotated[str, typer.Option(help="HOST:PORT of a hashwatch server.")] = "127.0.0.1:50051",
    customer: Annotated[str, typer.Option(help="Customer id to scan for.")] = "demo",
    url_prefix: Annotated[
        str, typer.Option(help="URL reported for each file is this + file name.")
    ] = "https://example.invalid/",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 30.0,
    token: Annotated[
        str | None,
        secret_option("HASHWATCH_TOKEN", "API token (scope scan) for a server run with --require-auth."),
    ] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Use TLS (implied by the --tls-* options).")] = False,
    tls_ca: Annotated[Path | None, typer.Option(help="PEM CA to trust (default: the system's).")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM client certificate, for mTLS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM client key, for mTLS.")] = None,
) -> None:
    """Scan files with a running server; print the verdict, outcome and matches of each."""
    limit = 64 * 1024 * 1024
    options = [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    if tls or tls_ca or tls_cert or tls_key:
        try:
            credentials = channel_credentials(tls_ca, tls_cert, tls_key)
        except SettingsError as exc:
            raise fail(str(exc)) from None
        channel = grpc.secure_channel(server, credentials, options=options)
    else:
        channel = grpc.insecure_channel(server, options=options)
    with channel:
        stub = pb_grpc.ScannerStub(channel)
        for path in files:
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise fail(f"{path}: {exc.strerror}") from None
            request = pb.ScanRequest(
                request_id=str(uuid.uuid4()),
                customer_id=customer,
                url=url_prefix + path.name,
                content=content,
            )
            try:
                response = stub.Scan(request, timeout=timeout, metadata=metadata)
            except grpc.RpcError as exc:
                raise fail(f"{server}: {exc.code().name}: {exc.details()}") from None
            verdict = pb.Verdict.Name(response.verdict).removeprefix("VERDICT_")
            outcome = pb.Outcome.Name(response.outcome).removeprefix("OUTCOME_")
            matches: list[dict[str, object]] = []
            for m in response.matches:
                found: dict[str, object] = {
                    "list": m.list,
                    "entry_id": m.entry_id,
                    "algorithm": pb.Algorithm.Name(m.algorithm).removeprefix("ALGORITHM_").lower(),
                    "distance": m.distance,
                }
                # Only when they say something: how it matched, and a hit that did not block.
                if m.variant:
                    found["variant"] = m.variant
                if m.action and m.action != "block":
                    found["action"] = m.action
                matches.append(found)
            if as_json:
                record: dict[str, object] = {
                    "path": str(path),
                    "verdict": verdict,
                    "outcome": outcome,
                    "matches": matches,
                }
                if response.reason:
                    record["reason"] = response.reason
                if response.match_id:
                    record["match_id"] = response.match_id
                if response.queued_for_review:
                    record["queued_for_review"] = True
                typer.echo(json.dumps(record))
                continue
            line = f"{path}: {verdict} ({outcome}"
            line += f": {response.reason})" if response.reason else ")"
            for shown in matches:
                line += (
                    f"\n    matched list {shown['list']!r} entry {shown['entry_id']}"
                    f" by {shown['algorithm']} at distance {shown['distance']}"
                    + (f" ({shown['variant']})" if "variant" in shown else "")
                    + (f", {shown['action']}" if "action" in shown else "")
                )
            typer.echo(line)
