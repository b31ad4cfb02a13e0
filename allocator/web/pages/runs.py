"""The weekly run: submit the workspace's run with a time limit, follow it live (objective,
bound and gap, polled by htmx; a plain reload works without JavaScript), cancel it, and read
its summary next to the status quo and the greedy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from allocator.errors import AllocatorError, InputIssue, InvalidInputError, NotFoundError
from allocator.explain.explanations import unstaffed_in_words
from allocator.insight.feedback import FedPortfolio, feed_actuals
from allocator.io.exports import Reasons, plan_csv, plan_xlsx_bytes
from allocator.model import Allocation, Portfolio
from allocator.service.keys import Permission, PermissionDeniedError
from allocator.service.runs import Feeder
from allocator.web.pages.insight import insight_of
from allocator.web.pages.kit import (
    SignedIn,
    posted,
    redirect,
    render,
    service_of,
    workspace_of,
)

router = APIRouter(include_in_schema=False)

RunId = Annotated[int, Path(ge=1, le=2**53)]


@router.get("/app/runs")
def weekly(request: Request, session: SignedIn) -> HTMLResponse:
    session.require(Permission.READ)
    workspace = workspace_of(request)
    limit = service_of(request).settings.max_time_limit
    values = {"time_limit": str(service_of(request).settings.default_time_limit)}
    return render(
        request,
        "runs.html",
        session,
        runs=workspace.weekly_runs(session.principal, session.team)[:50],
        values=values,
        problems={},
        max_time_limit=limit,
    )


@router.post("/app/runs")
async def submit(request: Request, session: SignedIn) -> Response:
    session.require(Permission.WRITE)
    form = await posted(request, session)
    given = str(form.get("time_limit", "")).strip()
    limit = service_of(request).settings.max_time_limit
    problems = {}
    try:
        seconds = float(given)
        if not 0.5 <= seconds <= limit:
            problems["time_limit"] = f"must be between 0.5 and {limit:g} seconds (got {given!r})"
    except ValueError:
        problems["time_limit"] = f"must be a number of seconds (got {given!r})"
    apply_actuals = form.get("apply_actuals") == "on"
    if not problems:
        try:
            feed = (
                await run_in_threadpool(_actuals_feeder, request, session)
                if apply_actuals
                else None
            )
            run = await run_in_threadpool(
                workspace_of(request).run_week, session.principal, seconds, 0, feed
            )
            return redirect(f"/app/runs/{run.id}")
        except InvalidInputError as error:
            about = [issue.message for issue in error.issues if issue.field == "apply_actuals"]
            problems["apply_actuals" if about else "time_limit"] = "; ".join(about) or str(error)
        except AllocatorError as error:
            problems["time_limit"] = str(error)
    return render(
        request,
        "runs.html",
        session,
        status=422,
        runs=workspace_of(request).weekly_runs(session.principal)[:50],
        values={"time_limit": given, "apply_actuals": "on" if apply_actuals else ""},
        problems=problems,
        max_time_limit=limit,
    )


def _actuals_feeder(request: Request, session: SignedIn) -> Feeder:
    """The feeder of a weekly run that takes in the team's recorded actuals: the plans of the
    team's finished weekly runs and the actuals stored for the team, through `feed_actuals`
    (overruns count as committed, hours spent keep people on their work, flags recorded)."""
    workspace = workspace_of(request)
    history = insight_of(request).weekly_history(
        workspace.run_ids(session.principal), session.principal.team
    )
    if history is None:
        message = "no weekly run of this team has finished yet: no plan to read actuals against"
        raise InvalidInputError([InputIssue("$", "apply_actuals", message, "on")])

    def feed(portfolio: Portfolio, week: str) -> FedPortfolio:
        return feed_actuals(portfolio, history.runs, history.actuals, week)

    return feed


@router.get("/app/runs/{run_id}")
def run_page(request: Request, session: SignedIn, run_id: RunId) -> HTMLResponse:
    session.require(Permission.READ)
    try:
        run = service_of(request).get_run(run_id, session.principal)
    except NotFoundError as error:
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    if run.status.ended and run.objective is not None:  # Board, drawer, fairness: ready.
        workspace_of(request).warm(run_id)
    return render(request, "run.html", session, run=run)


@router.get("/app/runs/{run_id}/progress")
def progress(request: Request, session: SignedIn, run_id: RunId) -> HTMLResponse:
    """The live part of the run page (htmx polls it every second while the run goes on)."""
    session.require(Permission.READ)
    try:
        run = service_of(request).get_run(run_id, session.principal)
    except NotFoundError as error:
        return render(request, "error_part.html", session, 404, message=str(error))
    return render(request, "run_progress.html", session, run=run)


@router.get("/app/runs/{run_id}/summary")
async def summary(request: Request, session: SignedIn, run_id: RunId) -> HTMLResponse:
    """The finished run's figures next to the baselines, as the worker that solved the run
    recorded them (nothing is solved here)."""
    session.require(Permission.READ)
    try:
        rows = await run_in_threadpool(workspace_of(request).compared, run_id, session.principal)
    except NotFoundError as error:  # Another team's run is not told to exist.
        return render(request, "error_part.html", session, 404, message=str(error))
    except AllocatorError as error:
        return render(request, "error_part.html", session, message=str(error))
    return render(request, "run_summary.html", session, rows=rows, run_id=run_id)


EXPORTS: dict[str, tuple[str, Callable[[Portfolio, Allocation, Reasons], bytes | str]]] = {
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", plan_xlsx_bytes),
    "csv": ("text/csv; charset=utf-8", plan_csv),
}
"""The plan of a run as issue 13's exports (`io.exports`): the workbook and the CRM CSV."""


