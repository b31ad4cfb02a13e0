"""The board: engineers x weeks of a finished run, each cell coloured by utilization with its
opportunities; the unstaffed demand per skill and region; the explanation drawer of an
opportunity (who, the runners-up and the rule that stopped each, the reasons; the price of
forcing it and what it would take on request, re-solved by a worker), with pin and forbid
from there, and the pins and forbids of the plan with a re-run."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from allocator.core.rules import committed_in, engineer_week
from allocator.errors import AllocatorError, InvalidInputError, NotFoundError
from allocator.explain.explanations import OpportunityExplanation, explain_opportunity
from allocator.explain.job import Question
from allocator.model import HOUR_SCALE, Allocation, Portfolio
from allocator.service.explanations import ExplanationAsked, ExplanationService
from allocator.service.keys import Permission
from allocator.web.pages.kit import (
    PageOf,
    SignedIn,
    field_problems,
    posted,
    redirect,
    render,
    service_of,
    workspace_of,
)

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Query(max_length=100)]
RunId = Annotated[int, Path(ge=1, le=2**53)]
OpportunityId = Annotated[str, Path(min_length=1, max_length=200)]
BOARD_ROWS = 40
BANDS = (0.01, 0.5, 0.85, 1.0)
"""Utilization bands of the cell colours: idle, < 50 %, < 85 % (the default target), <= 100 %,
above."""


def band(utilization: float) -> int:
    """The colour class of a cell: 0 idle ... 4 above 100 %."""
    return sum(utilization >= edge if edge < 1.0 else utilization > edge for edge in BANDS)


def _grid(
    portfolio: Portfolio, allocation: Allocation, region: str, skill: str
) -> list[dict[str, Any]]:
    demands = portfolio.demand_by_id()
    cells: dict[tuple[str, int], list[str]] = defaultdict(list)
    load: dict[tuple[str, int], float] = defaultdict(float)
    for a in allocation.assignments:
        for week in demands[a.demand_id].weeks(portfolio.horizon_weeks):
            cells[a.engineer_id, week].append(a.opportunity_id)
            load[a.engineer_id, week] += a.hours
    rows = []
    for engineer in portfolio.engineers:
        if (region and engineer.region != region) or (skill and skill not in engineer.skills):
            continue
        weeks = []
        for week in portfolio.weeks():
            working = engineer_week(engineer, week).worked / HOUR_SCALE
            used = committed_in(engineer, week) / HOUR_SCALE + load.get((engineer.id, week), 0.0)
            share = used / working if working else 0.0
            weeks.append(
                {
                    "week": week,
                    "utilization": share,
                    "band": band(share),
                    "opportunities": cells.get((engineer.id, week), []),
                }
            )
        rows.append({"engineer": engineer, "weeks": weeks})
    return rows


def unstaffed_demand(portfolio: Portfolio, allocation: Allocation) -> list[dict[str, Any]]:
    """Hours asked by the unstaffed opportunities' roles, per skill and region, largest first."""
    staffed = set(allocation.staffed_opportunities)
    region_of = {o.id: o.region for o in portfolio.opportunities}
    hours: dict[tuple[str, str], float] = defaultdict(float)
    roles: dict[tuple[str, str], int] = defaultdict(int)
    for demand in portfolio.demands:
        if demand.opportunity_id in staffed or not demand.required:
            continue
        key = (demand.skill, region_of[demand.opportunity_id])
        hours[key] += demand.hours * len(demand.weeks(portfolio.horizon_weeks))
        roles[key] += 1
    return [
        {"skill": skill, "region": region, "hours": total, "roles": roles[skill, region]}
        for (skill, region), total in sorted(hours.items(), key=lambda item: -item[1])
    ]


@router.get("/app/board")
def board(
    request: Request,
    session: SignedIn,
    run: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    region: Text = "",
    skill: Text = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    opportunity: Text = "",
    notice: Text = "",
) -> HTMLResponse:
    session.require(Permission.READ)
    workspace = workspace_of(request)
    if run is None:
        last = workspace.last_done_run(session.principal, session.team)
        if last is None:
            plan = workspace.plan(session.principal, session.team)
            return render(request, "board.html", session, run=None, plan=plan)
        run = last.id
    try:
        portfolio, allocation = workspace.snapshot(run, session.principal)
    except NotFoundError as error:  # Another team's run is not told to exist.
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    except AllocatorError as error:
        return render(request, "error.html", session, 409, title="No board", message=str(error))
    workspace.warm(run)  # The drawer's look-ups, ready before an opportunity is clicked.
    rows = _grid(portfolio, allocation, region, skill)
    filters = {"run": run, "region": region, "skill": skill}
    explained = workspace.explained(run, session.principal) if opportunity else None
    drawer = _drawer_context(explained, opportunity) if opportunity else None
    return render(
        request,
        "board.html",
        session,
        run=service_of(request).get_run(run),
        plan=workspace.plan(session.principal, session.team),
        page=PageOf.of(rows, page, BOARD_ROWS),
        weeks=[portfolio.week_label(week) for week in portfolio.weeks()],
        unstaffed=unstaffed_demand(portfolio, allocation)[:30],
        filters=filters,
        query=urlencode(filters),
        regions=sorted({e.region for e in portfolio.engineers}),
        skills=sorted(s.id for s in portfolio.skills),
        notice=notice,
        drawer=drawer,
    )


