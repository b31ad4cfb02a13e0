"""`allocator worker`: job worker processes without an HTTP server.

Run any number of `allocator serve --workers 0` (the API) and of `allocator worker` (the
solving) against one PostgreSQL database: workers claim jobs `FOR UPDATE SKIP LOCKED` under
leases, so each job is worked on by one of them, and a job whose worker or machine dies goes
back to the queue (see docs/service.md, Deployment). Ends on SIGTERM or Ctrl-C, its worker
processes with it.
"""

from __future__ import annotations

import logging
import signal
import threading
from functools import partial
from typing import Annotated

import typer
from rich.console import Console

from allocator.cli.errors import bad_input_exits

console = Console()


def worker(
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker processes (ALLOCATOR_WORKERS).")
    ] = None,
) -> None:
    """Work on queued runs, scenario sets and explanations from ALLOCATOR_DATABASE_URL."""
    from allocator.cli.main import _open_store, _settings
    from allocator.service.jobs import run_worker_host
    from allocator.store.repository import Store, display_url

    with bad_input_exits():
        settings = _settings(workers=workers)
        _open_store(settings).close()  # Migrated, and reachable, before anything starts.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    count = max(1, settings.workers)
    console.print(
        f"{count} worker processes on {display_url(settings.database_url)}", soft_wrap=True
    )
    run_worker_host(
        partial(Store, settings.database_url), settings.model_copy(update={"workers": count}), stop
    )
