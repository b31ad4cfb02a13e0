"""/v1/scenarios: submit a what-if scenario set (or a ratio sweep), read it, its comparison,
its ratio curve, its inputs and plots.

Like /v1/runs: a set is answered at once (202) and solved by the server's workers; poll
GET /v1/scenarios/{id} until `status` is `done`, then read the comparison or the PNG plots.
The input and output models of this resource live here, every field described.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from starlette.concurrency import run_in_threadpool

from allocator.service.jobs import JobStatus as RunStatus
from allocator.service.scenario_sets import (
    MAX_SCENARIOS,
    ScenarioRequest,
    ScenarioService,
    ScenarioSetState,
)
from allocator.web.routes.deps import Planner, Reader, Scoped
from allocator.web.routes.models import MAX_ID, PortfolioDocument
from allocator.web.routes.responses import errors
from allocator.whatif.compare import SweepComparison
from allocator.whatif.ratios import RatioCurve, RatioSweepSpec
from allocator.whatif.scenarios import Scenario

router = APIRouter(prefix="/v1/scenarios", tags=["scenarios"], dependencies=Scoped)

SetId = Annotated[int, Path(ge=1, le=MAX_ID, description="Scenario set id.")]


def get_scenarios(request: Request) -> ScenarioService:
    service: ScenarioService = request.app.state.scenarios
    return service


ScenariosDep = Annotated[ScenarioService, Depends(get_scenarios)]

RatioSweepDocument = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "allOf": [{"$ref": "#/components/schemas/RatioSweepSpec"}],
            "description": "A ratio sweep (see RatioSweepSpec), e.g. "
            '{"region": "East", "from": "1:6", "to": "1:2", "steps": 9}.',
        }
    ),
]
ScenarioDocument = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "allOf": [{"$ref": "#/components/schemas/Scenario"}],
            "description": "A named list of edits (see Scenario).",
        }
    ),
]


class ScenarioSetIn(BaseModel):
    """A what-if request: one base (a stored portfolio, an inline one, or a finished run) and
    the scenarios to solve and compare against it."""

    model_config = ConfigDict(extra="forbid", strict=True)  # `"seed": true` is no number.

    portfolio_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="A stored portfolio (from POST /v1/portfolios)."
    )
    portfolio: PortfolioDocument | None = Field(
        None, description="A portfolio given inline instead of portfolio_id."
    )
    base_run_id: int | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="A finished run: its portfolio is the base and its allocation the warm "
        "start of every scenario.",
    )
    scenarios: list[ScenarioDocument] = Field(
        default_factory=list,
        max_length=MAX_SCENARIOS,
        description="The scenarios, each a name and edits applied in order to the base.",
    )
    ratio_sweep: RatioSweepDocument | None = Field(
        None,
        description="Instead of scenarios: one scenario per presales headcount of a region "
        "or industry, from one presales-to-sales ratio to another; adds the `ratio` plot.",
    )
    time_limit: float | None = Field(
        None,
        gt=0,
        le=86_400,
        description="Seconds of search per solve; capped by ALLOCATOR_MAX_TIME_LIMIT. Default 5.",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Random seed of every solve.")


class PlotName(enum.StrEnum):
    """The plots of a scenario set."""

    COMPARISON = "comparison"
    UNMET = "unmet"
    RATIO = "ratio"


class ScenarioSetOut(BaseModel):
    """A scenario set: where it is, and where its results are once done."""

    id: int = Field(description="Scenario set id.")
    kind: str = Field(description="`scenarios` (given in the request) or `ratio_sweep`.")
    status: RunStatus = Field(description="queued, running, done, failed or cancelled.")
    submitted_by: str = Field(description="Name of the key that submitted it.")
    submitted_at: datetime = Field(description="When it was accepted (UTC).")
    started_at: datetime | None = Field(description="When a worker took it (UTC).")
    finished_at: datetime | None = Field(description="When it ended (UTC).")
    portfolio_id: int | None = Field(description="The stored portfolio it was based on.")
    base_run_id: int | None = Field(description="The run it was based on.")
    portfolio_name: str = Field(description="Name of the base portfolio.")
    scenarios: int = Field(description="Number of scenarios.")
    time_limit: float = Field(description="Seconds of search per solve, after the cap.")
    seed: int = Field(description="Random seed of every solve.")
    attempt: int = Field(description="Attempts so far (a server restart makes another).")
    solves_done: int = Field(description="Solves finished so far, while running.")
    solves_total: int = Field(description="Solves this set takes (known once running).")
    message: str = Field(description="Why it failed, when it did.")
    comparison_url: str | None = Field(description="The comparison, once done.")
    plot_urls: list[str] = Field(description="The PNG plots, once done.")

    @classmethod
    def of(cls, state: ScenarioSetState) -> ScenarioSetOut:
        done = state.status is RunStatus.DONE
        base = f"/v1/scenarios/{state.id}"
        plots = [p for p in PlotName if p is not PlotName.RATIO or state.kind == "ratio_sweep"]
        return cls(
            id=state.id,
            kind=state.kind,
            status=state.status,
            submitted_by=state.submitted_by,
            submitted_at=state.submitted_at,
            started_at=state.started_at,
            finished_at=state.finished_at,
            portfolio_id=state.portfolio_id,
            base_run_id=state.base_run_id,
            portfolio_name=state.portfolio_name,
            scenarios=state.scenarios,
            time_limit=state.time_limit,
            seed=state.seed,
            attempt=state.attempt,
            solves_done=state.solves_done,
            solves_total=state.solves_total,
            message=state.message,
            comparison_url=f"{base}/comparison" if done else None,
            plot_urls=[f"{base}/plots/{p.value}.png" for p in plots] if done else [],
        )


class ScenarioSetPage(BaseModel):
    """One page of scenario sets, newest first."""

    items: list[ScenarioSetOut] = Field(description="The scenario sets of this page.")
    total: int = Field(description="Scenario sets matching the filters, in all.")
    limit: int = Field(description="Page size asked for.")
    offset: int = Field(description="Scenario sets skipped.")


class ComparisonOut(BaseModel):
    """A done scenario set and its comparison against the base."""

    scenario_set: ScenarioSetOut = Field(description="The set.")
    comparison: SweepComparison = Field(
        description="The base's figures and each scenario's, with deltas, churn and the "
        "assignment diff (currency: the portfolio's; hours over the horizon)."
    )


class RatioCurveOut(BaseModel):
    """A done ratio sweep's curve: value covered per presales headcount."""

    scenario_set: ScenarioSetOut = Field(description="The set.")
    curve: RatioCurve = Field(
        description="One point per headcount with value covered (currency) and the marginal "
        "value of each added engineer."
    )


