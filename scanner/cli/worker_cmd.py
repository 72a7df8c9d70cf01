"""``hashwatch worker``: deliver what the outbox holds."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from scanner.cli.common import (
    DatabaseUrl,
    DataDir,
    open_cli_store,
    reporting_settings_or_exit,
    settings_or_exit,
)
from scanner.logs import configure


def worker_command(
    once: Annotated[bool, typer.Option("--once", help="Deliver everything due now, then exit.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run an outbox worker: notifications, partner reports, block hooks. Several may run at once."""
    settings = settings_or_exit(data_dir=data_dir, database_url=database_url)
    reporting = reporting_settings_or_exit()
    configure(settings.log_level, settings.log_json)
    from scanner.app import make_worker

    with open_cli_store(settings, reporting) as store:
        worker = make_worker(store, reporting)
        if once:
            typer.echo(f"{worker.drain()} deliveries attempted")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        thread = threading.Thread(target=worker.run, args=(stop,), name="outbox-worker")
        thread.start()
        while thread.is_alive():
            thread.join(0.25)
