"""The project's error classes: one root, a few kinds. The core raises; only edges translate.

The CLI maps them to exit codes, the API to HTTP status codes. Nothing here imports the rest of
the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InputIssue:
    """One thing wrong with an input: where it is, which field, what value, and why."""

    where: str
    """The record: `demands.csv row 14`, `$.demands[13]` or `demand OPP-7/architect`."""
    field: str
    """The field or column, empty when the problem concerns the whole record."""
    message: str
    """What must hold, in words: `must be >= 0`."""
    value: Any = None
    """The offending value, shown as `(got ...)` when not None."""
    loc: tuple[str | int, ...] = ()
    """Structural location, `('demands', 13)`, so that an edge can re-word `where`."""

    def __str__(self) -> str:
        if not self.field:
            place = self.where
        elif self.where.startswith("$"):  # A JSON path: `$.demands[13].hours`.
            place = f"{self.where}.{self.field}"
        elif " row " in self.where or self.where.endswith(".csv"):  # `demands.csv row 15`.
            place = f"{self.where}, column {self.field}"
        else:  # A file or record: `policy.json, field load_penalty`.
            place = f"{self.where}, field {self.field}"
        got = "" if self.value is None else f" (got {self.value!r})"
        return f"{place}: {self.message}{got}"


class AllocatorError(Exception):
    """Root of every error the allocator raises on purpose."""


class InvalidInputError(AllocatorError):
    """The input breaks a rule of the domain; `issues` lists every problem found."""

    def __init__(self, issues: list[InputIssue]) -> None:
        if not issues:
            raise ValueError("InvalidInputError needs at least one issue")
        self.issues = issues
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"{issues[0]}{more}")

    def lines(self, limit: int = 50) -> list[str]:
        """The issues as text, one per line, at most `limit` of them."""
        shown = [str(issue) for issue in self.issues[:limit]]
        if len(self.issues) > limit:
            shown.append(f"... and {len(self.issues) - limit} more problems")
        return shown


class NotFoundError(AllocatorError):
    """A run, portfolio or record asked for by id does not exist."""


class InfeasibleError(AllocatorError):
    """The hard rules cannot all hold; `conflicts` names the pins/forbids/demands at odds."""

    def __init__(self, message: str, conflicts: list[str]) -> None:
        self.conflicts = conflicts
        super().__init__(message)