class ScenarioInputsOut(BaseModel):
    """What went into a scenario set, as recorded in the ledger."""

    scenario_set_id: int = Field(description="Scenario set id.")
    scenarios: list[Scenario] = Field(description="The scenarios as accepted.")
    ratio_sweep: RatioSweepSpec | None = Field(description="The ratio sweep, when it was one.")
    inputs: dict[str, Any] = Field(
        description="The whole `scenario_accepted` record: portfolio snapshot, base run "
        "allocation, parameters, versions, who submitted it."
    )


PNG: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        "description": "The plot as a PNG image.",
    }
}


@router.post("", status_code=202, summary="Submit a scenario set", responses=errors(413, 429))
def submit_scenarios(
    body: ScenarioSetIn, response: Response, service: ScenariosDep, principal: Planner
) -> ScenarioSetOut:
    """Validate the base and every edit, queue the set and answer at once (202) with its id;
    poll GET /v1/scenarios/{id}. Bad edits are 422 with the scenario, edit, field and value."""
    request = ScenarioRequest(
        portfolio_id=body.portfolio_id,
        portfolio=body.portfolio,
        base_run_id=body.base_run_id,
        scenarios=body.scenarios,
        ratio_sweep=body.ratio_sweep,
        time_limit=body.time_limit,
        seed=body.seed,
    )
    state = service.submit(request, principal)
    response.headers["Location"] = f"/v1/scenarios/{state.id}"
    return ScenarioSetOut.of(state)


