"""Imports: a CRM opportunity report, an HR roster or skills matrix, time off as date ranges, or
commitments elsewhere (hours per week over a range of dates or ISO weeks), read through a
mapping (`mapping.py`) into a CSV portfolio folder (docs/imports.md).

An edge: reads .csv (delimiter sniffed or given) and .xlsx exports, turns each row into the
raw record `model.build_portfolio` validates, and reports every row it cannot import with
file, row, column and value. Blank cells, and the placeholders the mapping lists under
`file.missing`, are missing values, never a category. Rows left out on purpose (closed stages,
stages that need nobody, roles after the horizon) are counted with their reason. Nothing is
written when a row is bad, unless the caller asks to skip bad rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from allocator.errors import InputIssue, InvalidInputError
from allocator.io.formats import (
    ExcelLimits,
    Table,
    load_portfolio,
    read_workbook,
    write_portfolio_csv,
)
from allocator.io.mapping import OUTCOME_KINDS, Mapping, Template
from allocator.model import (
    OpportunityType,
    Portfolio,
    build_portfolio,
    calendar_week,
    week_monday,
)

DEFAULT_HORIZON_WEEKS = 4


@dataclass
class ImportReport:
    """What an import read, kept, left out (with reasons) and could not read."""

    source: str
    rows: int = 0
    imported: int = 0
    left_out: list[str] = field(default_factory=list)
    bad: list[InputIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as text, one line per fact."""
        skipped = f", {len(self.bad)} bad rows skipped" if self.bad else ""
        lines = [
            f"{self.source}: {self.rows} rows read, {self.imported} imported, "
            f"{len(self.left_out)} left out{skipped}"
        ]
        lines += [f"left out: {reason}" for reason in self.left_out]
        lines += [f"skipped: {issue}" for issue in self.bad]
        lines += [f"note: {note}" for note in self.notes]
        return lines


@dataclass(frozen=True)
class Horizon:
    """Week 1 and the number of weeks the imported records are placed in."""

    start: str
    weeks: int

    def week(self, day: date) -> int:
        return calendar_week(self.start, day)


# ---------------------------------------------------------------------------------------------
# Reading an export


