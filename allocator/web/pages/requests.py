"""The request form (role requester) and each request's life: submitted, in this week's run,
staffed (by whom, which weeks) or not staffed (the reason, from the explanations). Requesters
see only their own requests; planners, viewers and auditors see all."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from allocator.errors import InvalidInputError, NotFoundError
from allocator.model import Portfolio
from allocator.service.keys import Permission, PermissionDeniedError
from allocator.web.pages.kit import (
    PAGE_SIZE,
    PageForbidden,
    Session,
    SignedIn,
    field_problems,
    posted,
    redirect,
    render,
    workspace_of,
)

router = APIRouter(include_in_schema=False)

ROLE_ROWS = 3
ROLE_FIELDS = ("skill", "min_proficiency", "hours", "start_week", "end_week")
TEXT_FIELDS = ("opportunity_id", "customer", "tier", "industry", "region", "notes")
NUMBER_FIELDS = ("value", "win_probability")


def _may_see(session: Session) -> None:
    if not (session.may(Permission.REQUEST) or session.may(Permission.READ)):
        raise PageForbidden("this role may not see requests")


@router.get("/app/requests")
def list_requests(
    request: Request,
    session: SignedIn,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    _may_see(session)
    workspace = workspace_of(request)
    offset = (page - 1) * PAGE_SIZE
    found, total = workspace.requests(session.principal, PAGE_SIZE, offset, session.team)
    lives = [workspace.life(item) for item in found]
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request, "requests.html", session, lives=lives, total=total, page=page, pages=pages
    )


def _choices(plan: Portfolio) -> dict[str, Any]:
    return {
        "skills": sorted(s.id for s in plan.skills),
        "regions": sorted(
            {o.region for o in plan.opportunities} | {e.region for e in plan.engineers}
        ),
        "industries": sorted({o.industry for o in plan.opportunities}),
        "opportunities": [o.id for o in plan.opportunities[:300]],
        "weeks": plan.horizon_weeks,
        "rows": ROLE_ROWS,
    }


@router.get("/app/requests/new")
def request_form(request: Request, session: SignedIn) -> HTMLResponse:
    session.require(Permission.REQUEST)
    plan = workspace_of(request).plan(session.principal)
    values = {"tier": "C", "win_probability": "0.5", "roles.0.min_proficiency": "3"}
    return render(
        request,
        "request_form.html",
        session,
        values=values,
        problems={},
        action="/app/requests/new",
        **_choices(plan),
    )


def _form_document(form: dict[str, str]) -> dict[str, Any]:
    """The posted fields as the request's document: empty role rows dropped, numbers given
    as typed (the service's validation names each bad one)."""
    document: dict[str, Any] = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
    for name in NUMBER_FIELDS:
        given = form.get(name, "").strip()
        if given:
            document[name] = given
    roles = []
    for row in range(ROLE_ROWS):
        role = {name: form.get(f"roles.{row}.{name}", "").strip() for name in ROLE_FIELDS}
        if not role["skill"] and not role["hours"]:
            continue
        roles.append({name: value for name, value in role.items() if value})
    document["roles"] = roles
    return document


@router.post("/app/requests/new")
async def file_request(request: Request, session: SignedIn) -> Response:
    session.require(Permission.REQUEST)
    posted_form = await posted(request, session)
    form = {name: str(value) for name, value in posted_form.items() if name != "csrf"}
    return await _filed(request, session, form, _form_document(form), None)


async def _filed(
    request: Request,
    session: Session,
    form: dict[str, str],
    document: dict[str, Any],
    number: int | None,
) -> Response:
    """File (or, with `number`, edit) the request; the form again, 422, on bad input."""
    workspace = workspace_of(request)
    try:
        if number is None:
            filed = await run_in_threadpool(workspace.file_request, document, session.principal)
        else:
            filed = await run_in_threadpool(
                workspace.edit_request, number, document, session.principal
            )
    except InvalidInputError as error:
        problems = field_problems(error)
        if "roles" in problems and not document["roles"]:
            problems["roles.0.skill"] = "give at least one role: " + problems.pop("roles")
        plan = workspace.plan(session.principal)
        return render(
            request,
            "request_form.html",
            session,
            status=422,
            values=form,
            problems=_renumbered(problems, document, form),
            action=f"/app/requests/{number}/edit" if number else "/app/requests/new",
            **_choices(plan),
        )
    return redirect(f"/app/requests/{filed.id}")


def _renumbered(
    problems: dict[str, str], document: dict[str, Any], form: dict[str, str]
) -> dict[str, str]:
    """Role problems named by the form's row (empty rows were dropped before validation)."""
    rows = [
        row
        for row in range(ROLE_ROWS)
        if form.get(f"roles.{row}.skill", "").strip() or form.get(f"roles.{row}.hours", "").strip()
    ]
    found = {}
    for name, text in problems.items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "roles" and parts[1].isdigit():
            index = int(parts[1])
            if index < len(rows):
                name = f"roles.{rows[index]}.{parts[2]}"
        found[name] = text
    return found


@router.get("/app/requests/{request_id}")
def show_request(
    request: Request,
    session: SignedIn,
    request_id: Annotated[int, Path(ge=1, le=2**53)],
) -> HTMLResponse:
    _may_see(session)
    workspace = workspace_of(request)
    try:
        found = workspace.request(request_id, session.principal)
    except NotFoundError as error:
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    try:  # Staffed weeks shown as the plan labels them (with their ISO weeks).
        label = workspace.plan(session.principal).week_label
    except NotFoundError:
        label = "week {}".format
    return render(request, "request.html", session, life=workspace.life(found), week=label)


def _values_of(content: dict[str, Any]) -> dict[str, str]:
    """A filed request's content as the form's values."""
    values = {name: str(content.get(name, "")) for name in (*TEXT_FIELDS, *NUMBER_FIELDS)}
    for row, role in enumerate(content.get("roles", [])[:ROLE_ROWS]):
        for name in ROLE_FIELDS:
            values[f"roles.{row}.{name}"] = str(role.get(name, ""))
    return values


@router.get("/app/requests/{request_id}/edit")
def edit_form(
    request: Request, session: SignedIn, request_id: Annotated[int, Path(ge=1, le=2**53)]
) -> HTMLResponse:
    session.require(Permission.REQUEST)
    workspace = workspace_of(request)
    try:
        found = workspace.request(request_id, session.principal)
    except NotFoundError as error:
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    return render(
        request,
        "request_form.html",
        session,
        values=_values_of(found.content),
        problems={},
        action=f"/app/requests/{request_id}/edit",
        editing=found,
        **_choices(workspace.plan(session.principal)),
    )


@router.post("/app/requests/{request_id}/edit")
async def edit(
    request: Request, session: SignedIn, request_id: Annotated[int, Path(ge=1, le=2**53)]
) -> Response:
    session.require(Permission.REQUEST)
    posted_form = await posted(request, session)
    form = {name: str(value) for name, value in posted_form.items() if name != "csrf"}
    try:
        return await _filed(request, session, form, _form_document(form), request_id)
    except NotFoundError as error:
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    except PermissionDeniedError as error:  # Another team's request.
        return render(request, "error.html", session, 403, title="Not allowed", message=str(error))


@router.post("/app/requests/{request_id}/withdraw")
async def withdraw(
    request: Request, session: SignedIn, request_id: Annotated[int, Path(ge=1, le=2**53)]
) -> Response:
    session.require(Permission.REQUEST)
    await posted(request, session)
    try:
        await run_in_threadpool(
            workspace_of(request).withdraw_request, request_id, session.principal
        )
    except PermissionDeniedError as error:  # Another team's request.
        return render(request, "error.html", session, 403, title="Not allowed", message=str(error))
    except (NotFoundError, InvalidInputError) as error:
        return render(
            request, "error.html", session, 409, title="Not withdrawn", message=str(error)
        )
    return redirect(f"/app/requests/{request_id}")
