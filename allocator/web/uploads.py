"""Uploaded portfolios: an HTTP body (JSON, or multipart files) into a validated Portfolio.

An edge beside `formats`: a JSON body goes to `model.build_portfolio` (messages like
`$.demands[0].hours: must be >= 0 (got -3)`); uploaded files are written to a temporary
folder under their own names and read by `formats.load_portfolio`, so that messages name the
file, row and column (`demands.csv row 14, column hours: ...`). Decides nothing else.
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request

from allocator.errors import AllocatorError, InputIssue, InvalidInputError
from allocator.io import strictjson
from allocator.io.formats import TABLES, ExcelLimits, load_portfolio
from allocator.model import Portfolio, build_portfolio
from allocator.service.admission import check_raw_portfolio
from allocator.service.settings import Settings
from allocator.web.guards import parsed_body

TABLE_FILES = frozenset(
    {f"{name}.csv" for name in (*TABLES, "stage_templates")} | {"policy.json", "portfolio.json"}
)
"""The files a CSV upload may hold."""
SINGLE_FILES = (".json", ".xlsx", ".xlsm")
"""Suffixes of a portfolio uploaded as one file."""
MAX_FILES = 20
MAX_NAME = 100
"""Longest file name accepted, in characters."""


class UnsupportedMediaTypeError(AllocatorError):
    """The body is neither JSON nor multipart/form-data (HTTP 415)."""


def _problem(where: str, message: str, value: Any = None) -> InvalidInputError:
    return InvalidInputError([InputIssue(where, "", message, value)])


async def read_portfolio(request: Request) -> Portfolio:
    """The portfolio in the request's body, validated; raises InvalidInputError."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        parsed = parsed_body(request)  # Read strictly already, in front of the routes.
        settings = request.app.state.service.settings
        if parsed is None:
            parsed = strictjson.loads(await request.body(), "request body", column=True)
        return await run_in_threadpool(portfolio_from_data, parsed, settings)
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES)
        except Exception as error:  # The multipart parser raises several kinds.
            raise _problem("request body", f"is not valid multipart/form-data: {error}") from None
        try:
            files: list[tuple[str, bytes]] = []
            for _, item in form.multi_items():
                if isinstance(item, UploadFile):
                    files.append((item.filename or "", await item.read()))
        finally:
            await form.close()
        settings = request.app.state.service.settings
        return await run_in_threadpool(portfolio_from_files, files, settings)
    raise UnsupportedMediaTypeError(
        f"send the portfolio as application/json or as files in multipart/form-data, "
        f"not {kind or 'a body without Content-Type'}"
    )


def portfolio_from_json(body: bytes) -> Portfolio:
    """A JSON document's bytes into a Portfolio."""
    return portfolio_from_data(strictjson.loads(body, "request body", column=True))


def portfolio_from_data(data: Any, settings: Settings | None = None) -> Portfolio:
    """A parsed JSON document into a Portfolio; with `settings`, one whose stage templates
    would derive too many demands is refused before they are made."""
    if not isinstance(data, dict):
        raise _problem("$", "must be a JSON object (a portfolio document)")
    if settings is not None:
        check_raw_portfolio(data, settings, "$")
    return build_portfolio(data)


def portfolio_from_files(
    files: list[tuple[str, bytes]], settings: Settings | None = None
) -> Portfolio:
    """Uploaded files into a Portfolio: one .json/.xlsx file, or the CSV tables of a folder.
    Messages name the files as uploaded, never the temporary folder they are read from.
    With `settings`: a workbook is read within their cell and size caps, and the raw tables
    are refused when their stage templates would derive more demands than the limit, counted
    before a single one is made (as a JSON body is)."""
    if not files:
        raise _problem("request body", "holds no file; upload engineers.csv, ... or one file")
    names = [Path(name.replace("\\", "/")).name for name, _ in files]
    for name in names:
        if len(name) > MAX_NAME or not name.isprintable():
            shown = name if len(name) <= 40 else f"{name[:30]}...{name[-6:]}"
            why = f"is longer than {MAX_NAME} characters" if len(name) > MAX_NAME else None
            raise _problem("request body", f"file name {why or 'holds control characters'}", shown)
    single = [n for n in names if n.lower().endswith(SINGLE_FILES) and n not in TABLE_FILES]
    issues = []
    if single and len(files) > 1:
        issues.append(
            InputIssue("request body", "", f"upload {single[0]} alone, not with other files")
        )
    if not single:
        expected = ", ".join(sorted(TABLE_FILES))
        for name in names:
            if name not in TABLE_FILES:
                issues.append(
                    InputIssue(name or "(no name)", "", f"unknown file; expected {expected}")
                )
    duplicates = {n for n in names if names.count(n) > 1}
    issues += [InputIssue(n, "", "is uploaded twice") for n in sorted(duplicates)]
    if issues:
        raise InvalidInputError(issues)
    excel_limits = None
    count_first = None
    if settings is not None:
        excel_limits = ExcelLimits(settings.max_xlsx_cells, settings.max_xlsx_bytes)
        where = single[0] if single else "the upload"
        count_first = partial(check_raw_portfolio, settings=settings, where=where)
    with tempfile.TemporaryDirectory(prefix="allocator-upload-") as folder:
        root = Path(folder)
        for name, (_, content) in zip(names, files, strict=True):
            (root / name).write_bytes(content)
        try:
            path = root / single[0] if single else root
            return load_portfolio(path, excel_limits, count_first)
        except InvalidInputError as error:
            raise InvalidInputError([_unplaced(issue, folder) for issue in error.issues]) from None


def _unplaced(issue: InputIssue, folder: str) -> InputIssue:
    """The issue without the server's temporary folder: `the upload` instead."""
    if folder not in issue.where:
        return issue
    where = issue.where.replace(f"{folder}/", "").replace(folder, "the upload")
    return InputIssue(where, issue.field, issue.message, issue.value, issue.loc)