def _drawer_context(run: Any, opportunity_id: str) -> dict[str, Any]:
    explanation = explain_opportunity(run, opportunity_id, with_price=False)
    return {"x": explanation, "opportunity": run.opportunity(opportunity_id)}


@router.get("/app/board/{run_id}/explain/{opportunity_id}")
def drawer(
    request: Request, session: SignedIn, run_id: RunId, opportunity_id: OpportunityId
) -> HTMLResponse:
    """The explanation drawer (an htmx fragment; `/app/board?opportunity=` without JS)."""
    session.require(Permission.READ)
    try:
        explained = workspace_of(request).explained(run_id, session.principal)
        context = _drawer_context(explained, opportunity_id)
    except AllocatorError as error:
        return render(request, "error_part.html", session, 404, message=str(error))
    return render(request, "drawer.html", session, run_id=run_id, **context)


@router.get("/app/board/{run_id}/price/{opportunity_id}")
async def price(
    request: Request, session: SignedIn, run_id: RunId, opportunity_id: OpportunityId
) -> HTMLResponse:
    """The price of forcing an unstaffed opportunity and what it would take: re-solved by a
    worker (an explanation job, as the API does), the page waits for it."""
    session.require(Permission.READ)
    try:
        workspace_of(request).visible(run_id, session.principal)
    except NotFoundError as error:
        return render(request, "error_part.html", session, 404, message=str(error))
    explanations: ExplanationService = request.app.state.explanations
    seconds = min(3.0, service_of(request).settings.max_time_limit)
    asked = ExplanationAsked(
        run_id=run_id,
        asked_by=session.principal.name,
        question=Question(kind="opportunity", opportunity_id=opportunity_id, time_limit=seconds),
    )
    try:
        answer = await run_in_threadpool(explanations.ask, asked, session.principal)
    except AllocatorError as error:
        return render(request, "error_part.html", session, message=str(error))
    x = OpportunityExplanation.model_validate(answer)
    return render(request, "price.html", session, x=x)


@router.post("/app/board/direct")
async def direct(request: Request, session: SignedIn) -> Response:
    """Pin or forbid an engineer on an opportunity in the plan (from the drawer)."""
    session.require(Permission.WRITE)
    form = await posted(request, session)
    kind = str(form.get("kind", ""))
    engineer_id = str(form.get("engineer_id", "")).strip()
    opportunity_id = str(form.get("opportunity_id", "")).strip()
    run = str(form.get("run", ""))
    try:
        await run_in_threadpool(
            workspace_of(request).direct,
            kind,
            engineer_id,
            opportunity_id,
            session.principal,
            str(form.get("reason", "")).strip(),
        )
        word = "Pinned" if kind == "pins" else "Forbade"
        notice = f"{word} {engineer_id} on {opportunity_id}. Re-run the week to apply it."
    except (InvalidInputError, AllocatorError) as error:
        problems = field_problems(error) if isinstance(error, InvalidInputError) else {}
        notice = "Not changed: " + (
            "; ".join(f"{k}: {v}" for k, v in problems.items()) or str(error)
        )
    query = urlencode({"run": run, "opportunity": opportunity_id, "notice": notice})
    return redirect(f"/app/board?{query}", request)


@router.post("/app/board/undirect")
async def undirect(request: Request, session: SignedIn) -> Response:
    session.require(Permission.WRITE)
    form = await posted(request, session)
    index = str(form.get("index", ""))
    try:
        await run_in_threadpool(
            workspace_of(request).undirect,
            str(form.get("kind", "")),
            int(index) if index.isdigit() else -1,
            session.principal,
        )
        notice = "Removed. Re-run the week to apply it."
    except AllocatorError as error:
        notice = f"Not changed: {error}"
    return redirect(f"/app/board?{urlencode({'notice': notice})}", request)
