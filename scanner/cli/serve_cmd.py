"""``hashwatch serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from scanner.cli.common import DatabaseUrl, DataDir, fail, settings_or_exit
from scanner.logs import configure
from scanner.pipeline import HashMode


def serve(
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (env HASHWATCH_PORT, default 50051).")
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to bind (env HASHWATCH_HOST, default 127.0.0.1); an IPv6 one as it is "
            "(::1), :: for every IPv6 and IPv4 address, 0.0.0.0 for every IPv4 one."
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    hash_mode: Annotated[HashMode | None, typer.Option(help="fast (default) or exact.")] = None,
    threads: Annotated[int | None, typer.Option(help="Threads serving RPCs.")] = None,
    max_message_bytes: Annotated[int | None, typer.Option(help="Largest gRPC message accepted.")] = None,
    hash_workers: Annotated[
        int | None,
        typer.Option(
            help="Processes that decode and hash (env HASHWATCH_HASH_WORKERS, default: one per CPU; "
            "0: hash in the serving process)."
        ),
    ] = None,
    queue_size: Annotated[
        int | None,
        typer.Option(
            help="Requests that may wait for a hashing process before the rest are refused "
            "RESOURCE_EXHAUSTED (env HASHWATCH_QUEUE_SIZE, default 16)."
        ),
    ] = None,
    require_auth: Annotated[
        bool | None,
        typer.Option(
            "--require-auth/--no-require-auth",
            help="Require an API token on every RPC (env HASHWATCH_REQUIRE_AUTH, default off).",
        ),
    ] = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run an outbox worker in this process.")
    ] = True,
    web_port: Annotated[
        int | None,
        typer.Option(help="Also serve the analysts' review page on this port (off unless given)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Prometheus /metrics port (env HASHWATCH_METRICS_PORT, default 9464; 0: off)."),
    ] = None,
) -> None:
    """Run the scanning service until SIGTERM."""
    settings = settings_or_exit(
        port=port,
        host=host,
        data_dir=data_dir,
        database_url=database_url,
        hash_mode=hash_mode,
        threads=threads,
        max_message_bytes=max_message_bytes,
        hash_workers=hash_workers,
        queue_size=queue_size,
        require_auth=require_auth,
        web_port=web_port,
        metrics_port=metrics_port,
    )
    configure(settings.log_level, settings.log_json)
    from reporting.keys import LocalKeyError
    from scanner.process import serve as run

    try:
        run(settings, with_worker=worker, with_web=web_port is not None)
    except LocalKeyError as exc:
        raise fail(str(exc), 2) from None
