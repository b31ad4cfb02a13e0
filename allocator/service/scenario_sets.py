"""The what-if service: scenario sets accepted, queued, solved by the job workers, compared.

A scenario set is a job of kind `scenario_set` (`jobs.py` holds the queue, the workers and
recovery shared with every kind); solving is the pure handler `allocator.whatif.job.sweep_job`.
This module adds what is particular to scenario sets:

- `ScenarioService.submit` validates a request (one base: a stored portfolio, an inline one,
  or a finished run, whose portfolio snapshot is the base and whose allocation is the warm
  start; plus the scenarios and their edits) and records it as `queued` with a
  `scenario_accepted` ledger record (`ScenarioAccepted`, typed): the portfolio snapshot, the
  scenarios, the parameters and the versions, sealed into the same hash chain as runs.
- A worker solves it (the sweep's own spawned processes, one per worker; CP-SAT never runs in
  the server process), reports the solves done as progress, and records the comparison in a
  `scenario_finished` ledger record (`ScenarioFinished`). Plots are drawn from it on request.
- Sets can be listed and cancelled like runs; a running set stops after its next solve.

Imports the domain, `jobs`, `runs` (the typed run records), `keys`, `settings` and the what-if
record types; the sweep itself only inside a worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from allocator.errors import InputIssue, InvalidInputError, NotFoundError, problems
from allocator.model import Allocation, Portfolio, build_portfolio, json_location
from allocator.service.admission import check_active_jobs, check_raw_portfolio, limits_of
from allocator.service.jobs import (
    Accepted,
    ConflictError,
    Ending,
    Finished,
    JobFilter,
    JobKind,
    JobKindSpec,
    JobProgress,
    JobService,
    JobState,
    JobStatus,
    JobStore,
    NewJob,
    finished_fields,
)
from allocator.service.keys import Principal
from allocator.service.runs import RunAccepted, RunFinished, check_size, provenance
from allocator.service.settings import Settings
from allocator.whatif.compare import SweepComparison
from allocator.whatif.ratios import RatioCurve, RatioSweepSpec, plan_ratio_sweep
from allocator.whatif.scenarios import Scenario, check_scenario, parse_scenarios

log = logging.getLogger("allocator.scenarios")

MAX_SCENARIOS = 100
"""Scenarios in one request at most."""
QUEUE_SIZE = 20
"""Scenario sets waiting at most; one more is answered 429."""
DEFAULT_TIME_LIMIT = 5.0
"""Seconds of search per scenario when the request gives none (capped by max_time_limit)."""
PLOTS = ("comparison", "unmet", "ratio")


class ScenarioSetSummary(BaseModel):
    """What is known of a scenario set when it is accepted (kept on its job)."""

    set_kind: str
    """`scenarios` (given by the client) or `ratio_sweep` (made from a ratio sweep)."""
    portfolio_id: int | None
    base_run_id: int | None
    portfolio_name: str
    scenarios: int
    time_limit: float
    seed: int


@dataclass(frozen=True)
class ScenarioSetState:
    """A scenario-set job as the routers show it."""

    id: int
    status: JobStatus
    kind: str
    submitted_by: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    portfolio_id: int | None
    base_run_id: int | None
    portfolio_name: str
    scenarios: int
    time_limit: float
    seed: int
    attempt: int
    solves_done: int
    solves_total: int
    message: str

    @classmethod
    def of(cls, job: JobState) -> ScenarioSetState:
        summary = ScenarioSetSummary.model_validate(job.summary)
        return cls(
            id=job.id,
            status=job.status,
            kind=summary.set_kind,
            submitted_by=job.submitted_by,
            submitted_at=job.submitted_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            portfolio_id=summary.portfolio_id,
            base_run_id=summary.base_run_id,
            portfolio_name=summary.portfolio_name,
            scenarios=summary.scenarios,
            time_limit=summary.time_limit,
            seed=summary.seed,
            attempt=job.attempt,
            solves_done=job.progress.done or 0,
            solves_total=job.progress.total or 0,
            message=job.message,
        )


class ScenarioParameters(BaseModel):
    time_limit: float
    requested_time_limit: float
    seed: int
    reproducible: bool = True
    warm_start: bool = True


class ScenarioAccepted(Accepted):
    """The `scenario_accepted` ledger record: everything that went into the set."""

    scenario_set_id: int
    portfolio_id: int | None
    base_run_id: int | None
    portfolio: Portfolio
    base_allocation: Allocation | None
    scenarios: list[Scenario]
    ratio_sweep: dict[str, Any] | None
    """As sent (`from`, `to`): see `spec`."""
    parameters: ScenarioParameters

    @property
    def spec(self) -> RatioSweepSpec | None:
        return None if self.ratio_sweep is None else RatioSweepSpec.model_validate(self.ratio_sweep)


class ScenarioFinished(Finished):
    """The `scenario_finished` ledger record: how the set ended, with its comparison."""

    scenario_set_id: int
    seconds: float | None = None
    comparison: SweepComparison | None = None
    ratio_curve: RatioCurve | None = None


@dataclass(frozen=True)
class ScenarioRequest:
    """A scenario set as submitted; raw data, validated by `submit` with its places."""

    portfolio_id: int | None = None
    portfolio: Mapping[str, Any] | None = None
    base_run_id: int | None = None
    scenarios: Sequence[Any] = ()
    ratio_sweep: Mapping[str, Any] | None = None
    """Instead of `scenarios`: a ratio sweep (see `ratios.RatioSweepSpec`)."""
    time_limit: float | None = None
    seed: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


class ScenarioService:
    """Scenario sets over one store: submit, read, list, cancel, compare, plot. The worker
    pool that solves them is the one every kind shares (`RunService.start`)."""

    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.jobs = JobService(store, settings)
        self.versions = provenance()

    # -----------------------------------------------------------------------------------------
    # Requests

    def submit(self, request: ScenarioRequest, principal: Principal) -> ScenarioSetState:
        """Validate and queue a scenario set; raises InvalidInputError, QueueFullError."""
        portfolio, allocation = self._base(request, principal)
        if bool(request.scenarios) == (request.ratio_sweep is not None):
            raise InvalidInputError(
                [InputIssue("$", "scenarios", "give either scenarios or ratio_sweep")]
            )
        spec = None
        if request.ratio_sweep is not None:
            spec = _ratio_spec(request.ratio_sweep)
            scenarios = plan_ratio_sweep(portfolio, spec, limits_of(self.settings)).scenarios()
        else:
            if len(request.scenarios) > MAX_SCENARIOS:
                message = f"at most {MAX_SCENARIOS} scenarios in one request"
                raise InvalidInputError(
                    [InputIssue("$", "scenarios", message, len(request.scenarios))]
                )
            scenarios = parse_scenarios(list(request.scenarios), "$.scenarios")
        if len(scenarios) > MAX_SCENARIOS:
            message = f"the ratio sweep makes {len(scenarios)} scenarios, at most {MAX_SCENARIOS}"
            raise InvalidInputError([InputIssue("$", "ratio_sweep", message)])
        # Every edit checked against the base now, not when a worker gets to it.
        # Each scenario's edited portfolio within the limits too, found before it is made.
        for scenario in scenarios:
            check_scenario(portfolio, scenario, limits_of(self.settings))
        requested = request.time_limit or DEFAULT_TIME_LIMIT
        time_limit = min(requested, self.settings.max_time_limit)
        submitted_at = _now()

        def accepted(number: int) -> dict[str, Any]:
            record = ScenarioAccepted(
                scenario_set_id=number,
                portfolio_id=request.portfolio_id,
                base_run_id=request.base_run_id,
                portfolio=portfolio,
                base_allocation=allocation,
                scenarios=list(scenarios),
                ratio_sweep=None if spec is None else spec.model_dump(mode="json", by_alias=True),
                parameters=ScenarioParameters(
                    time_limit=time_limit,
                    requested_time_limit=requested,
                    seed=request.seed,
                    reproducible=True,
                    warm_start=True,
                ),
                submitted_by=principal.name,
                submitted_role=principal.role.value,
                submitted_at=submitted_at.isoformat(),
                versions=self.versions,
            )
            return record.model_dump(mode="json")

        summary = ScenarioSetSummary(
            set_kind="scenarios" if spec is None else "ratio_sweep",
            portfolio_id=request.portfolio_id,
            base_run_id=request.base_run_id,
            portfolio_name=portfolio.name,
            scenarios=len(scenarios),
            time_limit=time_limit,
            seed=request.seed,
        )
        job = NewJob(
            kind=JobKind.SCENARIO_SET,
            submitted_by=principal.name,
            submitted_at=submitted_at,
            time_limit=time_limit,
            summary=summary.model_dump(mode="json"),
            portfolio_id=request.portfolio_id,
            team=principal.team,
        )
        check_active_jobs(self.store, principal.name, self.settings)
        state = self.jobs.submit(
            job, accepted, QUEUE_SIZE, lambda waiting: len(waiting) * time_limit
        )
        return ScenarioSetState.of(state)

    def _base(
        self, request: ScenarioRequest, principal: Principal
    ) -> tuple[Portfolio, Allocation | None]:
        """The base portfolio, and the base run's allocation when the base is a run. Another
        team's portfolio is unknown; building on another team's run is refused (403)."""
        given = [
            name
            for name in ("portfolio_id", "portfolio", "base_run_id")
            if getattr(request, name) is not None
        ]
        if len(given) != 1:
            raise InvalidInputError(
                [
                    InputIssue(
                        "$", "portfolio_id", "give one of portfolio_id, portfolio, base_run_id"
                    )
                ]
            )
        if request.portfolio is not None:
            check_raw_portfolio(request.portfolio, self.settings, "$.portfolio")
            portfolio = build_portfolio(
                dict(request.portfolio), lambda loc: json_location(("portfolio", *loc))
            )
            check_size(portfolio, self.settings, "$.portfolio")
            return portfolio, None
        if request.portfolio_id is not None:
            try:
                if not principal.sees(self.store.get_portfolio(request.portfolio_id).team):
                    raise NotFoundError(f"portfolio {request.portfolio_id} does not exist")
                content = self.store.portfolio_content(request.portfolio_id)
            except NotFoundError:
                raise InvalidInputError(
                    [InputIssue("$", "portfolio_id", "unknown portfolio", request.portfolio_id)]
                ) from None
            portfolio = build_portfolio(content)
            check_size(portfolio, self.settings, "$")
            return portfolio, None
        assert request.base_run_id is not None
        run_id = request.base_run_id
        try:
            self.jobs.scoped(JobKind.RUN, run_id, principal, acting=True)
            inputs = RunAccepted.model_validate(self.store.job_inputs(JobKind.RUN, run_id))
            outcome = self.store.job_outcome(JobKind.RUN, run_id)
        except NotFoundError:
            raise InvalidInputError(
                [InputIssue("$", "base_run_id", "unknown run", run_id)]
            ) from None
        result = None if outcome is None else RunFinished.model_validate(outcome).result
        if result is None:
            raise InvalidInputError(
                [InputIssue("$", "base_run_id", "names a run without a result", run_id)]
            )
        return inputs.portfolio, result

    def get(self, set_id: int) -> ScenarioSetState:
        return ScenarioSetState.of(self.jobs.get(JobKind.SCENARIO_SET, set_id))

    def list(
        self,
        status: JobStatus | None = None,
        submitted_by: str | None = None,
        limit: int = 50,
        offset: int = 0,
        team: str | None = None,
    ) -> tuple[list[ScenarioSetState], int]:
        where = JobFilter(JobKind.SCENARIO_SET, status=status, submitted_by=submitted_by, team=team)
        jobs, total = self.jobs.find(where, limit, offset)
        return [ScenarioSetState.of(job) for job in jobs], total

    def cancel(self, set_id: int, principal: Principal) -> ScenarioSetState:
        """A queued set ends at once; a running one after its next solve, without a
        comparison. ConflictError when it has already ended."""
        return ScenarioSetState.of(self.jobs.cancel(JobKind.SCENARIO_SET, set_id, principal.name))

    def inputs(self, set_id: int) -> dict[str, Any]:
        return self.jobs.accepted(JobKind.SCENARIO_SET, set_id)

    def accepted(self, set_id: int, inputs: dict[str, Any] | None = None) -> ScenarioAccepted:
        """The set's accepted record, typed (from `inputs` when already read)."""
        return ScenarioAccepted.model_validate(inputs or self.inputs(set_id))

    def finished(self, set_id: int) -> tuple[ScenarioSetState, ScenarioFinished]:
        """The set and its finished record, which must hold a comparison; ConflictError
        while it has none."""
        try:
            job, outcome = self.jobs.finished(JobKind.SCENARIO_SET, set_id)
        except ConflictError:
            state = self.get(set_id)
            raise ConflictError(
                f"scenario set {set_id} is {state.status.value}; it has no comparison yet"
            ) from None
        state = ScenarioSetState.of(job)
        finished = ScenarioFinished.model_validate(outcome)
        if finished.comparison is None:
            reason = finished.error or state.message or "it ended without one"
            raise ConflictError(
                f"scenario set {set_id} is {state.status.value} without a comparison: {reason}"
            )
        return state, finished

    def comparison(self, set_id: int) -> tuple[ScenarioSetState, SweepComparison]:
        """The comparison of a set that is done; ConflictError while it has none."""
        state, finished = self.finished(set_id)
        assert finished.comparison is not None
        return state, finished.comparison

    def ratio_curve(self, set_id: int) -> RatioCurve:
        """The ratio curve of a done ratio sweep; NotFoundError for other sets."""
        state = self.get(set_id)
        if state.kind != "ratio_sweep":
            raise NotFoundError(f"scenario set {set_id} is not a ratio sweep")
        _, finished = self.finished(set_id)  # ConflictError until it is done.
        assert finished.ratio_curve is not None, "a done ratio sweep has its curve"
        return finished.ratio_curve

    def plot(self, set_id: int, name: str, scenario: str | None = None) -> bytes:
        """A PNG of the set: `comparison`, `unmet` (for `scenario`, default the first one) or,
        for a ratio sweep, `ratio`."""
        if name not in PLOTS:
            raise NotFoundError(f"no plot named {name!r}; plots: {', '.join(PLOTS)}")
        if scenario is not None and name != "unmet":
            raise InvalidInputError(
                [InputIssue("query parameter scenario", "", "applies to the unmet plot only")]
            )
        from allocator.whatif.plots import (  # Matplotlib: only to draw.
            comparison_plot,
            ratio_plot,
            unmet_plot,
        )

        if name == "ratio":
            return ratio_plot(self.ratio_curve(set_id))
        _, comparison = self.comparison(set_id)
        if name == "comparison":
            return comparison_plot(comparison)
        if scenario is not None and scenario not in {c.name for c in comparison.scenarios}:
            raise NotFoundError(f"scenario set {set_id} has no scenario named {scenario!r}")
        chosen = comparison.get(scenario) if scenario else comparison.scenarios[0]
        return unmet_plot(comparison.base, chosen)


