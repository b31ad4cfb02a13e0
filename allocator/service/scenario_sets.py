"""The what-if service: scenario sets accepted, queued, solved in worker processes, compared.

Orchestration, no formats and no SQL, like `runs.py`: storage goes through the
`ScenarioStore` protocol (implemented by `store.Store`), solving through `sweep.run_sweep`.

- `ScenarioService.submit` validates a request (one base: a stored portfolio, an inline one,
  or a finished run, whose portfolio snapshot is the base and whose allocation is the warm
  start; plus the scenarios and their edits) and records it as `queued` with a
  `scenario_accepted` ledger record: the portfolio snapshot, the scenarios, the parameters
  and the versions, sealed into the same hash chain as runs.
- A dispatcher thread claims the oldest queued set and solves it with the sweep's local
  executor (spawned worker processes; CP-SAT never runs in the server process), writes the
  number of solves done as progress, and records the comparison (`compare.SweepComparison`)
  in a `scenario_finished` ledger record. The plots are drawn from that record on request.
- At start-up, sets left `running` by a server that died are queued again.

Imports `sweep`, `compare`, `scenarios`, the domain, `runs` (shared statuses and errors) and
`keys`; never the API or the store.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from allocator.errors import InputIssue, InvalidInputError, NotFoundError
from allocator.model import Allocation, Portfolio, build_portfolio, json_location
from allocator.service.keys import Principal
from allocator.service.runs import ConflictError, QueueFullError, RunStatus, provenance
from allocator.service.settings import Settings
from allocator.whatif.compare import SweepComparison, compare_sweep
from allocator.whatif.ratios import RatioCurve, RatioSweepSpec, plan_ratio_sweep, ratio_curve
from allocator.whatif.scenarios import check_scenario, parse_scenarios
from allocator.whatif.sweep import Executor, SweepOptions, run_sweep, solve_from, using_executor

log = logging.getLogger("allocator.scenarios")

MAX_SCENARIOS = 100
"""Scenarios in one request at most."""
QUEUE_SIZE = 20
"""Scenario sets waiting at most; one more is answered 429."""
DEFAULT_TIME_LIMIT = 5.0
"""Seconds of search per scenario when the request gives none (capped by max_time_limit)."""
PLOTS = ("comparison", "unmet", "ratio")


@dataclass(frozen=True)
class ScenarioSetSummary:
    """What is known of a scenario set when it is accepted."""

    kind: str
    """`scenarios` (given by the client) or `ratio_sweep` (made from a ratio sweep)."""
    submitted_by: str
    submitted_at: datetime
    portfolio_id: int | None
    base_run_id: int | None
    portfolio_name: str
    scenarios: int
    time_limit: float
    seed: int


@dataclass(frozen=True)
class ScenarioSetState:
    """A scenario set's queue state as stored."""

    id: int
    status: RunStatus
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


class ScenarioStore(Protocol):
    """What the service needs from storage; `store.Store` implements it."""

    def portfolio_content(self, portfolio_id: int) -> dict[str, Any]: ...
    def run_inputs(self, run_id: int) -> dict[str, Any]: ...
    def run_outcome(self, run_id: int) -> dict[str, Any] | None: ...
    def create_scenario_set(
        self, summary: ScenarioSetSummary, inputs: dict[str, Any]
    ) -> ScenarioSetState: ...
    def get_scenario_set(self, set_id: int) -> ScenarioSetState: ...
    def scenario_set_inputs(self, set_id: int) -> dict[str, Any]: ...
    def scenario_set_outcome(self, set_id: int) -> dict[str, Any] | None: ...
    def queued_scenario_sets(self) -> int: ...
    def claim_next_scenario_set(self, worker: str) -> ScenarioSetState | None: ...
    def save_scenario_progress(self, set_id: int, attempt: int, done: int, total: int) -> None: ...
    def finish_scenario_set(
        self,
        set_id: int,
        attempt: int,
        status: RunStatus,
        outcome: dict[str, Any],
        actor: str,
        message: str = "",
    ) -> bool: ...
    def requeue_running_scenario_sets(self, max_attempts: int) -> list[int]: ...


def _now() -> datetime:
    return datetime.now(UTC)


