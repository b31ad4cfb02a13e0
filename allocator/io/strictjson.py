"""Strict JSON: the one reader of JSON that comes from outside (request bodies, uploaded and
local files), bounded so that no document can crash or exhaust what reads it.

An edge beside `formats`. Refused, each as an `InputIssue` naming where it is (`$.portfolio.
horizon_weeks`) and what was there: NaN and Infinity (which Python's `json` accepts), numbers
that overflow a float (`1e999`), integers of more than `MAX_INT_DIGITS` digits (a 5,000-digit
integer would raise deep inside the interpreter), nesting deeper than `max_depth` (measured
before parsing, so that no parser recurses into it), and text that is not UTF-8. Booleans
where numbers belong are the domain's to refuse (the records are strict about them).

>>> loads(b'{"a": [1, 2.5]}', "request body")
{'a': [1, 2.5]}
>>> try:
...     loads(b'{"portfolio": {"horizon_weeks": Infinity}}', "request body")
... except InvalidInputError as error:
...     print(error)
$.portfolio.horizon_weeks: must be a finite number (got 'Infinity')
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

from allocator.errors import InputIssue, InvalidInputError, json_place

DEFAULT_MAX_DEPTH = 32
"""Deepest nesting accepted unless the caller says otherwise (a portfolio needs 4, a scenario
set 8)."""
MAX_INT_DIGITS = 40
"""Most digits of a JSON integer: far above any field's bound, far below the interpreter's."""
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SUSPECT = re.compile(rf"NaN|Infinity|\d{{{MAX_INT_DIGITS + 1}}}|[eE][+-]?\d{{3}}")
"""What may be a refused number, outside strings; only then are numbers parsed one by one."""


class JSONSyntaxError(InvalidInputError):
    """The text is not JSON at all (the issue names its line and, for bodies, column)."""


class _Refused:
    """A value parsed but refused; its place is found after parsing."""

    __slots__ = ("message", "text")

    def __init__(self, message: str, text: str) -> None:
        self.message = message
        self.text = text


def loads(
    content: bytes | str, where: str, max_depth: int = DEFAULT_MAX_DEPTH, column: bool = False
) -> Any:
    """The JSON document in `content`; InvalidInputError naming every value refused (with
    its JSON path) or, for text that is not JSON at all, JSONSyntaxError naming the line (and
    the column when `column`); `where` names the document: `request body`, `policy.json`."""
    if isinstance(content, bytes):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError([InputIssue(where, "", "is not UTF-8 text")]) from None
    else:
        text = content
    outside = _outside_strings(text)
    depth = _depth(outside)
    if depth > max_depth:
        message = f"nests {depth} levels deep; at most {max_depth} are accepted"
        raise InvalidInputError([InputIssue(where, "", message, depth)])
    refused: list[_Refused] = []

    def refuse(message: str, token: str) -> _Refused:
        found = _Refused(message, token if len(token) <= 40 else f"{token[:20]}...{token[-8:]}")
        refused.append(found)
        return found

    def number(token: str) -> float | _Refused:
        value = float(token)
        return value if math.isfinite(value) else refuse("must be a finite number", token)

    def integer(token: str) -> int | _Refused:
        if len(token.lstrip("-")) > MAX_INT_DIGITS:
            return refuse(f"has more than {MAX_INT_DIGITS} digits", token)
        return int(token)

    try:
        if _SUSPECT.search(outside) is None:
            data = json.loads(text)  # No callbacks: as fast as JSON gets.
        else:
            data = json.loads(
                text,
                parse_float=number,
                parse_int=integer,
                parse_constant=lambda token: refuse("must be a finite number", token),
            )
    except json.JSONDecodeError as error:
        place = f"{where} line {error.lineno}" + (f" column {error.colno}" if column else "")
        raise JSONSyntaxError([InputIssue(place, "", f"is not valid JSON: {error.msg}")]) from None
    except RecursionError:  # Not reached below max_depth; kept so that nothing escapes.
        raise InvalidInputError([InputIssue(where, "", "nests too deep")]) from None
    if refused:
        raise InvalidInputError(_places(data))
    return data


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in `text` (strings skipped), without parsing it.

    >>> nesting_depth('{"a": [[1], "[[\\\\"], "b": {"c": "\\\\"{"}}')
    3
    """
    return _depth(_outside_strings(text))


def _outside_strings(text: str) -> str:
    """`text` without its JSON strings (escaped backslashes and quotes removed first, so that
    every quote left opens or closes one)."""
    return "".join(text.replace("\\\\", "").replace('\\"', "").split('"')[::2])


def _depth(outside: str) -> int:
    brackets = _NOT_BRACKET.sub("", outside)
    opens = (1 if char in "[{" else -1 for char in brackets)
    return max(itertools.accumulate(opens), default=0)


def _places(data: Any) -> list[InputIssue]:
    """Every refused value in `data`, with its JSON path (an iterative walk: no recursion)."""
    issues: list[InputIssue] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, _Refused):
            where, field, _ = json_place(loc)
            if len(loc) >= 2 and isinstance(loc[-1], int):  # `$.pins[3]`, not `$.pins.3`.
                where, field = json_place(loc[:-1])[0], f"{loc[-2]}[{loc[-1]}]"
            issues.append(InputIssue(where, field, value.message, value.text, loc))
        elif isinstance(value, dict):
            stack.extend(((*loc, str(key)), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend(((*loc, index), item) for index, item in enumerate(value))
    return sorted(issues, key=lambda issue: str(issue))
