"""/v1/runs/{id}/explain: why an opportunity got (or did not get) engineers, an engineer's
contribution, two opportunities side by side, fairness, and an infeasible run's conflict.

A per-kind view over the job service. Answers that need no re-solve are synchronous views:
the run's recorded inputs and result, the explanation's look-ups built once per run (kept for
the few most recent runs, since a finished run never changes) and
`allocator.explain.explanations`'s answers, each with a plain-language summary. Answers that
may solve (the price of an unstaffed opportunity, a contrast with one, fairness) are
explanation jobs (`service.explanations`): a worker process answers, the route waits, and no
solver runs in the server. Each re-solve is capped by the server's maximum time limit.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from allocator.core.recent import Recent
from allocator.explain.explanations import (
    Contrast,
    EngineerExplanation,
    Fairness,
    OpportunityExplanation,
    Run,
    contrast,
    explain_conflicts,
    explain_engineer,
    explain_opportunity,
)
from allocator.explain.job import Question
from allocator.service.explanations import ExplanationAsked, ExplanationService
from allocator.service.keys import Principal
from allocator.service.runs import RunService
from allocator.web.routes.deps import Reader, Scoped, ServiceDep
from allocator.web.routes.models import MAX_ID
from allocator.web.routes.responses import errors

router = APIRouter(prefix="/v1/runs/{run_id}/explain", tags=["explain"], dependencies=Scoped)

RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="Run id.")]
RecordId = Annotated[str, Path(min_length=1, max_length=200, description="Record id.")]
Seconds = Annotated[
    float, Query(gt=0, le=600, description="Seconds per re-solve (capped by the server).")
]
CACHED_RUNS = 4


class ConflictsOut(BaseModel):
    """An infeasible run's minimal sets of pins, forbids and required demands at odds."""

    conflicts: list[str] = Field(description="Labels of the first minimal conflict set.")
    conflict_sets: list[list[str]] = Field(
        default_factory=list, description="Every minimal conflict set found."
    )
    conflicts_complete: bool = Field(
        False, description="True when `conflict_sets` lists every minimal conflict."
    )
    summary: str = Field(description="The conflicts in plain words, with what is guaranteed.")


def _run(request: Request, service: RunService, run_id: int) -> Run:
    """The run's explanation look-ups, built once and kept for the most recent runs."""
    kept: Recent[int, Run] = request.app.state.explained_runs
    run = kept.get(run_id)
    if run is None:
        _, allocation = service.result(run_id)
        run = Run.of(service.accepted(run_id).portfolio, allocation)
        kept.put(run_id, run)
    return run


def get_explanations(request: Request) -> ExplanationService:
    service: ExplanationService = request.app.state.explanations
    return service


ExplanationsDep = Annotated[ExplanationService, Depends(get_explanations)]


def _asked(run_id: int, principal: Principal, **question: Any) -> ExplanationAsked:
    return ExplanationAsked(run_id=run_id, asked_by=principal.name, question=Question(**question))


def _seconds(service: RunService, seconds: float) -> float:
    return min(seconds, service.settings.max_time_limit)


@router.get(
    "/opportunities/{opportunity_id}",
    summary="Why an opportunity got (or did not get) engineers",
    responses=errors(404, 409),
)
def explain_an_opportunity(
    run_id: RunId,
    opportunity_id: RecordId,
    request: Request,
    service: ServiceDep,
    explanations: ExplanationsDep,
    principal: Reader,
    price: Annotated[
        bool, Query(description="For an unstaffed one: re-solve forced staffed (the price).")
    ] = True,
    time_limit: Seconds = 3.0,
) -> OpportunityExplanation:
    """Each role's engineer and the points the pair brings, the runners-up and the rule that
    stopped each; for an unstaffed opportunity the binding reasons, the price of forcing it
    staffed (re-solved) and what it would take."""
    run = _run(request, service, run_id)
    run.opportunity(opportunity_id)  # 404 here for an unknown one.
    if not price or opportunity_id in run.staffed or not run.roles_of.get(opportunity_id):
        return explain_opportunity(run, opportunity_id, with_price=False)  # No re-solve.
    asked = _asked(
        run_id,
        principal,
        kind="opportunity",
        opportunity_id=opportunity_id,
        time_limit=_seconds(service, time_limit),
    )
    return OpportunityExplanation.model_validate(explanations.ask(asked, principal))


@router.get(
    "/engineers/{engineer_id}",
    summary="An engineer's load and contribution",
    responses=errors(404, 409),
)
def explain_an_engineer(
    run_id: RunId, engineer_id: RecordId, request: Request, service: ServiceDep, _: Reader
) -> EngineerExplanation:
    """Weekly utilization, the opportunities served and the expected value supported."""
    return explain_engineer(_run(request, service, run_id), engineer_id)


@router.get("/contrast", summary="Two opportunities side by side", responses=errors(404, 409))
def contrast_two(
    run_id: RunId,
    request: Request,
    service: ServiceDep,
    explanations: ExplanationsDep,
    principal: Reader,
    a: Annotated[str, Query(min_length=1, max_length=200, description="First opportunity.")],
    b: Annotated[str, Query(min_length=1, max_length=200, description="Second opportunity.")],
    time_limit: Seconds = 3.0,
) -> Contrast:
    """Why did `a` get its engineers and `b` nobody (or both, or neither)?"""
    run = _run(request, service, run_id)
    run.opportunity(a), run.opportunity(b)  # 404 here for an unknown one.
    if {a, b} <= run.staffed:
        return contrast(run, a, b)  # Both staffed: no price, no re-solve.
    seconds = _seconds(service, time_limit)
    asked = _asked(run_id, principal, kind="contrast", a=a, b=b, time_limit=seconds)
    return Contrast.model_validate(explanations.ask(asked, principal))


@router.get(
    "/fairness", summary="Coverage by seniority, region, industry, tier", responses=errors(404, 409)
)
def fairness_of_run(
    run_id: RunId,
    request: Request,
    service: ServiceDep,
    explanations: ExplanationsDep,
    principal: Reader,
    verify: Annotated[
        bool, Query(description="Re-solve with seniority and requester permuted.")
    ] = False,
    time_limit: Seconds = 10.0,
) -> Fairness:
    """Share of requested expected value covered per group, next to the seniority-first
    status quo; with `verify`, a re-solve shows the allocation ignores who asked."""
    # A job even without `verify`: the seniority-first baseline may call CP-SAT for pins.
    service.result(run_id)  # 404 or 409 here, before anything is queued.
    seconds = _seconds(service, time_limit)
    asked = _asked(run_id, principal, kind="fairness", verify=verify, time_limit=seconds)
    return Fairness.model_validate(explanations.ask(asked, principal))


@router.get("/conflicts", summary="An infeasible run's conflict", responses=errors(404, 409))
def conflicts_of_run(
    run_id: RunId, request: Request, service: ServiceDep, _: Reader
) -> ConflictsOut:
    """The smallest set of pins, forbids and required demands that cannot all hold."""
    run = _run(request, service, run_id)
    allocation = run.allocation
    return ConflictsOut(
        conflicts=allocation.conflicts,
        conflict_sets=allocation.conflict_sets,
        conflicts_complete=allocation.conflicts_complete,
        summary=explain_conflicts(run),
    )
