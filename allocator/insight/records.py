"""Actuals and outcomes: the records, reading them from files, and the plan they are read against.

- `Actual`: hours an engineer spent on an opportunity in an ISO week (`2026-W45`). Time is
  reported per **engineer-week** (a timesheet): an engineer who reported a week and did not
  list an opportunity spent 0 h on it that week; an engineer who reported nothing that week
  is *missing* (None), never 0.
- `Outcome`: an opportunity's result (`won` with the value won, `lost`, `no_decision`, `open`)
  and the date it was decided (or last seen open).
- `PlannedRun`: an accepted run's result and the ISO week its week 1 is (the horizon start
  the result recorded from its portfolio, else the week the run was filed under); `planned_hours`
  reads a history of runs as one plan: each ISO week is planned by the latest run that
  started on or before it and covers it.
- `planned_vs_actual`: planned against actual per engineer, opportunity and week.

The file format (CSV, or an .xlsx sheet with the same columns; header names exact, extra
columns ignored):

    actuals.csv   engineer_id, opportunity_id, week (ISO week, 2026-W45), hours (>= 0)
    outcomes.csv  opportunity_id, outcome (won | lost | no_decision | open), value (the value
                  won; required when won, empty otherwise), date (YYYY-MM-DD)

A bad row raises `InvalidInputError` naming file, row (the file's line), column and value.

>>> week_after("2026-W52", 2)  # 2026 has 53 ISO weeks
'2027-W01'
"""

from __future__ import annotations

import enum
import math
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from allocator.errors import InputIssue, InvalidInputError
from allocator.io.formats import ExcelLimits, read_csv_rows, read_workbook
from allocator.model import Allocation, Portfolio

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
ACTUALS_COLUMNS = ("engineer_id", "opportunity_id", "week", "hours")
OUTCOMES_COLUMNS = ("opportunity_id", "outcome", "value", "date")


def week_monday(week: str) -> date:
    """The Monday of an ISO week such as `2026-W45`; ValueError when it is not one."""
    found = _WEEK.match(week.strip())
    if not found:
        raise ValueError("must be an ISO week like 2026-W45")
    return date.fromisocalendar(int(found[1]), int(found[2]), 1)


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_after(week: str, weeks: int) -> str:
    """The ISO week `weeks` after `week`."""
    return iso_week(week_monday(week) + timedelta(weeks=weeks))


def weeks_between(first: str, last: str) -> int:
    """Whole weeks from `first` to `last` (negative when `last` is earlier)."""
    return (week_monday(last) - week_monday(first)).days // 7


class OutcomeKind(enum.StrEnum):
    """An opportunity's result."""

    WON = "won"
    LOST = "lost"
    NO_DECISION = "no_decision"
    OPEN = "open"


CLOSED = (OutcomeKind.WON, OutcomeKind.LOST, OutcomeKind.NO_DECISION)
"""Decided outcomes: the denominator of every win rate (no decision counts as not won)."""


class Actual(BaseModel):
    """Hours one engineer spent on one opportunity in one ISO week."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engineer_id: str = Field(min_length=1)
    opportunity_id: str = Field(min_length=1)
    week: str = Field(pattern=_WEEK.pattern, description="ISO week, like 2026-W45.")
    hours: float = Field(ge=0, le=168, description="Hours spent that week.")


class Outcome(BaseModel):
    """An opportunity's result and when it was decided (or last seen open)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opportunity_id: str = Field(min_length=1)
    outcome: OutcomeKind
    value: float | None = Field(None, ge=0, description="Value won (currency); won only.")
    date: date


# ---------------------------------------------------------------------------------------------
# Reading files


def read_rows(name: str, data: bytes, limits: ExcelLimits | None = None) -> list[dict[str, str]]:
    """The rows of a CSV file or of an .xlsx workbook's first sheet, every cell as text; blank
    rows are kept (and skipped when parsed) so that row numbers match the file's lines. A
    workbook is read within `limits` (`formats.read_workbook`: no compression bombs)."""
    if name.lower().endswith(".xlsx"):
        with tempfile.TemporaryDirectory(prefix="allocator-insight-") as folder:
            path = Path(folder) / "upload.xlsx"
            path.write_bytes(data)
            try:
                sheets = read_workbook(path, limits or ExcelLimits())
            except InvalidInputError as error:
                raise InvalidInputError(
                    [InputIssue(name, i.field, i.message, i.value) for i in error.issues]
                ) from None
        first = next(iter(sheets.values()), [])
        return [{str(k): str(v).strip() for k, v in row.items()} for row in first]
    rows = read_csv_rows(data, name)
    return [{k.strip(): v.strip() for k, v in row.items()} for row in rows]


