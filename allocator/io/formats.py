"""Reading and writing portfolios and results: JSON documents, CSV folders, Excel workbooks.

An edge: it turns files into the raw data `model.build_portfolio` validates, and maps every
problem back to the file, row and column it came from (`demands.csv row 14, column hours:
must be >= 0 (got -3)`). Row numbers count the header as row 1, as spreadsheets do. Decides
nothing about allocation.

A CSV portfolio is a folder; columns are the field names of the records in `model`:

- engineers.csv: one row per engineer; `skills` like `architect:4;network:3`, `industries`
  like `power;finance`, `time_off` like `2:16;3:40` (week:hours), `commitments` (optional:
  hours committed elsewhere in given weeks, on top of `committed_hours`, which holds for every
  week) like `2026-W50..2026-W52:8;5:4`; a week may be a number, an ISO week, a date or a
  range `A..B` of them.
- opportunities.csv: one row per opportunity.
- demands.csv: one row per role; optional when stage templates derive the roles; an empty
  `id` is derived as `OPP/skill`.
- stage_templates.csv (optional): one row per role of a stage: stage, skill, min_proficiency,
  hours, weeks, required; a row with an empty skill declares a stage that needs nobody.
- skills.csv (optional): the skill catalogue; derived from engineers and templates if absent.
- pins.csv, forbids.csv, previous.csv (optional).
- policy.json (optional): the Policy fields; portfolio.json (optional): name, horizon_weeks,
  horizon_start (ISO week of week 1).

An Excel workbook holds the same tables as sheets named like the files (without `.csv`), with
`policy` and `portfolio` as two-column `key`/`value` sheets.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from allocator.errors import InputIssue, InvalidInputError, problems
from allocator.io import strictjson
from allocator.model import (
    Allocation,
    Demand,
    Engineer,
    Forbid,
    Opportunity,
    Pin,
    Portfolio,
    PreviousAssignment,
    Skill,
    TemplateRole,
    build_portfolio,
    json_location,
)

TABLES: dict[str, type[Any]] = {
    "skills": Skill,
    "engineers": Engineer,
    "opportunities": Opportunity,
    "demands": Demand,
    "pins": Pin,
    "forbids": Forbid,
    "previous": PreviousAssignment,
}
"""Table name -> the record each row becomes; columns are the record's fields."""
TEMPLATE_COLUMNS = ("stage", *TemplateRole.model_fields)
LIST_FIELDS = {("engineers", "industries")}
MAP_FIELDS = {("engineers", "skills"), ("engineers", "time_off"), ("engineers", "commitments")}
TRACE_COLUMNS = ("external_id", "account", "owner")
"""Traceability columns, written only when some record has them."""
WHEN_GIVEN_COLUMNS = (*TRACE_COLUMNS, "commitments")
"""Columns written only when some record has them, so that older files stay as they were."""


def load_portfolio(
    path: str | Path,
    excel_limits: ExcelLimits | None = None,
    before_build: Callable[[Mapping[str, Any]], None] | None = None,
) -> Portfolio:
    """Read a portfolio from a JSON file, a CSV folder or an .xlsx workbook (read within
    `excel_limits`, by default `ExcelLimits()`). `before_build` sees the raw document before
    it is validated and its stage templates derive demands (the service counts them there,
    and raises to refuse it).

    >>> load_portfolio("data/sample").name  # doctest: +SKIP
    'sample'
    """
    path = Path(path)
    excel_limits = excel_limits or ExcelLimits()
    if path.is_dir():
        return _load_tables(_csv_tables(path), lambda table: f"{table}.csv", before_build)
    if not path.exists():
        raise InvalidInputError([InputIssue(str(path), "", "no such file or folder")])
    suffix = path.suffix.lower()
    if suffix == ".json":
        document = _read_json(path)
        if before_build is not None and isinstance(document, Mapping):
            before_build(document)
        return build_portfolio(document, json_location)
    if suffix in (".xlsx", ".xlsm"):
        tables = _excel_tables(path, excel_limits)
        return _load_tables(tables, lambda table: f"{path.name} sheet {table}", before_build)
    raise InvalidInputError(
        [InputIssue(str(path), "", "expected a folder of CSV files, a .json or an .xlsx file")]
    )


