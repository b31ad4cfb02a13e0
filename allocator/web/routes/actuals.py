"""/v1/actuals and /v1/outcomes: import hours spent and deal outcomes (JSON rows or one CSV or
.xlsx file), read them back. Each import is a ledger record (see `service/insight.py`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from allocator.errors import InputIssue, InvalidInputError
from allocator.insight.records import Actual, Outcome
from allocator.io.formats import ExcelLimits
from allocator.io.imports import uploaded_record_rows
from allocator.io.mapping import parse_mapping
from allocator.service.insight import ImportEntry, rows_from_file, rows_from_json
from allocator.web.routes.deps import Planner, Reader
from allocator.web.routes.insightdeps import InsightDep
from allocator.web.routes.models import MAX_ID, WEEK_PATTERN
from allocator.web.routes.responses import errors
from allocator.web.uploads import UnsupportedMediaTypeError

router = APIRouter(prefix="/v1", tags=["actuals and outcomes"])

PortfolioCheck = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="Check every engineer and opportunity against it."),
]


class ImportOut(BaseModel):
    """A stored import."""

    id: int = Field(description="The import's number within its kind.")
    kind: str = Field(description="actuals or outcomes.")
    source: str = Field(description="The file's name, or `request body` for JSON rows.")
    rows: int = Field(description="Rows stored.")
    ledger_seq: int = Field(description="Its record in the audit chain.")
    imported_by: str = Field(description="The name of the key that imported it.")
    imported_at: datetime = Field(description="When it was recorded (UTC).")

    @classmethod
    def of(cls, entry: ImportEntry) -> ImportOut:
        return cls(**entry.__dict__)


def _body(kind: str, columns: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": f'JSON `{{"rows": [...]}}` with objects of {columns}, or one '
            f"CSV or .xlsx file with those columns (multipart/form-data, field `file`), or "
            f"an export of any layout with its mapping (a second part `mapping`, a .toml of "
            f"kind {kind}; docs/imports.md).",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"rows": {"type": "array", "items": {"type": "object"}}},
                        "required": ["rows"],
                    }
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "mapping": {"type": "string", "format": "binary"},
                        },
                        "required": ["file"],
                    }
                },
            },
        }
    }


def _mapped(
    kind: str, name: str, data: bytes, mapping: tuple[str, bytes], limits: ExcelLimits
) -> list[dict[str, str]]:
    """An export read through its uploaded mapping, which must be of this `kind`."""
    mapping_name = mapping[0].replace("\\", "/").rsplit("/", 1)[-1][:100] or "mapping.toml"
    read = parse_mapping(mapping[1], mapping_name)
    if read.kind != kind:
        raise InvalidInputError([InputIssue(mapping_name, "kind", f"is not {kind!r}", read.kind)])
    return uploaded_record_rows(name, data, read, limits).rows


async def _rows(request: Request, kind: str) -> tuple[str, list[dict[str, str]], bool]:
    """(source, rows of text cells, whether they came as JSON) from the request's body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidInputError(
                [InputIssue("request body", "", f"is not JSON: {error}")]
            ) from None
        records = data.get("rows") if isinstance(data, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidInputError([InputIssue("$.rows", "", "must be a list of objects")])
        return "request body", rows_from_json(records, kind), True
    if content_type == "multipart/form-data":
        try:
            form = await request.form(max_files=2, max_fields=2)
        except Exception as error:  # The multipart parser raises several kinds.
            message = f"is not valid multipart/form-data with one file: {error}"
            raise InvalidInputError([InputIssue("request body", "", message)]) from None
        try:
            files = {
                field: (item.filename or "", await item.read())
                for field, item in form.multi_items()
                if isinstance(item, UploadFile)
            }
        finally:
            await form.close()
        mapping = files.pop("mapping", None)
        if len(files) != 1:
            message = "must hold exactly one file (and optionally its `mapping`)"
            raise InvalidInputError([InputIssue("request body", "", message)])
        name, data_bytes = next(iter(files.values()))
        name = name.replace("\\", "/").rsplit("/", 1)[-1] or f"{kind}.csv"
        if not name.lower().endswith((".csv", ".xlsx")):
            raise InvalidInputError([InputIssue(name[:100], "", "must be a .csv or .xlsx file")])
        settings = request.app.state.service.settings
        limits = ExcelLimits(settings.max_xlsx_cells, settings.max_xlsx_bytes)
        if mapping is not None:
            rows = await run_in_threadpool(_mapped, kind, name, data_bytes, mapping, limits)
            return name, rows, False
        return name, await run_in_threadpool(rows_from_file, name, data_bytes, limits), False
    raise UnsupportedMediaTypeError(
        f"send {kind} as application/json rows or as one file in multipart/form-data, "
        f"not {content_type or 'a body without Content-Type'}"
    )


@router.post(
    "/actuals",
    status_code=201,
    summary="Import actual hours",
    openapi_extra=_body("actuals", "engineer_id, opportunity_id, week (2026-W45), hours"),
    responses=errors(404, 413, 415),
)
async def import_actuals(
    request: Request, insight: InsightDep, principal: Planner, portfolio_id: PortfolioCheck = None
) -> ImportOut:
    """Store hours spent per engineer, opportunity and ISO week. A bad row is named (file,
    row, column, value) and nothing is stored. A later import of the same engineer,
    opportunity and week supersedes the earlier one."""
    source, rows, as_json = await _rows(request, "actuals")
    entry = await run_in_threadpool(
        insight.import_actuals, source, rows, principal, portfolio_id, as_json
    )
    return ImportOut.of(entry)


@router.post(
    "/outcomes",
    status_code=201,
    summary="Import deal outcomes",
    openapi_extra=_body(
        "outcomes", "opportunity_id, outcome (won|lost|no_decision|open), value, date"
    ),
    responses=errors(404, 413, 415),
)
async def import_outcomes(
    request: Request, insight: InsightDep, principal: Planner, portfolio_id: PortfolioCheck = None
) -> ImportOut:
    """Store outcomes: won (with the value won), lost, no decision or open, with a date; a
    later import of the same opportunity supersedes the earlier one."""
    source, rows, as_json = await _rows(request, "outcomes")
    entry = await run_in_threadpool(
        insight.import_outcomes, source, rows, principal, portfolio_id, as_json
    )
    return ImportOut.of(entry)


@router.get("/actuals", summary="List actual hours", responses=errors())
def list_actuals(
    insight: InsightDep,
    principal: Reader,
    week: Annotated[
        str | None, Query(pattern=WEEK_PATTERN, description="Only this ISO week.")
    ] = None,
    engineer_id: Annotated[
        str | None, Query(max_length=200, description="Only this engineer.")
    ] = None,
) -> list[Actual]:
    """The stored actuals of the key's team (every team's for an auditor): the latest
    import's hours per engineer, opportunity and week."""
    return insight.actuals(principal, week, engineer_id)


@router.get("/outcomes", summary="List deal outcomes", responses=errors())
def list_outcomes(insight: InsightDep, principal: Reader) -> list[Outcome]:
    """The stored outcomes of the key's team (every team's for an auditor): the latest
    import's per opportunity."""
    return insight.outcomes(principal)