def _missing_columns(name: str, rows: list[dict[str, str]], columns: Sequence[str]) -> None:
    """A file without one of the columns is refused as a whole (rows as JSON objects are
    completed with empty cells first, see `text_rows`)."""
    if not rows:
        return
    absent = [c for c in columns if c not in rows[0]]
    if absent:
        issue = InputIssue(name, "", f"missing column(s): {', '.join(absent)}")
        raise InvalidInputError([issue])


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError
    return value


def parse_actuals(
    name: str, rows: list[dict[str, str]], locate: Callable[[int], str] | None = None
) -> list[Actual]:
    """Actuals from rows (`read_rows`); every bad cell is reported, nothing half-read."""
    _missing_columns(name, rows, ACTUALS_COLUMNS)
    columns = ACTUALS_COLUMNS
    issues: list[InputIssue] = []
    found: list[Actual] = []
    seen: dict[tuple[str, str, str], int] = {}
    for index, given in enumerate(rows):
        row = {column: given.get(column, "") for column in columns}
        if not any(row.values()):
            continue  # A blank line.
        where = locate(index) if locate else f"{name} row {index + 2}"
        before = len(issues)
        for column in ("engineer_id", "opportunity_id"):
            if not row[column]:
                issues.append(InputIssue(where, column, "must not be empty"))
        try:
            week_monday(row["week"])
        except ValueError as error:
            issues.append(InputIssue(where, "week", str(error), row["week"] or None))
        try:
            hours = _number(row["hours"])
            if not 0 <= hours <= 168:
                raise ValueError
        except ValueError:
            issues.append(
                InputIssue(where, "hours", "must be a number of hours 0..168", row["hours"] or None)
            )
        if len(issues) > before:
            continue
        key = (row["engineer_id"], row["opportunity_id"], row["week"])
        if key in seen:
            message = f"same engineer, opportunity and week as row {seen[key]}"
            issues.append(InputIssue(where, "", message))
            continue
        seen[key] = index + 2
        found.append(Actual(engineer_id=key[0], opportunity_id=key[1], week=key[2], hours=hours))
    if issues:
        raise InvalidInputError(issues)
    return found


def parse_outcomes(
    name: str, rows: list[dict[str, str]], locate: Callable[[int], str] | None = None
) -> list[Outcome]:
    """Outcomes from rows (`read_rows`); one per opportunity."""
    _missing_columns(name, rows, OUTCOMES_COLUMNS)
    columns = OUTCOMES_COLUMNS
    issues: list[InputIssue] = []
    found: list[Outcome] = []
    seen: dict[str, int] = {}
    kinds = ", ".join(kind.value for kind in OutcomeKind)
    for index, given in enumerate(rows):
        row = {column: given.get(column, "") for column in columns}
        if not any(row.values()):
            continue  # A blank line.
        where = locate(index) if locate else f"{name} row {index + 2}"
        before = len(issues)
        if not row["opportunity_id"]:
            issues.append(InputIssue(where, "opportunity_id", "must not be empty"))
        kind = OutcomeKind._value2member_map_.get(row["outcome"].lower())
        if kind is None:
            issues.append(
                InputIssue(where, "outcome", f"must be one of {kinds}", row["outcome"] or None)
            )
        value: float | None = None
        if row["value"]:
            try:
                value = _number(row["value"])
                if value < 0:
                    raise ValueError
            except ValueError:
                issues.append(
                    InputIssue(where, "value", "must be a number >= 0", row["value"] or None)
                )
        if kind is OutcomeKind.WON and not row["value"]:
            issues.append(InputIssue(where, "value", "a won deal needs the value won"))
        if kind is not None and kind is not OutcomeKind.WON and row["value"]:
            issues.append(
                InputIssue(where, "value", "only a won deal has a value", row["value"] or None)
            )
        try:
            decided = date.fromisoformat(row["date"])
        except ValueError:
            issues.append(
                InputIssue(where, "date", "must be a date YYYY-MM-DD", row["date"] or None)
            )
        if len(issues) > before or kind is None:
            continue
        if row["opportunity_id"] in seen:
            message = f"opportunity already has an outcome in row {seen[row['opportunity_id']]}"
            issues.append(InputIssue(where, "opportunity_id", message, row["opportunity_id"]))
            continue
        seen[row["opportunity_id"]] = index + 2
        found.append(
            Outcome(opportunity_id=row["opportunity_id"], outcome=kind, value=value, date=decided)
        )
    if issues:
        raise InvalidInputError(issues)
    return found