def read_export(path: Path, mapping: Mapping, limits: ExcelLimits | None = None) -> Table:
    """The rows of a .csv or .xlsx export as text keyed by header; placeholders blanked. A
    workbook is read within `limits` (an upload's, from the service's settings)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidInputError([InputIssue(str(path), "", "no such file")])
    if suffix in (".xlsx", ".xlsm"):
        sheets = read_workbook(path, limits or ExcelLimits())
        name = mapping.file.sheet or next(iter(sheets), None)
        if name is None or name not in sheets:
            raise InvalidInputError(
                [InputIssue(path.name, "sheet", "no such sheet", mapping.file.sheet)]
            )
        table = sheets[name]
    elif suffix in (".csv", ".txt", ".tsv"):
        table = _read_csv(path, mapping.file.delimiter)
    else:
        raise InvalidInputError([InputIssue(path.name, "", "expected a .csv or .xlsx export")])
    missing = {m.strip().lower() for m in mapping.file.missing}
    return [
        {k.strip(): ("" if v.strip().lower() in missing else v.strip()) for k, v in row.items()}
        for row in table
    ]


def _read_csv(path: Path, delimiter: str | None) -> Table:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError([InputIssue(path.name, "", f"cannot be read: {error}")]) from None
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip() for h in next(reader, [])]
    if len(header) == 1:
        for other in ";\t|,":
            if other != delimiter and other in header[0]:
                shown = {"\t": "a tab"}.get(other, repr(other))
                raise InvalidInputError(
                    [
                        InputIssue(
                            path.name,
                            "",
                            f"the header reads as one column: the file looks separated by "
                            f"{shown}, not {delimiter!r}; set file.delimiter in the mapping",
                            header[0][:60],
                        )
                    ]
                )
    table: Table = []
    for cells in reader:
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            where = f"{path.name} row {reader.line_num}"
            message = f"has {len(cells)} values, the header {len(header)} columns"
            raise InvalidInputError([InputIssue(where, "", message)])
        table.append(dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False)))
    return table


def _check_columns(path: Path, table: Table, mapping: Mapping, extra: set[str]) -> None:
    """Every mapped column exists; every other column is mapped, a skill or ignored."""
    if not table:
        raise InvalidInputError([InputIssue(path.name, "", "holds no rows")])
    header = list(table[0])
    issues = [
        InputIssue(path.name, f"columns.{name}", "no such column in the file", column)
        for name, column in mapping.columns.items()
        if column not in header
    ]
    issues += [
        InputIssue(path.name, column, "no such column in the file (mapped under skills)")
        for column in mapping.skills
        if column not in header
    ]
    known = set(mapping.columns.values()) | set(mapping.skills) | set(mapping.file.ignore) | extra
    issues += [
        InputIssue(
            path.name,
            column,
            "unknown column: map it under [columns] (or [skills]) or list it in file.ignore",
        )
        for column in header
        if column not in known and column
    ]
    if issues:
        raise InvalidInputError(issues)


class _Row:
    """One row's cells by portfolio field; problems are collected with file, row and column."""

    def __init__(self, where: str, cells: dict[str, str], mapping: Mapping) -> None:
        self.where = where
        self.cells = cells
        self.mapping = mapping
        self.issues: list[InputIssue] = []

    def text(self, name: str) -> str:
        column = self.mapping.columns.get(name)
        return self.cells.get(column, "") if column else ""

    def problem(self, name: str, message: str, value: Any = None) -> None:
        column = self.mapping.columns.get(name, name)
        self.issues.append(InputIssue(self.where, column, message, value))

    def required(self, name: str) -> str:
        text = self.text(name)
        if not text:
            self.problem(name, "is required (the cell is blank)")
        return text

    def number(self, name: str, text: str | None = None) -> float | None:
        raw = self.text(name) if text is None else text
        if not raw:
            return None
        value = parse_number(raw, self.mapping.file.decimal_comma)
        if value is None:
            self.problem(name, "must be a number", raw)
        return value

    def day(self, name: str) -> date | None:
        raw = self.text(name)
        if not raw:
            return None
        found = parse_date(raw)
        if found is None:
            self.problem(name, "must be a date (YYYY-MM-DD, DD.MM.YYYY or MM/DD/YYYY)", raw)
        return found


def parse_number(text: str, decimal_comma: bool = False) -> float | None:
    """`$1,234.50` -> 1234.5; `1.234,50` with `decimal_comma`; None when not a finite number.

    >>> parse_number("USD 26,768"), parse_number("1.234,5", True), parse_number("n/a")
    (26768.0, 1234.5, None)
    """
    cleaned = re.sub(r"[^\d,.\-+eE%]", "", text.replace("\u00a0", "")).rstrip("%")
    cleaned = cleaned.replace(".", "").replace(",", ".") if decimal_comma else cleaned
    cleaned = cleaned.replace(",", "")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_date(text: str) -> date | None:
    """An ISO date (or date-time), `DD.MM.YYYY` or `MM/DD/YYYY`; None when none of these."""
    text = text.strip()
    for pattern in (None, "%d.%m.%Y", "%m/%d/%Y"):
        try:
            if pattern is None:
                return date.fromisoformat(text[:10])
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


# ---------------------------------------------------------------------------------------------
# Rows -> records


def _data_rows(
    path: Path, table: Table, mapping: Mapping, report: ImportReport
) -> Iterator[tuple[int, _Row]]:
    """(row number, row) of every non-blank row, once the columns are checked; counted."""
    _check_columns(path, table, mapping, set())
    for index, cells in enumerate(table):
        if any(cells.values()):
            report.rows += 1
            yield index + 2, _Row(f"{path.name} row {index + 2}", cells, mapping)


