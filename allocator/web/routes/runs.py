"""/v1/runs: submit, read, list, cancel runs; read a run's result and inputs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from allocator.explain.explanations import export_reasons
from allocator.io.exports import plan_csv, plan_xlsx_bytes
from allocator.service.runs import Feeder, RunFilter, RunRequest, RunService, RunStatus
from allocator.web.routes.deps import Planner, Reader, Scoped, ServiceDep
from allocator.web.routes.insightdeps import get_insight, recorded_actuals
from allocator.web.routes.models import (
    MAX_ID,
    WEEK_PATTERN,
    ResultOut,
    RunIn,
    RunInputsOut,
    RunOut,
    RunPage,
)
from allocator.web.routes.responses import errors

router = APIRouter(prefix="/v1/runs", tags=["runs"])

RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="Run id.")]


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("", status_code=202, summary="Submit a run", responses=errors(413, 429))
def submit_run(body: RunIn, response: Response, service: ServiceDep, principal: Planner) -> RunOut:
    """Queue a run and answer at once (202) with its id; poll GET /v1/runs/{id}."""
    request = RunRequest(
        portfolio_id=body.portfolio_id,
        portfolio=body.portfolio,
        policy=body.policy,
        pins=body.pins,
        forbids=body.forbids,
        previous_run_id=body.previous_run_id,
        time_limit=body.time_limit,
        seed=body.seed,
        week=body.week,
        feed=_feeder(body, service),
    )
    run = service.submit(request, principal)
    response.headers["Location"] = f"/v1/runs/{run.id}"
    return RunOut.of(run, _now())


def _feeder(body: RunIn, service: RunService) -> Feeder | None:
    """With `apply_actuals`, the recorded actuals of the stored portfolio (an inline one has
    no earlier runs: the service refuses it, naming the field)."""
    if not body.apply_actuals:
        return None
    return recorded_actuals(get_insight(service), body.portfolio_id)


@router.get("", summary="List runs", responses=errors())
def list_runs(
    service: ServiceDep,
    principal: Reader,
    status: Annotated[RunStatus | None, Query(description="Only runs in this status.")] = None,
    week: Annotated[
        str | None, Query(pattern=WEEK_PATTERN, description="Only runs of this ISO week.")
    ] = None,
    submitted_by: Annotated[
        str | None, Query(max_length=200, description="Only runs submitted by this key name.")
    ] = None,
    portfolio_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only runs of this stored portfolio.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Runs to skip.")] = 0,
) -> RunPage:
    """Runs matching every filter given, newest first, one page at a time."""
    where = RunFilter(
        status=status,
        week=week,
        submitted_by=submitted_by,
        portfolio_id=portfolio_id,
        team=None if principal.sees_all else principal.team,
    )
    items, total = service.list_runs(where, limit, offset)
    now = _now()
    return RunPage(
        items=[RunOut.of(run, now) for run in items], total=total, limit=limit, offset=offset
    )


@router.get("/{run_id}", summary="Read a run", responses=errors(404))  # Scoped inside.
async def get_run(run_id: RunId, service: ServiceDep, principal: Reader) -> RunOut:
    """Status, progress while running (best objective and gap so far), timings, outcome."""
    # Answered on the event loop itself: clients poll it, and it is one statement (the job
    # with its team and the hashes of its sealed records, whose figures are cached). Measured
    # under load: as fast as a hop to the thread pool, which costs a third more CPU per read.
    return RunOut.of(service.get_run(run_id, principal), _now())


@router.get(
    "/{run_id}/result",
    dependencies=Scoped,
    summary="Read a run's allocation",
    responses=errors(404, 409),
)
def get_result(run_id: RunId, service: ServiceDep, _: Reader) -> ResultOut:
    """The allocation of a run that ended with one (done, or cancelled while running);
    409 while it has none."""
    run, allocation = service.result(run_id)
    return ResultOut(run=RunOut.of(run, _now()), allocation=allocation)


@router.get(
    "/{run_id}/inputs",
    dependencies=Scoped,
    summary="Read what went into a run",
    responses=errors(404),
)
def get_inputs(run_id: RunId, service: ServiceDep, _: Reader) -> RunInputsOut:
    """The run's accepted record: portfolio snapshot, policy, parameters, versions."""
    return RunInputsOut(run_id=run_id, inputs=service.inputs(run_id))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def _download(content: bytes | str, media_type: str, filename: str) -> Response:
    disposition = f'attachment; filename="{filename}"'
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


@router.get(
    "/{run_id}/export.xlsx",
    dependencies=Scoped,
    summary="Download a run's plan as a workbook",
    response_class=Response,
    responses={**errors(404, 409), 200: {"content": {XLSX: {}}, "description": "The workbook."}},
)
def export_xlsx(run_id: RunId, service: ServiceDep, _: Reader) -> Response:
    """The plan for the people who act on it: sheets `By engineer` (hours per ISO week),
    `By opportunity` (team and value), `Unstaffed` (the reason in words: the binding reason
    of its roles for the unstaffed opportunities of highest value) and `Objective`.
    409 while the run has no result."""
    allocation = service.result(run_id)[1]
    portfolio = service.accepted(run_id).portfolio
    why = export_reasons(portfolio, allocation)
    return _download(plan_xlsx_bytes(portfolio, allocation, why), XLSX, f"run-{run_id}-plan.xlsx")


@router.get(
    "/{run_id}/export.csv",
    dependencies=Scoped,
    summary="Download a run's plan as CSV keyed by CRM id",
    response_class=Response,
    responses={**errors(404, 409), 200: {"content": {CSV: {}}, "description": "The CSV."}},
)
def export_csv(run_id: RunId, service: ServiceDep, _: Reader) -> Response:
    """One row per opportunity keyed by `crm_id` (its external_id, else its id): staffed,
    team, hours, first and last ISO week, expected value plain and tier-weighted, and the
    reason when unstaffed; to load back into the CRM. 409 while the run has no result."""
    allocation = service.result(run_id)[1]
    portfolio = service.accepted(run_id).portfolio
    why = export_reasons(portfolio, allocation)
    return _download(plan_csv(portfolio, allocation, why), CSV, f"run-{run_id}-plan.csv")


@router.post(
    "/{run_id}/cancel", dependencies=Scoped, summary="Cancel a run", responses=errors(404, 409)
)
def cancel_run(run_id: RunId, service: ServiceDep, principal: Planner) -> RunOut:
    """A queued run ends at once; a running one stops within a second and keeps the best
    allocation found so far, marked cancelled. 409 when the run has already ended."""
    return RunOut.of(service.cancel(run_id, principal), _now())