def _read_json(path: Path) -> Any:
    """A JSON file, read strictly (`strictjson`: no NaN, bounded numbers and nesting)."""
    try:
        content = path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InvalidInputError([InputIssue(path.name, "", f"cannot be read: {reason}")]) from None
    return strictjson.loads(content, path.name)


# ---------------------------------------------------------------------------------------------
# Tables (CSV or Excel) -> raw data


Table = list[dict[str, str]]


def _csv_tables(folder: Path) -> dict[str, Table | dict[str, Any]]:
    tables: dict[str, Table | dict[str, Any]] = {}
    for name in (*TABLES, "stage_templates"):
        path = folder / f"{name}.csv"
        if path.exists():
            tables[name] = read_csv_rows(path, path.name)
    for name in ("policy", "portfolio"):
        path = folder / f"{name}.json"
        if path.exists():
            data = _read_json(path)
            if not isinstance(data, dict):
                raise InvalidInputError([InputIssue(path.name, "", "must be a JSON object")])
            tables[name] = data
    if "engineers" not in tables and "opportunities" not in tables:
        raise InvalidInputError(
            [InputIssue(str(folder), "", "holds neither engineers.csv nor opportunities.csv")]
        )
    return tables


def read_csv_rows(source: Path | bytes, name: str) -> Table:
    """The rows of a CSV file (its path, or its bytes as uploaded), every cell as text; errors
    name the file as `name`.

    >>> read_csv_rows(b"id,hours\\nE1, 8\\n", "actuals.csv")
    [{'id': 'E1', 'hours': '8'}]
    """
    # Blank lines are kept (and skipped later) so that row numbers match the file's lines; with
    # index_col=False a row longer than the header is an error, not a shift of every column.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(source) if isinstance(source, bytes) else source,
                dtype=str,
                keep_default_na=False,
                skipinitialspace=True,
                skip_blank_lines=False,
                index_col=False,
            )
    except pd.errors.EmptyDataError:
        return []
    except pd.errors.ParserWarning:
        message = "cannot be read: a row has more values than the header has columns"
        raise InvalidInputError([InputIssue(name, "", message)]) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        message = f"cannot be read: {str(error).strip()}"
        raise InvalidInputError([InputIssue(name, "", message)]) from None
    return _rows(frame)


