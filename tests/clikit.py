"""The `allocator` command run in this process with typer's CliRunner: the same exit codes,
stdout and stderr as a real process, without starting an interpreter per call (one
subprocess smoke test in test_cli.py keeps the real entry point honest)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from allocator.cli.main import app

RUNNER = CliRunner()


@contextmanager
def _inside(folder: Path | None) -> Iterator[None]:
    before = Path.cwd()
    if folder is not None:
        os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def invoke(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`allocator ARGS` in `cwd` with `env` added to the environment, answered like
    `subprocess.run(..., capture_output=True)`."""
    words = [str(arg) for arg in args]
    with _inside(cwd):
        result = RUNNER.invoke(
            app, words, catch_exceptions=False, env={"COLUMNS": "200", **(env or {})}
        )
    return subprocess.CompletedProcess(
        ["allocator", *words], result.exit_code, result.stdout, result.stderr
    )