@dataclass
class Records:
    """What one export becomes: records with the file rows they came from."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    demands: list[dict[str, Any]] = field(default_factory=list)
    demand_rows: list[int] = field(default_factory=list)
    skills: list[str] = field(default_factory=list)


def crm_records(
    path: Path, table: Table, mapping: Mapping, horizon: Horizon, report: ImportReport
) -> Records:
    """Opportunities and their demands from an opportunity report."""
    out = Records()
    seen: set[str] = set()
    for row_number, row in _data_rows(path, table, mapping, report):
        crm_stage = row.required("stage")
        if crm_stage in mapping.skip_stages:
            shown = row.text("external_id") or "(no id)"
            report.left_out.append(
                f"{row.where}: {shown}: stage {crm_stage!r} is under skip_stages"
            )
            continue
        opp_id = row.required("external_id")
        if opp_id in seen:
            row.problem("external_id", "duplicate id", opp_id)
        seen.add(opp_id)
        stage = mapping.stages.get(crm_stage, crm_stage)
        value = row.number("value") if row.required("value") else None
        probability = row.number("win_probability") if row.required("win_probability") else None
        if probability is not None:
            probability /= mapping.win_probability_scale
            if not 0 <= probability <= 1:
                text = row.text("win_probability")
                scale = mapping.win_probability_scale
                row.problem("win_probability", f"must be within 0..{scale:g}", text)
        region_text = row.required("region")
        record: dict[str, Any] = {
            "id": opp_id,
            "external_id": opp_id,
            "stage": stage,
            "region": mapping.regions.get(region_text, region_text),
            "value": value,
            "win_probability": probability,
        }
        for name in ("customer", "account", "owner", "requester"):
            if row.text(name):
                record[name] = row.text(name)
        if row.text("industry"):
            record["industry"] = mapping.industries.get(row.text("industry"), row.text("industry"))
        record["tier"] = _tier(row, mapping, report)
        if row.text("type"):
            kind = mapping.types.get(row.text("type"), row.text("type"))
            if kind not in {t.value for t in OpportunityType}:
                row.problem("type", "unknown deal type; map it under [types]", row.text("type"))
            record["type"] = kind
        close, engage = row.day("close_date"), row.day("engage_date")
        product = row.text("product_line")
        template = None
        if value is not None and not row.issues:
            template = next(
                (t for t in mapping.templates if t.matches(stage, product, value)), None
            )
            if template is None:
                shown = f"stage {stage!r}, product line {product!r}, value {value:g}"
                row.problem(
                    "stage",
                    f"no template matches ({shown}): add a [[templates]] entry or list the "
                    "stage under skip_stages",
                    crm_stage,
                )
        if row.issues:
            report.bad.extend(row.issues)
            continue
        assert template is not None
        demands = _roles(opp_id, template, close, engage, horizon)
        if not demands:
            why = (
                f"stage {stage!r} needs no presales (its template has no roles)"
                if not template.roles
                else f"its roles start after the horizon (close date {close})"
            )
            report.left_out.append(f"{row.where}: {opp_id}: {why}")
            continue
        out.records.append(record)
        out.rows.append(row_number)
        out.demands += demands
        out.demand_rows += [row_number] * len(demands)
        out.skills += [d["skill"] for d in demands]
        report.imported += 1
    return out


def _tier(row: _Row, mapping: Mapping, report: ImportReport) -> str:
    text = row.text("tier")
    if text:
        tier = mapping.tiers.values.get(text, text if text in ("A", "B", "C") else None)
        if tier is None:
            row.problem("tier", "unknown tier; map it under [tiers.values]", text)
            return "C"
        return tier
    revenue = row.number("revenue")
    a, b = mapping.tiers.revenue_a, mapping.tiers.revenue_b
    if revenue is not None and (a is not None or b is not None):
        if a is not None and revenue >= a:
            return "A"
        return "B" if b is not None and revenue >= b else "C"
    note = "tier not given: tier C (the default) used"
    if note not in report.notes:
        report.notes.append(note)
    return "C"


def _roles(
    opp_id: str, template: Template, close: date | None, engage: date | None, horizon: Horizon
) -> list[dict[str, Any]]:
    """The template's roles placed in the horizon; none when no required role falls in it."""
    demands: list[dict[str, Any]] = []
    for role in template.roles:
        if role.weeks_before_close is not None and close is not None:
            start = horizon.week(close) - role.weeks_before_close
        elif engage is not None:
            start = horizon.week(engage)
        else:
            start = 1
        start = max(1, start)
        if start > horizon.weeks:
            continue
        demands.append(
            {
                "opportunity_id": opp_id,
                "skill": role.skill,
                "min_proficiency": role.min_proficiency,
                "hours": role.hours,
                "start_week": start,
                "end_week": min(horizon.weeks, start + role.weeks - 1),
                "required": role.required,
            }
        )
    return demands if any(d["required"] for d in demands) else []


