"""``hashwatch web``: the analysts' review page on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.common import DatabaseUrl, DataDir, open_cli_store, settings_or_exit
from scanner.logs import configure


def web_command(
    port: Annotated[int | None, typer.Option(help="Port [env HASHWATCH_WEB_PORT, default 8080].")] = None,
    host: Annotated[
        str | None, typer.Option(help="Address [env HASHWATCH_WEB_HOST, default 127.0.0.1].")
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate [env HASHWATCH_WEB_TLS_CERT].")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM key [env HASHWATCH_WEB_TLS_KEY].")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the review page until SIGTERM. A false positive decided here flags list entries:
    scan servers stop matching them on their next list poll."""
    import uvicorn

    from scanner.web.build import web_app

    settings = settings_or_exit(
        web_port=port,
        web_host=host,
        web_tls_cert=tls_cert,
        web_tls_key=tls_key,
        data_dir=data_dir,
        database_url=database_url,
    )
    configure(settings.log_level, settings.log_json)
    with open_cli_store(settings) as store:
        uvicorn.run(
            web_app(settings, store),
            host=settings.web_host,
            port=settings.web_port,
            ssl_certfile=str(settings.web_tls_cert) if settings.web_tls_cert else None,
            ssl_keyfile=str(settings.web_tls_key) if settings.web_tls_key else None,
            log_level="warning",
            log_config=None,  # its loggers go through scanner.logs (JSON, no locals)
            server_header=False,
        )
