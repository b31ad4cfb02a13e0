"""The audit chain's checkpoints file: one line of JSON per checkpoint, only ever appended.

`allocator audit checkpoint` (by hand or from cron) appends the chain's head with the time;
verify reads them all back and checks that the chain still holds each (`ledger.verify`). Keep
the file where whoever could rewrite the database cannot (another machine, a write-once
bucket, `chattr +a`): a checkpoint is only as good as the place that keeps it.
"""

from __future__ import annotations

import os
from pathlib import Path

from allocator.errors import InputIssue, InvalidInputError
from allocator.service.ledger import Checkpoint


def append(path: Path, checkpoint: Checkpoint) -> None:
    """Append `checkpoint` to the file at `path` (created with its folder), synced to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(checkpoint.line() + "\n")
        out.flush()
        os.fsync(out.fileno())


def read(path: Path) -> list[Checkpoint]:
    """Every checkpoint in the file at `path` (none when there is no file); InvalidInputError
    naming the line of one that cannot be read."""
    if not path.exists():
        return []
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(Checkpoint.parse(line))
        except ValueError as error:
            where = f"{path.name} line {number}"
            raise InvalidInputError([InputIssue(where, "", str(error), line[:80])]) from None
    return found