def team_records(path: Path, table: Table, mapping: Mapping, report: ImportReport) -> Records:
    """Engineers from a roster; skills from a wide matrix (one column per skill, level 1-5)."""
    out = Records()
    seen: set[str] = set()
    for row_number, row in _data_rows(path, table, mapping, report):
        cells = row.cells
        eng_id = row.required("external_id")
        if eng_id in seen:
            row.problem("external_id", "duplicate id", eng_id)
        seen.add(eng_id)
        region = row.required("region")
        record: dict[str, Any] = {
            "id": eng_id,
            "external_id": eng_id,
            "region": mapping.regions.get(region, region),
        }
        for name in ("name", "title"):
            if row.text(name):
                record[name] = row.text(name)
        for name in ("capacity_hours", "committed_hours", "cost_rate", "seniority_years"):
            number = row.number(name)
            if number is not None:
                record[name] = number
        if row.text("industries"):
            parts = row.text("industries").split(mapping.list_separator)
            record["industries"] = [
                mapping.industries.get(p.strip(), p.strip()) for p in parts if p.strip()
            ]
        skills: dict[str, int] = {}
        for column, skill in mapping.skills.items():
            text = cells.get(column, "")
            level = parse_number(text) if text else 0.0
            if level is None or not level.is_integer() or not 0 <= level <= 5:
                row.issues.append(
                    InputIssue(row.where, column, "must be a level 1-5 (0 or blank: none)", text)
                )
            elif level:
                skills[skill] = int(level)
        record["skills"] = skills
        if row.issues:
            report.bad.extend(row.issues)
            continue
        out.records.append(record)
        out.rows.append(row_number)
        report.imported += 1
    out.skills = list(mapping.skills.values())
    return out


def time_off_records(
    path: Path, table: Table, mapping: Mapping, known: set[str], report: ImportReport
) -> dict[str, dict[str, float]]:
    """Engineer id -> ISO week -> hours off, from date ranges (working days Monday-Friday)."""
    off: dict[str, dict[str, float]] = {}
    for _, row in _data_rows(path, table, mapping, report):
        eng_id = row.required("external_id")
        if eng_id and eng_id not in known:
            row.problem("external_id", "unknown engineer (import the team first)", eng_id)
        first, last = row.day("start"), row.day("end")
        if first is None and not row.text("start"):
            row.required("start")
        if last is None and not row.text("end"):
            row.required("end")
        if first and last and last < first:
            row.problem("end", f"is before the start {first}", row.text("end"))
        per_day = row.number("hours_per_day")
        if row.issues or first is None or last is None:
            report.bad.extend(row.issues)
            continue
        hours = mapping.hours_per_day if per_day is None else per_day
        weeks = off.setdefault(eng_id, {})
        day = first
        while day <= last:
            if day.weekday() < 5:
                year, week, _ = day.isocalendar()
                key = f"{year}-W{week:02d}"
                weeks[key] = round(weeks.get(key, 0.0) + hours, 2)
            day += timedelta(days=1)
        report.imported += 1
    return off