@router.get("", summary="List scenario sets", responses=errors())
def list_scenario_sets(
    service: ScenariosDep,
    principal: Reader,
    status: Annotated[RunStatus | None, Query(description="Only sets in this status.")] = None,
    submitted_by: Annotated[
        str | None, Query(max_length=200, description="Only sets submitted by this key name.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Sets to skip.")] = 0,
) -> ScenarioSetPage:
    """Scenario sets matching every filter given, newest first, one page at a time."""
    team = None if principal.sees_all else principal.team
    items, total = service.list(status, submitted_by, limit, offset, team)
    return ScenarioSetPage(
        items=[ScenarioSetOut.of(s) for s in items], total=total, limit=limit, offset=offset
    )


@router.post("/{set_id}/cancel", summary="Cancel a scenario set", responses=errors(404, 409))
def cancel_scenario_set(set_id: SetId, service: ScenariosDep, principal: Planner) -> ScenarioSetOut:
    """A queued set ends at once; a running one after the solve it is on, without a
    comparison, marked cancelled. 409 when the set has already ended."""
    return ScenarioSetOut.of(service.cancel(set_id, principal))


@router.get("/{set_id}", summary="Read a scenario set", responses=errors(404))
def get_scenario_set(set_id: SetId, service: ScenariosDep, _: Reader) -> ScenarioSetOut:
    """Status, solves done so far, and the links to the results once done."""
    return ScenarioSetOut.of(service.get(set_id))


@router.get(
    "/{set_id}/comparison", summary="Read a scenario set's comparison", responses=errors(404, 409)
)
def get_comparison(set_id: SetId, service: ScenariosDep, _: Reader) -> ComparisonOut:
    """Every scenario against the base: value covered, staffing by tier, region and
    industry, utilization, unmet demand by skill x region, churn and the assignment diff.
    409 while the set has none."""
    state, comparison = service.comparison(set_id)
    return ComparisonOut(scenario_set=ScenarioSetOut.of(state), comparison=comparison)


@router.get("/{set_id}/inputs", summary="Read what went into a scenario set", responses=errors(404))
def get_scenario_inputs(set_id: SetId, service: ScenariosDep, _: Reader) -> ScenarioInputsOut:
    """The set's accepted record, sealed in the audit ledger's hash chain."""
    inputs = service.inputs(set_id)
    accepted = service.accepted(set_id, inputs)
    return ScenarioInputsOut(
        scenario_set_id=set_id,
        scenarios=accepted.scenarios,
        ratio_sweep=accepted.spec,
        inputs=inputs,
    )


@router.get("/{set_id}/ratio", summary="Read a ratio sweep's curve", responses=errors(404, 409))
def get_ratio_curve(set_id: SetId, service: ScenariosDep, _: Reader) -> RatioCurveOut:
    """Value covered per presales headcount and the marginal value of each added engineer;
    404 for a set that is not a ratio sweep, 409 while it has none."""
    curve = service.ratio_curve(set_id)
    return RatioCurveOut(scenario_set=ScenarioSetOut.of(service.get(set_id)), curve=curve)


@router.get(
    "/{set_id}/plots/{name}.png",
    summary="Draw a scenario set's plot",
    response_class=Response,
    responses={**PNG, **errors(404, 409)},
)
async def get_plot(
    set_id: SetId,
    name: Annotated[PlotName, Path(description="comparison, unmet, or ratio (ratio sweeps).")],
    service: ScenariosDep,
    _: Reader,
    scenario: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="unmet only: the scenario drawn against the base (default the first).",
        ),
    ] = None,
) -> Response:
    """`comparison`: value covered, staffing by tier, utilization by region and churn for
    every scenario; `unmet`: unstaffed demand hours by skill x region, base and change;
    `ratio` (ratio sweeps): value covered and marginal value per presales headcount."""
    png = await run_in_threadpool(service.plot, set_id, name.value, scenario)
    return Response(content=png, media_type="image/png")
