"""Uploaded portfolios: an HTTP body (JSON, or multipart files) into a validated Portfolio.

An edge beside `formats`: a JSON body goes to `model.build_portfolio` (messages like
`$.demands[0].hours: must be >= 0 (got -3)`); uploaded files are written to a temporary
folder under their own names and read by `formats.load_portfolio`, so that messages name the
file, row and column (`demands.csv row 14, column hours: ...`). Decides nothing else.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request

from allocator.errors import AllocatorError, InputIssue, InvalidInputError
from allocator.io.formats import TABLES, load_portfolio
from allocator.model import Portfolio, build_portfolio

TABLE_FILES = frozenset(
    {f"{name}.csv" for name in (*TABLES, "stage_templates")} | {"policy.json", "portfolio.json"}
)
"""The files a CSV upload may hold."""
SINGLE_FILES = (".json", ".xlsx", ".xlsm")
"""Suffixes of a portfolio uploaded as one file."""
MAX_FILES = 20


class UnsupportedMediaTypeError(AllocatorError):
    """The body is neither JSON nor multipart/form-data (HTTP 415)."""


def _problem(where: str, message: str, value: Any = None) -> InvalidInputError:
    return InvalidInputError([InputIssue(where, "", message, value)])


async def read_portfolio(request: Request) -> Portfolio:
    """The portfolio in the request's body, validated; raises InvalidInputError."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        body = await request.body()
        return await run_in_threadpool(portfolio_from_json, body)
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
        return await run_in_threadpool(portfolio_from_files, files)
    raise UnsupportedMediaTypeError(
        f"send the portfolio as application/json or as files in multipart/form-data, "
        f"not {kind or 'a body without Content-Type'}"
    )


def portfolio_from_json(body: bytes) -> Portfolio:
    """A JSON document's bytes into a Portfolio."""
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise _problem("request body", "is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        where = f"request body line {error.lineno} column {error.colno}"
        raise _problem(where, f"is not valid JSON: {error.msg}") from None
    if not isinstance(data, dict):
        raise _problem("$", "must be a JSON object (a portfolio document)")
    return build_portfolio(data)


def portfolio_from_files(files: list[tuple[str, bytes]]) -> Portfolio:
    """Uploaded files into a Portfolio: one .json/.xlsx file, or the CSV tables of a folder."""
    if not files:
        raise _problem("request body", "holds no file; upload engineers.csv, ... or one file")
    names = [Path(name.replace("\\", "/")).name for name, _ in files]
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
    with tempfile.TemporaryDirectory(prefix="allocator-upload-") as folder:
        root = Path(folder)
        for name, (_, content) in zip(names, files, strict=True):
            (root / name).write_bytes(content)
        return load_portfolio(root / single[0] if single else root)