def commitment_records(
    path: Path, table: Table, mapping: Mapping, known: set[str], report: ImportReport
) -> dict[str, dict[str, float]]:
    """Engineer id -> `FIRST..LAST` ISO weeks -> hours per week committed elsewhere, from rows
    giving a start and (optionally) an end, each a date or an ISO week; the end defaults to the
    start's week."""
    committed: dict[str, dict[str, float]] = {}
    for _, row in _data_rows(path, table, mapping, report):
        eng_id = row.required("external_id")
        if eng_id and eng_id not in known:
            row.problem("external_id", "unknown engineer (import the team first)", eng_id)
        if not row.text("start"):
            row.required("start")
        first = _iso_week_cell(row, "start")
        last = _iso_week_cell(row, "end") if row.text("end") else first
        if first and last and week_monday(last) < week_monday(first):
            row.problem("end", f"is before the start {first}", row.text("end"))
        hours = row.number("hours")
        if hours is None and not row.text("hours"):
            row.required("hours")
        elif hours is not None and not 0 <= hours <= 168:
            row.problem("hours", "must be between 0 and 168 hours per week", row.text("hours"))
        if row.issues or first is None or last is None or hours is None:
            report.bad.extend(row.issues)
            continue
        weeks = committed.setdefault(eng_id, {})
        key = f"{first}..{last}"
        weeks[key] = round(weeks.get(key, 0.0) + hours, 2)
        report.imported += 1
    return committed


def _iso_week_cell(row: _Row, name: str) -> str | None:
    """A cell holding an ISO week (`2026-W50`) or a date, as the ISO week; None when bad."""
    text = row.text(name).strip().upper()
    if re.fullmatch(r"\d{4}-W\d{2}", text):
        try:
            week_monday(text)
        except ValueError:
            row.problem(name, "is no ISO week", row.text(name))
            return None
        return text
    day = row.day(name)
    if day is None:
        return None
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


# ---------------------------------------------------------------------------------------------
# Actuals and outcomes: rows of the service's plain format (`insight.records`)


@dataclass
class RecordRows:
    """A timesheet or outcomes export as rows of the plain format (`engineer_id,
    opportunity_id, week, hours` or `opportunity_id, outcome, value, date`, text cells), with
    the export's rows each came from, for messages."""

    rows: list[dict[str, str]]
    sources: list[list[int]]
    report: ImportReport

    def locate(self, index: int) -> str:
        """Where plain row `index` came from: `timesheet.csv rows 2, 5`."""
        lines = self.sources[index]
        word = "row" if len(lines) == 1 else "rows"
        return f"{self.report.source} {word} {', '.join(map(str, lines))}"


def record_rows(
    source: Path, mapping: Mapping, *, skip_bad: bool = False, limits: ExcelLimits | None = None
) -> RecordRows:
    """Read an `actuals` or `outcomes` export through its mapping. Timesheet rows by date are
    summed per engineer, opportunity and ISO week; an outcome cell is mapped by `[outcomes]`;
    a value is kept for won deals only (a CRM report gives lost deals their amount too). Every
    bad row is reported with file, row, column and value (`InvalidInputError`) unless
    `skip_bad`, which keeps the good rows and lists the bad ones in the report."""
    if mapping.kind not in ("actuals", "outcomes"):
        message = "must be actuals or outcomes for this import"
        raise InvalidInputError([InputIssue("--mapping", "kind", message, mapping.kind)])
    report = ImportReport(source=source.name)
    table = read_export(source, mapping, limits)
    read = _actual_rows if mapping.kind == "actuals" else _outcome_rows
    found = read(source, table, mapping, report)
    if report.bad and not skip_bad:
        raise InvalidInputError(report.bad)
    return found


def uploaded_record_rows(
    name: str, data: bytes, mapping: Mapping, limits: ExcelLimits | None = None
) -> RecordRows:
    """`record_rows` of an uploaded export (`name` its file name, .csv or .xlsx), read from a
    private temporary folder; messages name the upload."""
    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="allocator-import-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            found = record_rows(path, mapping, limits=limits)
        except InvalidInputError as error:
            renamed = [_renamed(issue, path.name, name) for issue in error.issues]
            raise InvalidInputError(renamed) from None
    found.report.source = name
    return found


