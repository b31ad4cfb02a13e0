"""Reading and writing portfolios and results: JSON documents, CSV folders, Excel workbooks.

An edge: it turns files into the raw data `model.build_portfolio` validates, and maps every
problem back to the file, row and column it came from (`demands.csv row 14, column hours:
must be >= 0 (got -3)`). Row numbers count the header as row 1, as spreadsheets do. Decides
nothing about allocation.

A CSV portfolio is a folder; columns are the field names of the records in `model`:

- engineers.csv: one row per engineer; `skills` like `architect:4;network:3`, `industries`
  like `power;finance`, `time_off` like `2:16;3:40` (week:hours).
- opportunities.csv: one row per opportunity.
- demands.csv: one row per role; optional when stage templates derive the roles; an empty
  `id` is derived as `OPP/skill`.
- stage_templates.csv (optional): one row per role of a stage: stage, skill, min_proficiency,
  hours, weeks, required; a row with an empty skill declares a stage that needs nobody.
- skills.csv (optional): the skill catalogue; derived from engineers and templates if absent.
- pins.csv, forbids.csv, previous.csv (optional).
- policy.json (optional): the Policy fields; portfolio.json (optional): name, horizon_weeks.

An Excel workbook holds the same tables as sheets named like the files (without `.csv`), with
`policy` and `portfolio` as two-column `key`/`value` sheets.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from allocator.errors import InputIssue, InvalidInputError, problems
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
MAP_FIELDS = {("engineers", "skills"), ("engineers", "time_off")}


def load_portfolio(path: str | Path) -> Portfolio:
    """Read a portfolio from a JSON file, a CSV folder or an .xlsx workbook.

    >>> load_portfolio("data/sample").name  # doctest: +SKIP
    'sample'
    """
    path = Path(path)
    if path.is_dir():
        return _load_tables(_csv_tables(path), lambda table: f"{table}.csv")
    if not path.exists():
        raise InvalidInputError([InputIssue(str(path), "", "no such file or folder")])
    suffix = path.suffix.lower()
    if suffix == ".json":
        return build_portfolio(_read_json(path), json_location)
    if suffix in (".xlsx", ".xlsm"):
        return _load_tables(_excel_tables(path), lambda table: f"{path.name} sheet {table}")
    raise InvalidInputError(
        [InputIssue(str(path), "", "expected a folder of CSV files, a .json or an .xlsx file")]
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError([InputIssue(path.name, "", f"cannot be read: {error}")]) from None
    except json.JSONDecodeError as error:
        where = f"{path.name} line {error.lineno}"
        raise InvalidInputError(
            [InputIssue(where, "", f"is not valid JSON: {error.msg}")]
        ) from None


# ---------------------------------------------------------------------------------------------
# Tables (CSV or Excel) -> raw data


Table = list[dict[str, str]]


def _csv_tables(folder: Path) -> dict[str, Table | dict[str, Any]]:
    tables: dict[str, Table | dict[str, Any]] = {}
    for name in (*TABLES, "stage_templates"):
        path = folder / f"{name}.csv"
        if path.exists():
            tables[name] = _read_csv(path)
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


def _read_csv(path: Path) -> Table:
    # Blank lines are kept (and skipped later) so that row numbers match the file's lines; with
    # index_col=False a row longer than the header is an error, not a shift of every column.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
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
        raise InvalidInputError([InputIssue(path.name, "", message)]) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        message = f"cannot be read: {str(error).strip()}"
        raise InvalidInputError([InputIssue(path.name, "", message)]) from None
    return _rows(frame)


def _rows(frame: pd.DataFrame) -> Table:
    frame.columns = [str(c).strip() for c in frame.columns]
    return [{str(k): str(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _excel_tables(path: Path) -> dict[str, Table | dict[str, Any]]:
    try:
        sheets = pd.read_excel(path, sheet_name=None, dtype=str, keep_default_na=False)
    except Exception as error:  # openpyxl raises many kinds for a damaged workbook.
        raise InvalidInputError([InputIssue(path.name, "", f"cannot be read: {error}")]) from None
    tables: dict[str, Table | dict[str, Any]] = {}
    for name, frame in sheets.items():
        key = str(name).strip().lower()
        rows = _rows(frame)
        if key in ("policy", "portfolio"):
            tables[key] = {
                r.get("key", ""): _json_scalar(r.get("value", "")) for r in rows if r.get("key")
            }
        elif key in TABLES or key == "stage_templates":
            tables[key] = rows
    return tables


def _json_scalar(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _load_tables(
    tables: Mapping[str, Table | dict[str, Any]], source: Callable[[str], str]
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
        header = list(table[0]) if table else []
        for column in header:
            if column not in known:
                issues.append(
                    InputIssue(
                        source(name),
                        column,
                        f"unknown column; expected some of {', '.join(record.model_fields)}",
                    )
                )
        records = []
        rows_of[name] = []
        for index, row in enumerate(table):
            if not any(v.strip() for v in row.values()):
                continue  # Blank line.
            raw: dict[str, Any] = {}
            for column, text in row.items():
                text = text.strip()
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
    templates = tables.get("stage_templates")
    if isinstance(templates, list):
        data["stage_templates"], template_rows = _templates(
            templates, source("stage_templates"), issues
        )
    if issues:
        raise InvalidInputError(issues)

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
        stage = row.get("stage", "").strip()
        if not stage:
            issues.append(InputIssue(f"{where} row {index + 2}", "stage", "is required"))
            continue
        template = templates.setdefault(stage, {"stage": stage, "roles": []})
        rows_by_stage.setdefault(stage, [])
        role = {
            k: v.strip() for k, v in row.items() if k in TemplateRole.model_fields and v.strip()
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
        fields = [f for f in TABLES[name].model_fields if f != "template_stage"]
        rows = [{f: _cell(getattr(r, f)) for f in fields} for r in records]
        frames[name] = pd.DataFrame(rows, columns=fields)
    if portfolio.stage_templates:
        template_rows: list[dict[str, Any]] = []
        for template in portfolio.stage_templates:
            if not template.roles:
                template_rows.append({"stage": template.stage})
            for role in template.roles:
                template_rows.append({"stage": template.stage, **{k: _cell(v) for k, v in role}})
        frames["stage_templates"] = pd.DataFrame(template_rows, columns=list(TEMPLATE_COLUMNS))
    return frames


def _meta(portfolio: Portfolio) -> dict[str, Any]:
    return {"name": portfolio.name, "horizon_weeks": portfolio.horizon_weeks}


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
        return ";".join(f"{k}:{_number(v)}" for k, v in value.items())
    if isinstance(value, tuple | list):
        return ";".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(getattr(value, "value", value))


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
