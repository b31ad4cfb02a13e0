"""Mapping files: which column of a CRM or HR export is which portfolio field (docs/imports.md).

An edge: a mapping is TOML, read with the standard library's `tomllib` and validated by the
models below, every problem named with its key (`salesforce.toml, field columns.value: ...`).
Kinds: `crm` (opportunities and their roles, from an opportunity report), `team` (engineers,
from a roster or a wide skills matrix), `time_off` (date ranges per engineer) and `commitments`
(hours per week committed elsewhere, over a range of dates or ISO weeks, per engineer); and for
the service's records (issue 15) `actuals` (a timesheet: hours per engineer, opportunity and
date or ISO week) and `outcomes` (a CRM report of closed deals: won with the value, lost, ...).
Decides nothing about allocation; `imports.py` applies a mapping to a file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from allocator.errors import InputIssue, InvalidInputError, problems
from allocator.model import ISO_WEEK_PATTERN, Hours, Proficiency, Tier


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class FileOptions(_Part):
    """How the export is laid out."""

    delimiter: str | None = Field(
        None, min_length=1, max_length=1, description="CSV delimiter; sniffed when left out."
    )
    sheet: str | None = Field(None, description="Workbook sheet; the first one when left out.")
    missing: tuple[str, ...] = Field(
        (), description="Placeholder cells read as blank (missing), e.g. `unknown`, `n/a`."
    )
    ignore: tuple[str, ...] = Field(
        (), description="Columns read and dropped; any other unmapped column is an error."
    )
    decimal_comma: bool = Field(False, description="Numbers like `1.234,50` (else `1,234.50`).")


class Role(_Part):
    """One role a template gives an opportunity."""

    skill: str = Field(min_length=1)
    min_proficiency: Proficiency = 3
    hours: Hours
    weeks: int = Field(1, ge=1, le=52, description="Weeks the role lasts.")
    required: bool = True
    weeks_before_close: int | None = Field(
        None,
        ge=0,
        le=52,
        description="Start this many weeks before the close date's week (else the engage "
        "date's week, else week 1).",
    )


class Template(_Part):
    """The roles of an opportunity in a stage, optionally only for a product line or a deal
    size band; the first template that matches an opportunity gives its roles."""

    stage: str = Field(min_length=1, description="The stage after `[stages]` renaming.")
    product_line: str | None = Field(None, description="Only this product line (exact text).")
    min_value: float | None = Field(None, ge=0, description="Only deals worth at least this.")
    max_value: float | None = Field(None, ge=0, description="Only deals worth less than this.")
    roles: tuple[Role, ...] = Field((), description="Empty: the stage needs no presales.")

    def matches(self, stage: str, product_line: str, value: float) -> bool:
        return (
            self.stage == stage
            and (self.product_line is None or self.product_line == product_line)
            and (self.min_value is None or value >= self.min_value)
            and (self.max_value is None or value < self.max_value)
        )


class Tiers(_Part):
    """Customer tier from a tier column (`values`) or from account revenue (`revenue_a`,
    `revenue_b`: at least revenue_a is A, at least revenue_b is B, else C)."""

    values: dict[str, Tier] = Field(default_factory=dict, description="Cell text -> A, B or C.")
    revenue_a: float | None = Field(None, ge=0)
    revenue_b: float | None = Field(None, ge=0)


class Calendar(_Part):
    """The horizon an import writes when the portfolio has none yet."""

    horizon_weeks: int | None = Field(None, ge=1, le=52)
    horizon_start: str | None = Field(None, pattern=ISO_WEEK_PATTERN)


CRM_FIELDS = (
    "external_id",
    "customer",
    "account",
    "owner",
    "requester",
    "stage",
    "value",
    "win_probability",
    "close_date",
    "engage_date",
    "industry",
    "region",
    "tier",
    "revenue",
    "product_line",
    "type",
)
TEAM_FIELDS = (
    "external_id",
    "name",
    "region",
    "industries",
    "capacity_hours",
    "committed_hours",
    "cost_rate",
    "seniority_years",
    "title",
)
TIME_OFF_FIELDS = ("external_id", "start", "end", "hours_per_day")
COMMITMENT_FIELDS = ("external_id", "start", "end", "hours")
ACTUAL_FIELDS = ("engineer_id", "opportunity_id", "week", "hours")
OUTCOME_FIELDS = ("opportunity_id", "outcome", "value", "date")
OUTCOME_KINDS = ("won", "lost", "no_decision", "open")
"""What an outcome cell may become (`insight.records.OutcomeKind`)."""
FIELDS = {
    "crm": CRM_FIELDS,
    "team": TEAM_FIELDS,
    "time_off": TIME_OFF_FIELDS,
    "commitments": COMMITMENT_FIELDS,
    "actuals": ACTUAL_FIELDS,
    "outcomes": OUTCOME_FIELDS,
}
REQUIRED = {
    "crm": ("external_id", "stage", "value", "win_probability", "region"),
    "team": ("external_id", "region"),
    "time_off": ("external_id", "start", "end"),
    "commitments": ("external_id", "start", "hours"),
    "actuals": ACTUAL_FIELDS,
    "outcomes": ("opportunity_id", "outcome", "date"),
}


class Mapping(_Part):
    """A whole mapping file."""

    kind: Literal["crm", "team", "time_off", "commitments", "actuals", "outcomes"]
    file: FileOptions = Field(default_factory=FileOptions)
    columns: dict[str, str] = Field(description="Portfolio field -> column header.")
    win_probability_scale: float = Field(
        1.0, gt=0, description="100 when the export gives percentages."
    )
    stages: dict[str, str] = Field(
        default_factory=dict, description="CRM stage -> portfolio stage (unlisted: kept as is)."
    )
    skip_stages: tuple[str, ...] = Field(
        (), description="CRM stages left out (closed deals); each is counted in the report."
    )
    templates: tuple[Template, ...] = ()
    tiers: Tiers = Field(default_factory=Tiers)
    regions: dict[str, str] = Field(default_factory=dict, description="Cell text -> region.")
    types: dict[str, str] = Field(default_factory=dict, description="Cell text -> deal type.")
    industries: dict[str, str] = Field(
        default_factory=dict, description="Cell text -> industry (one vocabulary for CRM and HR)."
    )
    skills: dict[str, str] = Field(
        default_factory=dict,
        description="team: skills-matrix column -> skill id; each cell a level 1-5 or blank.",
    )
    list_separator: str = Field(";", min_length=1, description="Between items of a list cell.")
    hours_per_day: Hours = Field(8.0, description="time_off: hours of one working day off.")
    outcomes: dict[str, Literal["won", "lost", "no_decision", "open"]] = Field(
        default_factory=dict,
        description="outcomes: cell text (a CRM stage or status, compared without case) -> "
        "won, lost, no_decision or open; cells already one of these need no entry.",
    )
    calendar: Calendar = Field(default_factory=Calendar)

    @model_validator(mode="after")
    def _fields_known(self) -> Mapping:
        known = FIELDS[self.kind]
        unknown = [f for f in self.columns if f not in known]
        if unknown:
            raise ValueError(
                f"columns: unknown field {unknown[0]!r} for kind {self.kind}; expected some of "
                + ", ".join(known)
            )
        absent = [f for f in REQUIRED[self.kind] if f not in self.columns]
        if absent:
            raise ValueError(f"columns: {', '.join(absent)} must be mapped for kind {self.kind}")
        if self.kind == "crm" and not self.templates:
            raise ValueError("templates: a crm mapping needs at least one [[templates]] entry")
        return self


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file.

    >>> load_mapping("data/imports/salesforce.toml").kind
    'crm'
    """
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InvalidInputError([InputIssue(str(path), "", f"cannot be read: {reason}")]) from None
    return parse_mapping(text, path.name)


def parse_mapping(text: bytes, name: str) -> Mapping:
    """Check a mapping given as the bytes of a TOML file called `name` (an upload)."""
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InvalidInputError([InputIssue(name, "", f"is not valid TOML: {error}")]) from None
    try:
        return Mapping.model_validate(data)
    except ValidationError as error:

        def place(loc: tuple[str | int, ...]) -> tuple[str, str, tuple[str | int, ...]]:
            return name, ".".join(str(part) for part in loc), loc

        raise InvalidInputError(problems(error, place)) from None
