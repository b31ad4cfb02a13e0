"""The project's error classes: one root, a few kinds. The core raises; only edges translate.

The CLI maps them to exit codes, the API to HTTP status codes. `problems` is the one place a
pydantic validation error (the core's models, a request's body, path or query, the settings)
becomes problems: record, field, message, value. Nothing here imports the rest of the package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


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
        elif " row " in self.where or " rows " in self.where or self.where.endswith(".csv"):
            # `demands.csv row 15`, or `timesheet.csv rows 2, 5` for cells summed together.
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


# ---------------------------------------------------------------------------------------------
# Validation errors -> problems

Location = tuple[str | int, ...]
Place = Callable[[Location], tuple[str, str, Location]]
"""Maps a pydantic location to (where, field, the location kept on the issue)."""

MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "string_too_short": "must not be empty",
}
"""The core's words for pydantic's error types; other types keep pydantic's message."""
MAX_SHOWN = 80
"""Longest offending text shown in a message; longer ones are cut in the middle."""


def json_place(loc: Location) -> tuple[str, str, Location]:
    """`('demands', 13, 'hours')` -> `('$.demands[13]', 'hours', loc)`.

    >>> json_place(("demands", 13, "hours"))[:2]
    ('$.demands[13]', 'hours')
    """
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[:-1])
    return where, "" if not loc else str(loc[-1]), loc


def message_of(item: Mapping[str, Any], messages: Mapping[str, str] | None = None) -> str:
    """One validation error's message in the core's words.

    >>> message_of({"type": "greater_than_equal", "msg": "...", "ctx": {"ge": 0.0}})
    'must be >= 0'
    >>> message_of({"type": "value_error", "msg": "Value error, bad week"})
    'bad week'
    """
    template = {**MESSAGES, **(messages or {})}.get(str(item.get("type", "")))
    if template is not None:
        ctx = {key: _plain_number(value) for key, value in (item.get("ctx") or {}).items()}
        try:
            return template.format(**ctx)
        except (KeyError, IndexError):
            pass
    return str(item.get("msg", "is not valid")).removeprefix("Value error, ")


def value_of(item: Mapping[str, Any]) -> Any:
    """The offending value when it can be shown on one line (not a missing one, a record or
    a list); the tag of an unknown union member."""
    if item.get("type") == "missing":
        return None
    if item.get("type") == "union_tag_invalid":
        return (item.get("ctx") or {}).get("tag")
    value = item.get("input")
    if isinstance(value, str) and len(value) > MAX_SHOWN:
        return f"{value[: MAX_SHOWN - 12]}...{value[-8:]}"
    return value if isinstance(value, str | int | float | bool) else None


def problems(
    error: ValidationError | Iterable[Mapping[str, Any]],
    place: Place = json_place,
    messages: Mapping[str, str] | None = None,
    skip: Callable[[str | int], bool] | None = None,
) -> list[InputIssue]:
    """Every error of a pydantic validation (or FastAPI's request validation, the same
    dictionaries) as an `InputIssue`: `place` says where and which field, `messages` adds
    words for error types, `skip` drops location parts that are no fields (a union's tag).

    >>> from pydantic import BaseModel, Field
    >>> class Demand(BaseModel):
    ...     hours: float = Field(ge=0)
    >>> try:
    ...     Demand.model_validate({"hours": -3})
    ... except ValidationError as error:
    ...     print(problems(error)[0])
    $.hours: must be >= 0 (got -3)
    """
    items = error.errors(include_url=False) if isinstance(error, ValidationError) else error
    found = []
    for item in items:
        loc = tuple(item.get("loc", ()))
        if skip is not None:
            loc = tuple(part for part in loc if not skip(part))
        where, field, kept = place(loc)
        found.append(InputIssue(where, field, message_of(item, messages), value_of(item), kept))
    return found


def _plain_number(value: Any) -> Any:
    """1.0 -> 1, so that messages read `must be >= 0`."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
