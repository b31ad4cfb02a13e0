"""Pipeline and team: the workspace's opportunities and engineers in lists with filters,
sorting and paging; an edit form for each; import (upload, with the table of its problems)
and export of the whole plan."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from allocator.core.rules import engineer_week
from allocator.errors import InvalidInputError, NotFoundError
from allocator.model import HOUR_SCALE, Engineer, Opportunity, Portfolio, expected_value
from allocator.service.keys import Permission
from allocator.web.pages.kit import (
    PageOf,
    SignedIn,
    field_problems,
    posted,
    problem,
    redirect,
    render,
    service_of,
    workspace_of,
)
from allocator.web.uploads import MAX_FILES, portfolio_from_files

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Query(max_length=100)]
PageNo = Annotated[int, Query(ge=1, le=100_000)]
RecordId = Annotated[str, Path(min_length=1, max_length=200)]

OPPORTUNITY_SORTS = ("id", "value", "expected_value", "tier", "region", "roles")
ENGINEER_SORTS = ("id", "region", "capacity", "free", "skills")
OPPORTUNITY_FIELDS = {"tier": str, "stage": str, "value": float, "win_probability": float}
ENGINEER_FIELDS = {"region": str, "capacity_hours": float, "committed_hours": float}


def _sorted(rows: list[dict[str, Any]], sort: str, allowed: tuple[str, ...]) -> list[Any]:
    key = sort.removeprefix("-")
    if key not in allowed:
        raise problem("sort", f"must be one of {', '.join(allowed)} (with - for descending)", sort)
    return sorted(rows, key=lambda row: row[key], reverse=sort.startswith("-"))


_rows: dict[tuple[str, int], tuple[Portfolio, list[dict[str, Any]]]] = {}
"""The last lists built, per kind and plan (the workspace keeps one Portfolio per version)."""


def _cached(kind: str, plan: Portfolio, build: Any) -> list[dict[str, Any]]:
    found = _rows.get((kind, id(plan)))
    if found is not None and found[0] is plan:
        return found[1]
    rows: list[dict[str, Any]] = build(plan)
    for key in [key for key in _rows if key[0] == kind]:
        del _rows[key]
    _rows[kind, id(plan)] = (plan, rows)
    return rows


def _opportunity_rows(plan: Portfolio) -> list[dict[str, Any]]:
    roles = plan.demands_of()
    return [
        {
            "record": o,
            "id": o.id,
            "value": o.value,
            "expected_value": expected_value(o, plan.policy),
            "tier": o.tier,
            "region": o.region,
            "roles": len(roles.get(o.id, [])),
            "hours": sum(d.hours for d in roles.get(o.id, [])),
        }
        for o in plan.opportunities
    ]


def _engineer_rows(plan: Portfolio) -> list[dict[str, Any]]:
    return [
        {
            "record": e,
            "id": e.id,
            "region": e.region,
            "capacity": e.capacity_hours,
            "free": engineer_week(e, 1).free / HOUR_SCALE,
            "skills": len(e.skills),
        }
        for e in plan.engineers
    ]


def _matches(text: str, *fields: str) -> bool:
    return not text or any(text.lower() in field.lower() for field in fields)


def _listing(
    request: Request,
    session: SignedIn,
    template: str,
    rows: list[dict[str, Any]],
    filters: dict[str, str],
    sorts: tuple[str, ...],
    page: int,
    **context: Any,
) -> HTMLResponse:
    """One page of `rows` sorted as asked; a bad sort is named and the rows stay unsorted."""
    try:
        ordered = _sorted(rows, filters["sort"], sorts)
        problems = {}
    except InvalidInputError as error:
        ordered, problems = rows, field_problems(error)
    return render(
        request,
        template,
        session,
        page=PageOf.of(ordered, page),
        filters=filters,
        query=urlencode(filters),
        problems=problems,
        sorts=sorts,
        **context,
    )


@router.get("/app/pipeline")
def pipeline(
    request: Request,
    session: SignedIn,
    q: Text = "",
    region: Text = "",
    tier: Text = "",
    sort: Text = "-expected_value",
    page: PageNo = 1,
) -> HTMLResponse:
    session.require(Permission.READ)
    plan = workspace_of(request).plan(session.principal, session.team)
    rows = [
        row
        for row in _cached("opportunities", plan, _opportunity_rows)
        if _matches(q, row["id"], row["record"].customer, row["record"].industry)
        and (not region or row["region"] == region)
        and (not tier or row["tier"] == tier)
    ]
    filters = {"q": q, "region": region, "tier": tier, "sort": sort}
    regions = sorted({o.region for o in plan.opportunities})
    return _listing(
        request, session, "pipeline.html", rows, filters, OPPORTUNITY_SORTS, page, regions=regions
    )


@router.get("/app/team")
def team(
    request: Request,
    session: SignedIn,
    q: Text = "",
    region: Text = "",
    skill: Text = "",
    sort: Text = "id",
    page: PageNo = 1,
) -> HTMLResponse:
    session.require(Permission.READ)
    plan = workspace_of(request).plan(session.principal, session.team)
    rows = [
        row
        for row in _cached("engineers", plan, _engineer_rows)
        if _matches(q, row["id"], row["record"].name)
        and (not region or row["region"] == region)
        and (not skill or skill in row["record"].skills)
    ]
    filters = {"q": q, "region": region, "skill": skill, "sort": sort}
    return _listing(
        request,
        session,
        "team.html",
        rows,
        filters,
        ENGINEER_SORTS,
        page,
        regions=sorted({e.region for e in plan.engineers}),
        skills=sorted(s.id for s in plan.skills),
    )


def _record(plan: Portfolio, kind: str, record_id: str) -> Engineer | Opportunity:
    found = (plan.engineer_by_id() if kind == "engineers" else plan.opportunity_by_id()).get(
        record_id
    )
    if found is None:
        raise NotFoundError(f"no {kind[:-1]} {record_id!r} in the workspace")
    return found


def _edit_page(
    request: Request,
    session: SignedIn,
    kind: str,
    record_id: str,
    values: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    workspace = workspace_of(request)
    plan, row = workspace.current(session.principal)
    try:
        record = _record(plan, kind, record_id)
    except NotFoundError as error:
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    fields = ENGINEER_FIELDS if kind == "engineers" else OPPORTUNITY_FIELDS
    shown = {name: getattr(record, name) for name in fields}
    shown["version"] = row.version
    return render(
        request,
        "edit.html",
        session,
        status=status,
        kind=kind,
        record=record,
        fields=list(fields),
        values=values or shown,
        problems=problems or {},
    )


@router.get("/app/{kind}/{record_id}/edit")
def edit_form(request: Request, session: SignedIn, kind: str, record_id: RecordId) -> Response:
    session.require(Permission.WRITE)
    if kind not in ("engineers", "opportunities"):
        return render(request, "error.html", session, 404, title="Not found", message=kind)
    return _edit_page(request, session, kind, record_id)


@router.post("/app/{kind}/{record_id}/edit")
async def edit(request: Request, session: SignedIn, kind: str, record_id: RecordId) -> Response:
    session.require(Permission.WRITE)
    if kind not in ("engineers", "opportunities"):
        return render(request, "error.html", session, 404, title="Not found", message=kind)
    form = {k: str(v).strip() for k, v in (await posted(request, session)).items()}
    fields = ENGINEER_FIELDS if kind == "engineers" else OPPORTUNITY_FIELDS
    changes: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, kind_of in fields.items():
        given = form.get(name, "")
        try:
            changes[name] = kind_of(given)
        except ValueError:
            problems[name] = f"must be a number (got {given!r})"
    version = int(form["version"]) if form.get("version", "").isdigit() else None
    if not problems:
        try:
            await run_in_threadpool(
                workspace_of(request).set_fields,
                kind,
                record_id,
                changes,
                session.principal,
                version or 0,
            )
            back = "/app/team" if kind == "engineers" else "/app/pipeline"
            return redirect(f"{back}?q={record_id}")
        except InvalidInputError as error:
            problems = {
                (name if name in fields else "version" if name == "version" else name): text
                for name, text in field_problems(error).items()
            }
    return _edit_page(request, session, kind, record_id, form, problems, 422)


@router.get("/app/import")
def import_form(request: Request, session: SignedIn) -> HTMLResponse:
    session.require(Permission.WRITE)
    return render(request, "import.html", session, issues=[])


@router.post("/app/import")
async def import_files(request: Request, session: SignedIn) -> Response:
    """Replace the plan by uploaded files (CSV tables, one .xlsx or .json); on bad input the
    table of problems, each with file, row, column and value, and nothing changed."""
    session.require(Permission.WRITE)
    form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES + 2)
    try:
        await posted(request, session)
        files = [
            (item.filename or "", await item.read())
            for _, item in form.multi_items()
            if isinstance(item, UploadFile) and item.filename
        ]
        settings = service_of(request).settings  # Workbook caps, demands counted first.
        portfolio = await run_in_threadpool(portfolio_from_files, files, settings)
        await run_in_threadpool(workspace_of(request).replace, portfolio, session.principal)
    except InvalidInputError as error:
        return render(request, "import.html", session, status=422, issues=error.issues[:200])
    finally:
        await form.close()
    return redirect("/app/pipeline")


@router.get("/app/export.json")
def export(request: Request, session: SignedIn) -> Response:
    """The whole plan as a portfolio JSON document (the API and the CLI read it)."""
    session.require(Permission.READ)
    plan, row = workspace_of(request).current(session.principal, session.team)
    body = json.dumps(plan.model_dump(mode="json"), indent=1)
    name = f"workspace-v{row.version}.json"
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