@router.get("/app/runs/{run_id}/plan.{kind}")
async def plan_export(request: Request, session: SignedIn, run_id: RunId, kind: str) -> Response:
    """The finished run's plan as the workbook (by engineer, by opportunity, unstaffed with the
    reason, objective) or the CSV keyed by CRM id, as the API's `/v1/runs/{id}/export.*`."""
    session.require(Permission.READ)
    if kind not in EXPORTS:
        message = f"no export {kind!r}; choose plan.xlsx or plan.csv"
        return render(request, "error.html", session, 404, title="Not found", message=message)
    media, write = EXPORTS[kind]
    try:
        portfolio, allocation = await run_in_threadpool(
            workspace_of(request).snapshot, run_id, session.principal
        )
    except AllocatorError as error:
        status = 404 if isinstance(error, NotFoundError) else 409
        return render(request, "error.html", session, status, title="No plan", message=str(error))
    workspace = workspace_of(request)

    def written() -> bytes | str:
        """The file, each unstaffed opportunity with the binding reason in words, read off
        the run's look-ups the board and the drawer share (built once per run)."""
        reasons = {}
        if allocation.status.has_solution:
            reasons = unstaffed_in_words(workspace.explained(run_id, session.principal))
        return write(portfolio, allocation, reasons)

    body = await run_in_threadpool(written)
    name = f"run-{run_id}-plan.{kind}"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post("/app/runs/{run_id}/cancel")
async def cancel(request: Request, session: SignedIn, run_id: RunId) -> Response:
    session.require(Permission.WRITE)
    await posted(request, session)
    try:
        await run_in_threadpool(workspace_of(request).visible, run_id, session.principal, True)
        await run_in_threadpool(service_of(request).cancel, run_id, session.principal)
    except (NotFoundError, PermissionDeniedError) as error:  # None, or another team's.
        status = 404 if isinstance(error, NotFoundError) else 403
        return render(
            request, "error.html", session, status, title="Not allowed", message=str(error)
        )
    except AllocatorError as error:
        return render(
            request, "error.html", session, 409, title="Cannot cancel", message=str(error)
        )
    return redirect(f"/app/runs/{run_id}", request)
