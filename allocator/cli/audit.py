"""`allocator audit`: verify the audit chain and every row against it; checkpoint its head.

`checkpoint` appends the chain's head (record number, hash, time) to an append-only file (by
default `ALLOCATOR_CHECKPOINT_PATH`), from cron or by hand; `verify` recomputes the chain,
checks it still holds every checkpoint, and checks the jobs, portfolio and key rows against
their sealed records. Exit codes: 0 intact, 1 a check failed, 2 bad input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from allocator.cli.errors import EXIT_CHECK_FAILED, bad_input_exits

if TYPE_CHECKING:
    from allocator.service.runs import RunService


@contextmanager
def _service() -> Iterator[RunService]:
    """The run service over the store the environment names, closed after."""
    from allocator.cli.main import _open_store, _settings
    from allocator.service.runs import RunService

    settings = _settings()
    store = _open_store(settings)
    try:
        yield RunService(store, settings)
    finally:
        store.close()


app = typer.Typer(help="Verify the audit chain; checkpoint its head.", no_args_is_help=True)
console = Console()


@app.command()
def checkpoint(
    to: Annotated[
        Path | None,
        typer.Option(help="The checkpoints file to append to (default ALLOCATOR_CHECKPOINT_PATH)."),
    ] = None,
) -> None:
    """Append the chain's head with the time to the checkpoints file (only ever appended)."""
    with bad_input_exits(), _service() as service:
        mark = service.checkpoint(to)
    where = to or Path(service.settings.checkpoint_path)
    console.print(f"Checkpoint: record {mark.seq}, {mark.sha256}, at {mark.at} -> {where}")


@app.command()
def verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="The checkpoints file to check against (default ALLOCATOR_CHECKPOINT_PATH)."
        ),
    ] = None,
) -> None:
    """Recompute the chain, check every checkpoint and every row; exit 1 naming the first
    problem."""
    with bad_input_exits(), _service() as service:
        verdict = service.verify_audit(checkpoints)
    if verdict.ok:
        console.print(f"All {verdict.records} records match; the chain and every row are intact.")
        return
    if verdict.first_bad is not None:
        bad = verdict.first_bad
        line = (
            f"Record {bad.seq} ({bad.kind} of {bad.subject_id}) does not match: {verdict.reason}."
        )
    else:
        line = verdict.reason
    console.print(f"NOT INTACT: {line}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_CHECK_FAILED)