def _rows(frame: pd.DataFrame) -> Table:
    frame.columns = [str(c).strip() for c in frame.columns]
    return [{str(k): str(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _excel_tables(path: Path, limits: ExcelLimits) -> dict[str, Table | dict[str, Any]]:
    tables: dict[str, Table | dict[str, Any]] = {}
    issues: list[InputIssue] = []
    for name, rows in read_workbook(path, limits).items():
        key = str(name).strip().lower()
        where = f"{path.name} sheet {name}"
        if key in ("policy", "portfolio"):
            header = set(rows[0]) if rows else {"key", "value"}
            if not {"key", "value"} <= header:
                message = (
                    "must have the two columns key and value, one row per setting (like "
                    "key value_unit, value 1000)"
                )
                issues.append(InputIssue(where, "", message, ", ".join(sorted(header))[:80]))
                continue
            tables[key] = {
                r.get("key", ""): _json_scalar(r.get("value", "")) for r in rows if r.get("key")
            }
        elif key in TABLES or key == "stage_templates":
            tables[key] = rows
        else:
            expected = ", ".join((*TABLES, "stage_templates", "policy", "portfolio"))
            issues.append(InputIssue(where, "", f"unknown sheet; expected some of {expected}"))
    if issues:
        raise InvalidInputError(issues)
    return tables


@dataclass(frozen=True)
class ExcelLimits:
    """How much of a workbook is read at most (the service's `ALLOCATOR_MAX_XLSX_*`)."""

    cells: int = 5_000_000
    """Cells of all sheets, as stored (never padded to a sheet's declared dimension)."""
    uncompressed_bytes: int = 200_000_000
    """The workbook's ZIP members, unpacked; checked before anything is read."""


def read_workbook(path: Path, limits: ExcelLimits = ExcelLimits()) -> dict[str, Table]:
    """Each sheet's rows as text, keyed by the first row's headers; blank rows kept so that
    row numbers match the sheet's. Read with openpyxl in read-only mode, cell by cell as
    stored: a sheet that declares A1:XFD1048576 costs only its stored cells, and a workbook
    that would unpack past `limits` (a compression bomb) is refused before it is read."""

    def refuse(message: str) -> InvalidInputError:
        return InvalidInputError([InputIssue(path.name, "", message)])

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise refuse("cannot be read: it is not an .xlsx workbook (not a ZIP archive)") from None
    if unpacked > limits.uncompressed_bytes:
        raise refuse(
            f"cannot be read: it unpacks to {unpacked} bytes, more than the "
            f"{limits.uncompressed_bytes} accepted"
        )
    import openpyxl  # Loaded by the first workbook read.

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged workbook.
        reason = str(error) or type(error).__name__
        if isinstance(error, KeyError):  # A member the format requires is missing.
            reason = f"it lacks {reason}"
        raise refuse(f"cannot be read as an .xlsx workbook: {reason}") from None
    sheets: dict[str, Table] = {}
    budget = limits.cells
    try:
        for sheet in book.worksheets:
            sheet.reset_dimensions()  # Trust the cells, not the declared dimension.
            header: list[str] | None = None
            rows: Table = []
            for row in sheet.iter_rows(values_only=True):
                blank = all(value is None or value == "" for value in row)
                width = 1 if blank or header is None else max(len(header), len(row))
                budget -= max(width, len(row))
                if budget < 0:
                    raise refuse(f"holds more than {limits.cells} cells, the most accepted")
                cells = [_excel_text(value) for value in row]
                if header is None:
                    header = [text.strip() for text in cells]
                elif blank:
                    rows.append({})  # Kept, so that row numbers match the sheet's.
                else:
                    rows.append(_named_cells(header, cells))
            sheets[sheet.title] = rows
    finally:
        book.close()
    return sheets


def _named_cells(header: list[str], cells: list[str]) -> dict[str, str]:
    """A row's cells by column name; a cell under no header is `Unnamed: 3` (as pandas
    says), and left out when it is empty."""
    row: dict[str, str] = {}
    for index in range(max(len(header), len(cells))):
        named = header[index] if index < len(header) else ""
        text = cells[index] if index < len(cells) else ""
        if named or text:
            row[named or f"Unnamed: {index}"] = text
    return row


def _excel_text(value: Any) -> str:
    """A cell as the text a CSV file would hold: 40.0 -> `40`, a date -> `2026-01-05 ...`."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json_scalar(text: str) -> Any:
    """A key/value sheet's value: JSON when it reads as strict JSON, else the text itself
    (which the field's validation then refuses by name if it must be a number)."""
    try:
        return strictjson.loads(text, "cell")
    except InvalidInputError:
        return text


def _load_tables(
    tables: Mapping[str, Table | dict[str, Any]],
    source: Callable[[str], str],
    before_build: Callable[[Mapping[str, Any]], None] | None = None,
) -> Portfolio:
    issues: list[InputIssue] = []
    data: dict[str, Any] = {}
    meta = tables.get("portfolio", {})
    if isinstance(meta, dict):
        data.update(meta)
    if "policy" in tables:
        data["policy"] = tables["policy"]
    rows_of: dict[str, list[int]] = {}
    template_rows: list[list[int]] = []
    for name, record in TABLES.items():
        table = tables.get(name)
        if not isinstance(table, list):
            continue
        known = set(record.model_fields)
        header = next((list(row) for row in table if row), [])
        for column in header:
            if column not in known:
                hint = _delimiter_hint(column)
                issues.append(
                    InputIssue(
                        source(name),
                        column,
                        hint
                        or f"unknown column; expected some of {', '.join(record.model_fields)}",
                    )
                )
        records = []
        rows_of[name] = []
        for index, row in enumerate(table):
            if not any(v.strip() for v in row.values()):
                continue  # Blank line.
            raw: dict[str, Any] = {}
            for column, text in row.items():
                text = _unescaped(text.strip())
                if column not in known or text == "":
                    continue
                try:
                    raw[column] = _parse_cell(name, column, text)
                except ValueError as error:
                    where = f"{source(name)} row {index + 2}"
                    issues.append(InputIssue(where, column, str(error), text))
            records.append(raw)
            rows_of[name].append(index + 2)
        data[name] = records
    opportunities = tables.get("opportunities")
    if (
        isinstance(opportunities, list)
        and any(any(v.strip() for v in row.values()) for row in opportunities)
        and "demands" not in tables
        and "stage_templates" not in tables
    ):
        issues.append(
            InputIssue(
                source("opportunities"),
                "",
                f"has opportunities, but there is neither {source('demands')} nor "
                f"{source('stage_templates')}: no opportunity would ask for anyone",
            )
        )
    templates = tables.get("stage_templates")
    if isinstance(templates, list):
        data["stage_templates"], template_rows = _templates(
            templates, source("stage_templates"), issues
        )
    if issues:
        raise InvalidInputError(issues)
    if before_build is not None:
        before_build(data)

    def locate(loc: tuple[str | int, ...]) -> str:
        table = str(loc[0]) if loc else "portfolio"
        index = loc[1] if len(loc) >= 2 and isinstance(loc[1], int) else None
        if table == "stage_templates" and index is not None and index < len(template_rows):
            role = loc[3] if len(loc) >= 4 and isinstance(loc[3], int) else 0
            rows = template_rows[index]
            return f"{source(table)} row {rows[role] if role < len(rows) else rows[0]}"
        if table in rows_of and index is not None and index < len(rows_of[table]):
            return f"{source(table)} row {rows_of[table][index]}"
        if table == "policy":
            return source("policy").replace(".csv", ".json")
        return source("portfolio").replace(".csv", ".json")

    return build_portfolio(data, locate)


def _delimiter_hint(column: str) -> str:
    """A word about the delimiter when a header reads as one column holding `;` or tabs."""
    for other, shown in ((";", "';'"), ("\t", "tabs")):
        if column.count(other) >= 2:
            return (
                "the header reads as one column: the file looks separated by "
                f"{shown}; write it with commas"
            )
    return ""


def _templates(
    rows: Table, where: str, issues: list[InputIssue]
) -> tuple[list[dict[str, Any]], list[list[int]]]:
    """Group stage_templates rows by stage; a row with an empty skill declares a stage with no
    roles. Returns the templates and, per template, the row numbers of its roles."""
    templates: dict[str, dict[str, Any]] = {}
    rows_by_stage: dict[str, list[int]] = {}
    for column in rows[0] if rows else ():
        if column != "stage" and column not in TemplateRole.model_fields:
            expected = ", ".join(TEMPLATE_COLUMNS)
            issues.append(InputIssue(where, column, f"unknown column; expected some of {expected}"))
    for index, row in enumerate(rows):
        if not any(v.strip() for v in row.values()):
            continue  # Blank line.
        stage = _unescaped(row.get("stage", "").strip())
        if not stage:
            issues.append(InputIssue(f"{where} row {index + 2}", "stage", "is required"))
            continue
        template = templates.setdefault(stage, {"stage": stage, "roles": []})
        rows_by_stage.setdefault(stage, [])
        role = {
            k: _unescaped(v.strip())
            for k, v in row.items()
            if k in TemplateRole.model_fields and v.strip()
        }
        if role.get("skill"):
            template["roles"].append(role)
            rows_by_stage[stage].append(index + 2)
    return list(templates.values()), [rows_by_stage[s] for s in templates]


def _parse_cell(table: str, column: str, text: str) -> Any:
    """Turn one CSV cell into the value its field expects; lists and maps use `;` and `:`."""
    if (table, column) in LIST_FIELDS:
        return [part.strip() for part in text.split(";") if part.strip()]
    if (table, column) in MAP_FIELDS:
        result: dict[str, str] = {}
        for part in text.split(";"):
            if not part.strip():
                continue
            key, sep, value = part.partition(":")
            if not sep or not key.strip() or not value.strip():
                raise ValueError(f"each entry must read key:value (bad entry {part.strip()!r})")
            if key.strip() in result:
                raise ValueError(f"{key.strip()!r} is given twice")
            result[key.strip()] = value.strip()
        return result
    return text


# ---------------------------------------------------------------------------------------------
# Writing portfolios


def _frames(portfolio: Portfolio) -> dict[str, pd.DataFrame]:
    """The portfolio as the tables of a CSV folder or workbook (explicit demands only; the
    derived ones come back from the stage templates)."""
    explicit = [d for d in portfolio.demands if not d.template_stage]
    tables: dict[str, list[Any]] = {
        "skills": list(portfolio.skills),
        "engineers": list(portfolio.engineers),
        "opportunities": list(portfolio.opportunities),
        "demands": explicit,
        "pins": list(portfolio.pins),
        "forbids": list(portfolio.forbids),
        "previous": list(portfolio.previous),
    }
    frames: dict[str, pd.DataFrame] = {}
    for name, records in tables.items():
        if not records and name in ("pins", "forbids", "previous"):
            continue
        fields = [
            f
            for f in TABLES[name].model_fields
            if f != "template_stage"
            and (f not in WHEN_GIVEN_COLUMNS or any(getattr(r, f) for r in records))
        ]
        rows = [{f: _cell(getattr(r, f)) for f in fields} for r in records]
        frames[name] = pd.DataFrame(rows, columns=fields)
    if portfolio.stage_templates:
        template_rows: list[dict[str, Any]] = []
        for template in portfolio.stage_templates:
            if not template.roles:
                template_rows.append({"stage": _cell(template.stage)})
            for role in template.roles:
                template_rows.append(
                    {"stage": _cell(template.stage), **{k: _cell(v) for k, v in role}}
                )
        frames["stage_templates"] = pd.DataFrame(template_rows, columns=list(TEMPLATE_COLUMNS))
    return frames


def _meta(portfolio: Portfolio) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": portfolio.name, "horizon_weeks": portfolio.horizon_weeks}
    if portfolio.horizon_start:
        meta["horizon_start"] = portfolio.horizon_start
    return meta


def write_portfolio_csv(portfolio: Portfolio, folder: str | Path) -> Path:
    """Write `portfolio` as a CSV folder that `load_portfolio` reads back unchanged."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in _frames(portfolio).items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    (folder / "policy.json").write_text(portfolio.policy.model_dump_json(indent=2) + "\n")
    (folder / "portfolio.json").write_text(json.dumps(_meta(portfolio), indent=2) + "\n")
    return folder


def write_portfolio_xlsx(portfolio: Portfolio, path: str | Path) -> Path:
    """Write `portfolio` as an Excel workbook that `load_portfolio` reads back unchanged:
    the CSV tables as sheets, `policy` and `portfolio` as key/value sheets."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    policy = json.loads(portfolio.policy.model_dump_json())
    with pd.ExcelWriter(path, engine="openpyxl") as book:
        for name, frame in _frames(portfolio).items():
            frame.to_excel(book, sheet_name=name, index=False)
        for name, values in (("policy", policy), ("portfolio", _meta(portfolio))):
            rows = [{"key": k, "value": json.dumps(v)} for k, v in values.items()]
            pd.DataFrame(rows, columns=["key", "value"]).to_excel(
                book, sheet_name=name, index=False
            )
    return path


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict):
        return spreadsheet_safe(";".join(f"{k}:{_number(v)}" for k, v in value.items()))
    if isinstance(value, tuple | list):
        return spreadsheet_safe(";".join(str(v) for v in value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return spreadsheet_safe(str(getattr(value, "value", value)))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is a formula to a spreadsheet (`=cmd|' /C calc'!A0`)."""


def spreadsheet_safe(text: str) -> str:
    """Text as a CSV or workbook cell that no spreadsheet runs: a leading `'` before one that
    would start a formula (numbers such as -3 stay as they are). `load_portfolio` takes the
    `'` off again, so a portfolio written and read back is the same.

    >>> spreadsheet_safe("=cmd|' /C calc'!A0"), spreadsheet_safe("-3"), spreadsheet_safe("E1")
    ("'=cmd|' /C calc'!A0", '-3', 'E1')
    """
    if not text.startswith(FORMULA_STARTS) or _is_number(text):
        return text
    return f"'{text}"


def _unescaped(text: str) -> str:
    """A cell as written by `spreadsheet_safe`, back to its text."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def write_portfolio_json(portfolio: Portfolio, path: str | Path) -> Path:
    """Write `portfolio` as one JSON document (explicit and derived demands alike)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(portfolio.model_dump_json(indent=2) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# Results


def write_allocation(allocation: Allocation, path: str | Path) -> Path:
    """Write a result as JSON (top level: status, objective, best_bound, gap, terms, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(allocation.model_dump_json(indent=2) + "\n")
    return path


def load_allocation(path: str | Path) -> Allocation:
    """Read a result written by `write_allocation` (or any JSON of that shape)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError([InputIssue(str(path), "", "no such file")])
    data = _read_json(path)
    try:
        return Allocation.model_validate(data)
    except ValidationError as error:
        place = path.name
        raise InvalidInputError(
            problems(error, lambda loc: (f"{place} {json_location(loc)}", "", loc))
        ) from None