def _renamed(issue: InputIssue, old: str, new: str) -> InputIssue:
    return InputIssue(issue.where.replace(old, new, 1), issue.field, issue.message, issue.value)


def _actual_rows(path: Path, table: Table, mapping: Mapping, report: ImportReport) -> RecordRows:
    hours: dict[tuple[str, str, str], float] = {}
    sources: dict[tuple[str, str, str], list[int]] = {}
    for number, row in _data_rows(path, table, mapping, report):
        engineer, opportunity = row.required("engineer_id"), row.required("opportunity_id")
        if not row.text("week"):
            row.required("week")
        week = _iso_week_cell(row, "week") if row.text("week") else None
        spent = row.number("hours")
        if spent is None and not row.text("hours"):
            row.required("hours")
        elif spent is not None and not 0 <= spent <= 168:
            row.problem("hours", "must be a number of hours 0..168", row.text("hours"))
        if row.issues or week is None or spent is None:
            report.bad.extend(row.issues)
            continue
        key = (engineer, opportunity, week)
        hours[key] = round(hours.get(key, 0.0) + spent, 2)
        sources.setdefault(key, []).append(number)
        report.imported += 1
    for key, total in list(hours.items()):
        if total > 168:  # Days that add up to more than a week holds.
            lines = ", ".join(map(str, sources[key]))
            column = mapping.columns["hours"]
            message = f"the hours of {key[0]} on {key[1]} in {key[2]} add up to more than 168"
            report.bad.append(InputIssue(f"{path.name} rows {lines}", column, message, total))
            report.imported -= len(sources.pop(key))
            del hours[key]
    rows = [
        {"engineer_id": e, "opportunity_id": o, "week": w, "hours": str(h)}
        for (e, o, w), h in hours.items()
    ]
    return RecordRows(rows, list(sources.values()), report)


def _outcome_rows(path: Path, table: Table, mapping: Mapping, report: ImportReport) -> RecordRows:
    named = {cell.strip().lower(): kind for cell, kind in mapping.outcomes.items()}
    found = RecordRows([], [], report)
    for number, row in _data_rows(path, table, mapping, report):
        opportunity = row.required("opportunity_id")
        cell = row.required("outcome")
        kind = named.get(cell.strip().lower(), cell.strip().lower())
        if cell and kind not in OUTCOME_KINDS:
            row.problem(
                "outcome",
                f"is no outcome: map it under [outcomes] to one of {', '.join(OUTCOME_KINDS)}",
                cell,
            )
        value = row.number("value") if kind == "won" else None
        if kind == "won" and value is None and not row.text("value"):
            row.problem("value", "a won deal needs the value won")
        if not row.text("date"):
            row.required("date")
        decided = row.day("date") if row.text("date") else None
        if row.issues or decided is None:
            report.bad.extend(row.issues)
            continue
        found.rows.append(
            {
                "opportunity_id": opportunity,
                "outcome": kind,
                "value": "" if value is None else str(value),
                "date": decided.isoformat(),
            }
        )
        found.sources.append([number])
        report.imported += 1
    return found


# ---------------------------------------------------------------------------------------------
# Into a portfolio folder


def current_iso_week(today: date | None = None) -> str:
    year, week, _ = (today or date.today()).isocalendar()
    return f"{year}-W{week:02d}"