# ---------------------------------------------------------------------------------------------
# The scenario-set kind, for the workers


def _load(store: JobStore, job: JobState, settings: Settings) -> Any:
    from allocator.whatif.job import SweepJob

    accepted = ScenarioAccepted.model_validate(store.job_inputs(JobKind.SCENARIO_SET, job.id))
    return SweepJob(
        portfolio=accepted.portfolio,
        base_allocation=accepted.base_allocation,
        scenarios=accepted.scenarios,
        ratio_sweep=accepted.spec,
        time_limit=accepted.parameters.time_limit,
        seed=accepted.parameters.seed,
        warm_start=accepted.parameters.warm_start,
        # The worker is a process of its own already: a pool of more only with more workers;
        # on a Ray cluster, the sweep's solves are Ray tasks of their own.
        executor="ray" if settings.ray_address else "local" if settings.workers > 1 else "serial",
        processes=max(1, settings.workers),
        niceness=settings.worker_niceness,
        limits=limits_of(settings),
    )


def _handle(inputs: Any, progress: Any, stop: threading.Event) -> Any:
    from allocator.whatif.job import sweep_job

    return sweep_job(inputs, progress, stop)


def _progress(raw: tuple[int, int]) -> JobProgress:
    return JobProgress(done=raw[0], total=raw[1])