def text_rows(
    records: Sequence[Mapping[str, object]], columns: Sequence[str]
) -> list[dict[str, str]]:
    """JSON objects as rows of text cells, a missing or null field as an empty cell."""
    return [
        {c: "" if r.get(c) is None else str(r.get(c)).strip() for c in columns} for r in records
    ]


def load_actuals(path: str | Path) -> list[Actual]:
    """Actuals from a CSV or .xlsx file (see the module doc for the columns)."""
    file = Path(path)
    return parse_actuals(file.name, read_rows(file.name, _bytes(file)))


def load_outcomes(path: str | Path) -> list[Outcome]:
    """Outcomes from a CSV or .xlsx file (see the module doc for the columns)."""
    file = Path(path)
    return parse_outcomes(file.name, read_rows(file.name, _bytes(file)))


def _bytes(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as error:
        raise InvalidInputError(
            [InputIssue(str(file), "", f"cannot be read: {error.strerror}")]
        ) from None


def actuals_frame(actuals: Iterable[Actual]) -> pd.DataFrame:
    """Actuals as a table with the file's columns."""
    return pd.DataFrame([a.model_dump() for a in actuals], columns=list(ACTUALS_COLUMNS))


def outcomes_frame(outcomes: Iterable[Outcome]) -> pd.DataFrame:
    """Outcomes as a table with the file's columns (value empty unless won)."""
    rows = [{**o.model_dump(mode="json"), "outcome": o.outcome.value} for o in outcomes]
    return pd.DataFrame(rows, columns=list(OUTCOMES_COLUMNS))


def check_references(
    portfolio: Portfolio, actuals: Sequence[Actual] = (), outcomes: Sequence[Outcome] = ()
) -> None:
    """Raise `InvalidInputError` for an engineer or opportunity the portfolio does not know."""
    engineers = portfolio.engineer_by_id()
    opportunities = portfolio.opportunity_by_id()
    issues = []
    for index, actual in enumerate(actuals):
        if actual.engineer_id not in engineers:
            issues.append(
                InputIssue(
                    f"actual {index + 1}", "engineer_id", "unknown engineer", actual.engineer_id
                )
            )
        if actual.opportunity_id not in opportunities:
            issues.append(
                InputIssue(
                    f"actual {index + 1}",
                    "opportunity_id",
                    "unknown opportunity",
                    actual.opportunity_id,
                )
            )
    for index, outcome in enumerate(outcomes):
        if outcome.opportunity_id not in opportunities:
            issues.append(
                InputIssue(
                    f"outcome {index + 1}",
                    "opportunity_id",
                    "unknown opportunity",
                    outcome.opportunity_id,
                )
            )
    if issues:
        raise InvalidInputError(issues)


# ---------------------------------------------------------------------------------------------
# The plan of a history of runs, and planned vs actual


@dataclass(frozen=True)
class PlannedRun:
    """An accepted run: its result, and the ISO week it was filed under (`week`)."""

    week: str
    allocation: Allocation
    horizon_weeks: int

    @property
    def start(self) -> str:
        """The ISO week the run's week 1 is: the horizon start its result recorded (the
        portfolio's calendar) when it has one, else the week it was filed under."""
        return self.allocation.horizon_start or self.week


Key = tuple[str, str, str]
"""(engineer id, opportunity id, ISO week)."""


def plan_weeks(runs: Sequence[PlannedRun]) -> dict[str, tuple[PlannedRun, int]]:
    """ISO week -> (the run that plans it, that week's number in the run): the latest run that
    started on or before the week and whose horizon covers it. A run starts in its `start`
    week (its portfolio's horizon start, else the week it was filed under)."""
    ordered = sorted(runs, key=lambda run: week_monday(run.start))
    weeks: dict[str, tuple[PlannedRun, int]] = {}
    for position, run in enumerate(ordered):
        following = ordered[position + 1].start if position + 1 < len(ordered) else None
        for number in range(1, run.horizon_weeks + 1):
            week = week_after(run.start, number - 1)
            if following is not None and weeks_between(following, week) >= 0:
                break
            weeks[week] = (run, number)
    return weeks


def planned_hours(runs: Sequence[PlannedRun], until: str | None = None) -> dict[Key, float]:
    """(engineer, opportunity, ISO week) -> hours planned, over every planned week (up to and
    including `until` when given)."""
    planned: dict[Key, float] = defaultdict(float)
    for week, (run, number) in plan_weeks(runs).items():
        if until is not None and weeks_between(week, until) < 0:
            continue
        for a in run.allocation.assignments:
            if a.start_week <= number <= a.end_week:
                planned[(a.engineer_id, a.opportunity_id, week)] += a.hours
    return dict(planned)


def last_week(actuals: Iterable[Actual]) -> str | None:
    """The latest ISO week anyone reported: the end of the actuals' period. Planned weeks after
    it are not yet due and count as neither reported nor missing."""
    weeks = {a.week for a in actuals}
    return max(weeks, key=week_monday) if weeks else None


def reported_weeks(actuals: Iterable[Actual]) -> set[tuple[str, str]]:
    """(engineer, ISO week) pairs with a timesheet: at least one actuals row."""
    return {(a.engineer_id, a.week) for a in actuals}


def actual_hours(actuals: Iterable[Actual]) -> dict[Key, float]:
    return {(a.engineer_id, a.opportunity_id, a.week): a.hours for a in actuals}


class PlannedActual(BaseModel):
    """Planned against actual hours for one engineer, opportunity and ISO week."""

    engineer_id: str
    opportunity_id: str
    week: str
    planned: float | None = Field(description="Hours planned; null when no run plans the week.")
    actual: float | None = Field(
        description="Hours spent; null when the engineer reported nothing that week."
    )
    difference: float | None = Field(
        description="actual - planned (0 planned when no run plans the week); null when missing."
    )


def planned_vs_actual(runs: Sequence[PlannedRun], actuals: Sequence[Actual]) -> list[PlannedActual]:
    """Every (engineer, opportunity, week) planned or reported, planned against actual, sorted.

    >>> from allocator.model import Allocation, Assignment, SolveStatus
    >>> plan = Allocation(status=SolveStatus.OPTIMAL, assignments=[Assignment(
    ...     engineer_id="E1", opportunity_id="O1", demand_id="O1/x", hours=8, end_week=2)])
    >>> rows = planned_vs_actual([PlannedRun("2026-W10", plan, 2)],
    ...     [Actual(engineer_id="E1", opportunity_id="O1", week="2026-W10", hours=10)])
    >>> [(r.week, r.planned, r.actual) for r in rows]
    [('2026-W10', 8.0, 10.0), ('2026-W11', 8.0, None)]
    """
    planned = planned_hours(runs)
    spent = actual_hours(actuals)
    reported = reported_weeks(actuals)
    covered = plan_weeks(runs)
    rows = []
    for key in sorted(set(planned) | set(spent)):
        engineer, _, week = key
        plan = planned.get(key, 0.0) if week in covered else None
        actual = spent.get(key, 0.0) if (engineer, week) in reported else None
        difference = None if actual is None else actual - (plan or 0.0)
        rows.append(
            PlannedActual(
                engineer_id=key[0],
                opportunity_id=key[1],
                week=week,
                planned=plan,
                actual=actual,
                difference=difference,
            )
        )
    return rows


def opportunity_hours(actuals: Iterable[Actual]) -> dict[str, float]:
    """Opportunity id -> actual hours over all reported weeks."""
    hours: dict[str, float] = defaultdict(float)
    for a in actuals:
        hours[a.opportunity_id] += a.hours
    return dict(hours)


def engineer_cost(
    portfolio: Portfolio, level_rates: Mapping[str, float] | None = None
) -> dict[str, float | None]:
    """Engineer id -> cost per hour: the engineer's own `cost_rate`, or when that is 0 the
    rate of their level (`title`) in `level_rates`; None when neither is known."""
    rates = level_rates or {}
    found: dict[str, float | None] = {}
    for e in portfolio.engineers:
        found[e.id] = e.cost_rate if e.cost_rate > 0 else rates.get(e.title)
    return found


def period(actuals: Sequence[Actual] | None, outcomes: Sequence[Outcome]) -> str:
    """The period a report covers: first and last ISO week of the actuals (None: a report that
    reads no actuals), first and last decision date of the outcomes."""
    parts = []
    if actuals is None:
        pass
    elif actuals:
        weeks = sorted({a.week for a in actuals}, key=week_monday)
        parts.append(f"actuals {weeks[0]}..{weeks[-1]} ({len(weeks)} weeks)")
    else:
        parts.append("no actuals")
    closed = sorted(o.date for o in outcomes if o.outcome in CLOSED)
    parts.append(f"outcomes decided {closed[0]}..{closed[-1]}" if closed else "no decided outcomes")
    return "; ".join(parts)