class ScenarioService:
    """Scenario sets over one store: submit, read, compare, plot; and the dispatcher.

    `settings.workers` worker processes solve each set (0: sets are accepted, not solved here;
    `process_next` solves one in this process, for tests and tools).
    """

    def __init__(self, store: ScenarioStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.versions = provenance()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.name = f"{socket.gethostname()}:scenarios"

    # -----------------------------------------------------------------------------------------
    # Life cycle

    def start(self) -> list[int]:
        """Queue again the sets a dead server left running; start the dispatcher."""
        recovered = self.store.requeue_running_scenario_sets(self.settings.max_attempts)
        if recovered:
            log.warning("queued again after a restart: scenario sets %s", recovered)
        if self.settings.workers:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._dispatch, daemon=True)
            self._thread.start()
        return recovered

    def stop(self) -> None:
        """Stop the dispatcher after the set it is solving; a set cut short stays `running`
        and is queued again at the next start."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _dispatch(self) -> None:
        while not self._stopping.wait(self.settings.poll_seconds):
            try:
                options = SweepOptions(
                    executor="local",
                    processes=self.settings.workers,
                    niceness=self.settings.worker_niceness,
                )
                self.process_next(options)
            except Exception:  # The store being down must not end the dispatcher.
                log.exception("scenario dispatcher")

    # -----------------------------------------------------------------------------------------
    # Requests

    def submit(self, request: ScenarioRequest, principal: Principal) -> ScenarioSetState:
        """Validate and queue a scenario set; raises InvalidInputError, QueueFullError."""
        portfolio, allocation = self._base(request)
        if bool(request.scenarios) == (request.ratio_sweep is not None):
            raise InvalidInputError(
                [InputIssue("$", "scenarios", "give either scenarios or ratio_sweep")]
            )
        spec = None
        if request.ratio_sweep is not None:
            spec = _ratio_spec(request.ratio_sweep)
            scenarios = plan_ratio_sweep(portfolio, spec).scenarios()
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
        for scenario in scenarios:
            check_scenario(portfolio, scenario)
        requested = request.time_limit or DEFAULT_TIME_LIMIT
        time_limit = min(requested, self.settings.max_time_limit)
        submitted_at = _now()
        inputs = {
            "portfolio_id": request.portfolio_id,
            "base_run_id": request.base_run_id,
            "portfolio": portfolio.model_dump(mode="json"),
            "base_allocation": None if allocation is None else allocation.model_dump(mode="json"),
            "scenarios": [s.model_dump(mode="json") for s in scenarios],
            "ratio_sweep": None if spec is None else spec.model_dump(mode="json", by_alias=True),
            "parameters": {
                "time_limit": time_limit,
                "requested_time_limit": requested,
                "seed": request.seed,
                "reproducible": True,
                "warm_start": True,
            },
            "submitted_by": principal.name,
            "submitted_role": principal.role.value,
            "submitted_at": submitted_at.isoformat(),
            "versions": self.versions,
        }
        summary = ScenarioSetSummary(
            kind="scenarios" if spec is None else "ratio_sweep",
            submitted_by=principal.name,
            submitted_at=submitted_at,
            portfolio_id=request.portfolio_id,
            base_run_id=request.base_run_id,
            portfolio_name=portfolio.name,
            scenarios=len(scenarios),
            time_limit=time_limit,
            seed=request.seed,
        )
        with self._lock:
            waiting = self.store.queued_scenario_sets()
            if waiting >= QUEUE_SIZE:
                raise QueueFullError(
                    f"{waiting} scenario sets are waiting, the most this server queues",
                    retry_after=max(1, int(waiting * time_limit)),
                )
            return self.store.create_scenario_set(summary, inputs)

    def _base(self, request: ScenarioRequest) -> tuple[Portfolio, Allocation | None]:
        """The base portfolio, and the base run's allocation when the base is a run."""
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
            portfolio = build_portfolio(
                dict(request.portfolio), lambda loc: json_location(("portfolio", *loc))
            )
            self._check_size(portfolio)
            return portfolio, None
        if request.portfolio_id is not None:
            try:
                content = self.store.portfolio_content(request.portfolio_id)
            except NotFoundError:
                raise InvalidInputError(
                    [InputIssue("$", "portfolio_id", "unknown portfolio", request.portfolio_id)]
                ) from None
            return build_portfolio(content), None
        assert request.base_run_id is not None
        run_id = request.base_run_id
        try:
            inputs = self.store.run_inputs(run_id)
            outcome = self.store.run_outcome(run_id)
        except NotFoundError:
            raise InvalidInputError(
                [InputIssue("$", "base_run_id", "unknown run", run_id)]
            ) from None
        result = (outcome or {}).get("result")
        if not result:
            raise InvalidInputError(
                [InputIssue("$", "base_run_id", "names a run without a result", run_id)]
            )
        return build_portfolio(inputs["portfolio"]), Allocation.model_validate(result)

    def _check_size(self, portfolio: Portfolio) -> None:
        limits = (
            ("engineers", len(portfolio.engineers), self.settings.max_engineers),
            ("opportunities", len(portfolio.opportunities), self.settings.max_opportunities),
        )
        issues = [
            InputIssue("$.portfolio", name, f"at most {limit} are accepted by this server", n)
            for name, n, limit in limits
            if n > limit
        ]
        if issues:
            raise InvalidInputError(issues)

    def get(self, set_id: int) -> ScenarioSetState:
        return self.store.get_scenario_set(set_id)

    def inputs(self, set_id: int) -> dict[str, Any]:
        return self.store.scenario_set_inputs(set_id)

    def comparison(self, set_id: int) -> tuple[ScenarioSetState, SweepComparison]:
        """The comparison of a set that is done; ConflictError while it has none."""
        state = self.store.get_scenario_set(set_id)
        outcome = self.store.scenario_set_outcome(set_id)
        if outcome is None:
            raise ConflictError(
                f"scenario set {set_id} is {state.status.value}; it has no comparison yet"
            )
        if not outcome.get("comparison"):
            reason = outcome.get("error") or state.message or "it ended without one"
            raise ConflictError(
                f"scenario set {set_id} is {state.status.value} without a comparison: {reason}"
            )
        return state, SweepComparison.model_validate(outcome["comparison"])

    def ratio_curve(self, set_id: int) -> RatioCurve:
        """The ratio curve of a done ratio sweep; NotFoundError for other sets."""
        state = self.store.get_scenario_set(set_id)
        if state.kind != "ratio_sweep":
            raise NotFoundError(f"scenario set {set_id} is not a ratio sweep")
        self.comparison(set_id)  # ConflictError until it is done.
        outcome = self.store.scenario_set_outcome(set_id) or {}
        return RatioCurve.model_validate(outcome["ratio_curve"])

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

    # -----------------------------------------------------------------------------------------
    # Solving

    def process_next(self, options: SweepOptions, executor: Executor | None = None) -> bool:
        """Claim the oldest queued set and solve it with `options`' executor (or `executor`);
        False when nothing waits. Never raises for the set's own errors: the set ends
        `failed` with the error recorded."""
        if not self.store.queued_scenario_sets():  # A read first: claiming takes the lock.
            return False
        state = self.store.claim_next_scenario_set(self.name)
        if state is None:
            return False
        started = time.perf_counter()
        try:
            inputs = self.store.scenario_set_inputs(state.id)
            parameters = inputs["parameters"]
            sweep = SweepOptions(
                time_limit=float(parameters["time_limit"]),
                seed=int(parameters["seed"]),
                processes=options.processes,
                executor=options.executor,
                warm_start=bool(parameters["warm_start"]),
            )
            portfolio = build_portfolio(inputs["portfolio"])
            scenarios = parse_scenarios(inputs["scenarios"])
            last = [0.0]

            def progress(done: int, total: int, _: str) -> None:
                if time.monotonic() - last[0] >= self.settings.progress_seconds or done == total:
                    self.store.save_scenario_progress(state.id, state.attempt, done, total)
                    last[0] = time.monotonic()

            base_run = inputs.get("base_allocation")
            if base_run:
                with using_executor(sweep, executor) as ex:
                    result = solve_from(
                        portfolio,
                        Allocation.model_validate(base_run),
                        scenarios,
                        sweep,
                        ex,
                        progress,
                    )
            else:
                result = run_sweep(portfolio, scenarios, sweep, progress, executor)
            comparison = compare_sweep(result)
            curve = None
            if inputs.get("ratio_sweep"):
                spec = RatioSweepSpec.model_validate(inputs["ratio_sweep"])
                curve = ratio_curve(plan_ratio_sweep(portfolio, spec), result)
        except Exception as error:
            log.error("scenario set %s failed:\n%s", state.id, traceback.format_exc())
            message = f"{type(error).__name__}: {error}"
            outcome = self._outcome(state, RunStatus.FAILED, None, None, message, started)
            self.store.finish_scenario_set(
                state.id, state.attempt, RunStatus.FAILED, outcome, self.name, message
            )
            return True
        outcome = self._outcome(state, RunStatus.DONE, comparison, curve, None, started)
        self.store.finish_scenario_set(
            state.id, state.attempt, RunStatus.DONE, outcome, self.name, ""
        )
        return True

    def _outcome(
        self,
        state: ScenarioSetState,
        status: RunStatus,
        comparison: SweepComparison | None,
        curve: RatioCurve | None,
        error: str | None,
        started: float,
    ) -> dict[str, Any]:
        return {
            "scenario_set_id": state.id,
            "status": status.value,
            "attempt": state.attempt,
            "worker": self.name,
            "started_at": state.started_at.isoformat() if state.started_at else None,
            "finished_at": _now().isoformat(),
            "seconds": round(time.perf_counter() - started, 3),
            "comparison": None if comparison is None else comparison.model_dump(mode="json"),
            "ratio_curve": None if curve is None else curve.model_dump(mode="json"),
            "error": error,
        }


def _ratio_spec(raw: Mapping[str, Any]) -> RatioSweepSpec:
    """A ratio sweep request, validated with its place: `$.ratio_sweep.steps`."""
    try:
        return RatioSweepSpec.model_validate(dict(raw))
    except ValidationError as error:
        issues = []
        for item in error.errors(include_url=False):
            place = json_location(("ratio_sweep", *item["loc"]))
            value = item.get("input") if isinstance(item.get("input"), str | int | float) else None
            message = str(item["msg"]).removeprefix("Value error, ")
            issues.append(InputIssue(place, "", message, value))
        raise InvalidInputError(issues) from None