def _ending(
    job: JobState, outcome: Any, error: str | None, stopped: bool, timing: dict[str, Any]
) -> Ending:
    if stopped:
        status, error = JobStatus.CANCELLED, None
    else:
        status = JobStatus.FAILED if outcome is None else JobStatus.DONE
    kept = None if stopped else outcome
    finished = ScenarioFinished(
        scenario_set_id=job.id,
        seconds=timing["seconds"],
        comparison=None if kept is None else kept.comparison,
        ratio_curve=None if kept is None else kept.ratio_curve,
        **finished_fields(job, status, error, timing),
    )
    message = error or ("Cancelled while running." if stopped else "")
    return Ending(status, finished.model_dump(mode="json"), message=message)


SPEC: JobKindSpec[Any, Any] = JobKindSpec(
    kind=JobKind.SCENARIO_SET, load=_load, handler=_handle, progress=_progress, ending=_ending
)


def _ratio_spec(raw: Mapping[str, Any]) -> RatioSweepSpec:
    """A ratio sweep request, validated with its place: `$.ratio_sweep.steps`."""
    try:
        return RatioSweepSpec.model_validate(dict(raw))
    except ValidationError as error:
        raise InvalidInputError(
            problems(error, lambda loc: (json_location(("ratio_sweep", *loc)), "", loc))
        ) from None