def import_into(
    kind: str,
    source: Path,
    mapping: Mapping,
    folder: Path,
    *,
    skip_bad: bool = False,
    start: str | None = None,
    horizon_weeks: int | None = None,
) -> tuple[Portfolio, ImportReport]:
    """Import `source` into the CSV portfolio `folder` (created, or added to): a CRM report
    replaces the opportunities and their demands, a roster the engineers, a time-off or a
    commitments file adds time off or commitments to the engineers it names. Raises
    `InvalidInputError` listing every bad row unless `skip_bad`; writes nothing when it
    raises."""
    if kind != mapping.kind:
        raise InvalidInputError([InputIssue("--mapping", "kind", f"is not {kind!r}", mapping.kind)])
    existing = load_portfolio(folder) if _has_tables(folder) else None
    raw: dict[str, Any] = (
        json.loads(existing.model_dump_json()) if existing else {"name": folder.name}
    )
    horizon = Horizon(
        start=start
        or raw.get("horizon_start")
        or mapping.calendar.horizon_start
        or current_iso_week(),
        weeks=horizon_weeks
        or mapping.calendar.horizon_weeks
        or (existing.horizon_weeks if existing else DEFAULT_HORIZON_WEEKS),
    )
    try:
        week_monday(horizon.start)
    except ValueError:
        raise InvalidInputError(
            [InputIssue("--start", "", "is no ISO week (like 2026-W50)", horizon.start)]
        ) from None
    raw["horizon_start"], raw["horizon_weeks"] = horizon.start, horizon.weeks
    report = ImportReport(source=source.name)
    table = read_export(source, mapping)
    locate: Callable[[tuple[str | int, ...]], str] | None = None
    if kind == "crm":
        found = crm_records(source, table, mapping, horizon, report)
        raw["opportunities"], raw["demands"] = found.records, found.demands
        locate = _locator(source.name, {"opportunities": found.rows, "demands": found.demand_rows})
        _drop_stale_directives(raw, report)
    elif kind == "team":
        found = team_records(source, table, mapping, report)
        raw["engineers"] = found.records
        locate = _locator(source.name, {"engineers": found.rows})
        _drop_stale_directives(raw, report)
    else:
        engineers = raw.get("engineers", [])
        ids = {e["external_id"] or e["id"]: e for e in engineers}
        read = time_off_records if kind == "time_off" else commitment_records
        for eng_id, weeks in read(source, table, mapping, set(ids), report).items():
            per_week = ids[eng_id].setdefault(kind, {})
            for key, hours in weeks.items():
                per_week[key] = round(float(per_week.get(key, 0.0)) + hours, 2)
        found = Records()
    if report.bad and not skip_bad:
        raise InvalidInputError(report.bad)
    known = [s["id"] for s in raw.get("skills", [])]
    raw["skills"] = raw.get("skills", []) + [
        {"id": skill} for skill in dict.fromkeys(found.skills) if skill not in known
    ]
    policy = raw.get("policy") or {}
    if policy.get("value_unit_source") == "derived":  # Derived anew from the new pipeline.
        policy.pop("value_unit", None)
        policy.pop("value_unit_source", None)
    raw["policy"] = policy
    portfolio = build_portfolio(raw, locate or (lambda loc: str(folder)))
    write_portfolio_csv(portfolio, folder)
    return portfolio, report


def _has_tables(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.csv"))


def _locator(name: str, rows_of: dict[str, list[int]]) -> Callable[[tuple[str | int, ...]], str]:
    def locate(loc: tuple[str | int, ...]) -> str:
        rows = rows_of.get(str(loc[0])) if loc else None
        index = loc[1] if len(loc) >= 2 else None
        if rows is not None and isinstance(index, int) and index < len(rows):
            return f"{name} row {rows[index]}"
        return f"the portfolio {'.'.join(map(str, loc))}" if loc else "the portfolio"

    return locate


def _drop_stale_directives(raw: dict[str, Any], report: ImportReport) -> None:
    """Pins, forbids and previous assignments whose engineer or opportunity the new export no
    longer holds are dropped, each named in the report."""
    engineers = {e["id"] for e in raw.get("engineers", [])}
    opportunities = {o["id"] for o in raw.get("opportunities", [])}
    for kind in ("pins", "forbids", "previous"):
        kept = []
        for item in raw.get(kind, []):
            if item["engineer_id"] in engineers and item["opportunity_id"] in opportunities:
                kept.append(item)
            else:
                report.notes.append(
                    f"{kind} {item['engineer_id']} -> {item['opportunity_id']} dropped: not in "
                    "the new export"
                )
        raw[kind] = kept
