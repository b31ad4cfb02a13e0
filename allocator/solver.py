"""The solver: compile -> solve -> extract, the front door of the solve layer.

- `solve(portfolio, options)` compiles the portfolio (`solve/compiled.py`), runs the search
  and returns the domain's `Allocation`, every term recomputed exactly from the chosen pairs.
- `solve_compiled(problem, options)` runs the search, shared by portfolios and GAP instances:
  the greedy allocation (`solve/heuristics.py`) is the first incumbent; then the engine the
  options name. The default, `auto`, is the adaptive search of `solve/strategy.py` (prices,
  the LP by column generation and its rounding, then CP-SAT and the neighbourhood search on
  the priced pairs), for every size and shape. The others are kept for comparison and tests:
  `cp-sat` (plain CP-SAT), `portfolio` (single-worker CP-SAT runs side by side), `race`
  (HiGHS against CP-SAT rounds), `lns` (the neighbourhood search alone) and `highs` (HiGHS's
  MIP alone).
  A feasible problem always gets a feasible answer: the greedy one if nothing better is found.
- `--time-limit` is the wall time of the whole solve, compile included.

Imports `compiled`, `heuristics` and the domain; the engines (`solve/cpsat`, `mip`, `lns`,
`strategy`: OR-Tools and HiGHS) are loaded by the first search, so that a process which only
names options or converts results (the HTTP server) never loads a solver.
"""

from __future__ import annotations

import importlib.metadata
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from allocator.model import (
    POINT_SCALE,
    TERM_NAMES,
    Allocation,
    Assignment,
    Portfolio,
    SolverInfo,
    SolveStatus,
    Timings,
    iso_week_of,
    unstaffable_opportunities,
    value_warnings,
    week_dates,
)
from allocator.solve.compiled import (
    BoolArray,
    CompiledProblem,
    compile_portfolio,
    evaluate,
    is_feasible,
    staffed_opportunities,
)
from allocator.solve.conflicts import Conflicts, describe_conflicts
from allocator.solve.heuristics import greedy_selection
from allocator.solve.incumbent import Incumbent, Outcome

if TYPE_CHECKING:
    from allocator.solve.strategy import Clock

__all__ = [
    "CompiledProblem",
    "CoreSolution",
    "Progress",
    "SolveOptions",
    "compile_portfolio",
    "evaluate",
    "greedy_selection",
    "is_feasible",
    "relative_gap",
    "solve",
    "solve_compiled",
    "staffed_opportunities",
    "to_allocation",
]

SOLVER_NAME = "cp-sat"


@cache
def solver_version() -> str:
    """OR-Tools' version, from its package metadata: a result names it without loading it."""
    try:
        return importlib.metadata.version("ortools")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


LNS_PAIRS = 60_000
"""Above this many candidate pairs one CP-SAT model is too slow to build and search; the
neighbourhood search takes over."""

Engine = Literal["auto", "cp-sat", "portfolio", "race", "lns", "highs"]


@dataclass(frozen=True)
class SolveOptions:
    """How to search.

    `time_limit` is the wall time of the whole solve, compile included. `reproducible` (the
    default) also counts the work in deterministic units (about `time_limit` seconds of it
    on the reference machine, see `solve/strategy.py`), so that the same input and seed give
    the same assignments run after run; a run the wall clock ends first says so in its
    parameters (`wall_clock_cut`). `reproducible=False` follows the wall clock alone.
    """

    time_limit: float = 10.0
    workers: int = 2
    seed: int = 0
    reproducible: bool = True
    log: bool = False
    engine: Engine = "auto"
    use_greedy_hint: bool = True
    extra_parameters: dict[str, Any] = field(default_factory=dict)

    def cpsat_parameters(self, time_limit: float | None = None) -> dict[str, Any]:
        """CP-SAT parameters for a run of `time_limit` seconds (default: the whole budget)."""
        limit = self.time_limit if time_limit is None else time_limit
        params: dict[str, Any] = {
            "num_workers": self.workers,
            "random_seed": self.seed,
            "log_search_progress": self.log,
        }
        if self.reproducible:
            from allocator.solve.cpsat import deterministic_limits

            params.update(deterministic_limits(limit))
            params["interleave_search"] = self.workers > 1
        else:
            params["max_time_in_seconds"] = limit
        params.update(self.extra_parameters)
        return params

    def engine_for(self, problem: CompiledProblem) -> Engine:
        return self.engine


@dataclass(frozen=True)
class Progress:
    """A snapshot while solving: best objective and bound so far (points), seconds elapsed."""

    objective: float
    best_bound: float | None
    """None until an engine has proved a bound."""
    seconds: float


@dataclass(frozen=True)
class CoreSolution:
    """What `solve_compiled` returns: the chosen pairs and the figures (1/100 point)."""

    status: SolveStatus
    chosen: BoolArray
    """(P,) pairs in the solution (all False without one)."""
    objective: int
    """Recomputed exactly from the chosen pairs by `evaluate`."""
    best_bound: int | None
    """Proven upper bound; None when no engine proved one."""
    solve_seconds: float
    build_seconds: float
    first_solution_seconds: float | None
    parameters: dict[str, Any]
    stopped: bool = False
    """True when the search was stopped from outside (cancel)."""
    solver_objective: int | None = None
    """CP-SAT's own objective value of its last solution (equals `objective` when CP-SAT's
    solution is the one returned, unless the model is wrong)."""
    source: str = ""
    """Which engine found the returned solution."""


def solve_compiled(
    problem: CompiledProblem,
    options: SolveOptions = SolveOptions(),
    hint: BoolArray | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    clock: Clock | None = None,
) -> CoreSolution:
    """Search for the best selection of pairs within `options.time_limit` (see module doc);
    `clock` (started before compiling) makes the limit cover the compile too."""
    from allocator.solve import lns, strategy

    def report(objective: int, bound: float, seconds: float) -> None:
        if on_progress is not None:
            shown = bound / POINT_SCALE if math.isfinite(bound) else None
            on_progress(Progress(objective / POINT_SCALE, shown, seconds))

    incumbent = Incumbent(problem, report)
    started = time.perf_counter()
    clock = clock if clock is not None else strategy.Clock(options.time_limit, options.reproducible)
    if hint is not None:
        incumbent.offer(hint, "hint")
    if options.use_greedy_hint:
        incumbent.offer(greedy_selection(problem), "greedy")
    engine = options.engine_for(problem)
    stop = stop if stop is not None else threading.Event()
    settings = strategy.SearchSettings(
        options.workers, options.seed, options.reproducible, options.log, options.extra_parameters
    )
    if engine == "auto":
        outcome = strategy.adaptive(problem, incumbent, settings, stop, clock)
    elif engine == "lns":
        settings_ = lns.LnsSettings(
            clock.left(), options.workers, options.seed, options.reproducible
        )
        outcome = lns.search(problem, incumbent, settings_, stop, deadline=clock.deadline)
    elif engine == "race":
        outcome = strategy.race(problem, incumbent, settings, stop, clock.left())
    elif engine == "portfolio":
        outcome = strategy.portfolio(
            problem, incumbent, settings, stop, clock.left(), clock.wall_left()
        )
    elif engine == "highs":
        outcome = _highs_alone(problem, incumbent, options, stop, clock)
    else:
        outcome = _cpsat_once(problem, incumbent, options, stop)

    status = outcome.status
    if incumbent.best is not None and status in (SolveStatus.UNKNOWN, SolveStatus.FEASIBLE):
        status = SolveStatus.OPTIMAL if incumbent.proven() else SolveStatus.FEASIBLE
    chosen = incumbent.chosen if incumbent.chosen is not None else np.zeros(problem.n_pairs, bool)
    objective = incumbent.value if incumbent.value is not None else 0
    bound: int | None = None
    if status is SolveStatus.OPTIMAL:
        bound = objective
    elif math.isfinite(incumbent.bound):
        bound = max(objective, math.floor(incumbent.bound))
    return CoreSolution(
        status=status,
        chosen=chosen,
        objective=objective,
        best_bound=bound,
        solve_seconds=time.perf_counter() - started - outcome.build_seconds,
        build_seconds=outcome.build_seconds,
        first_solution_seconds=incumbent.first_seconds,
        parameters={"engine": engine, "wall_clock_cut": clock.cut, **outcome.parameters},
        stopped=stop.is_set(),
        solver_objective=outcome.solver_objective,
        source=incumbent.best.source if incumbent.best is not None else "",
    )


def _highs_alone(
    problem: CompiledProblem,
    incumbent: Incumbent,
    options: SolveOptions,
    stop: threading.Event,
    clock: Clock,
) -> Outcome:
    """HiGHS's MIP alone on the shared formulation, warm-started from the greedy answer."""
    from allocator.solve import mip

    found = mip.solve_mip(
        problem,
        time_limit=clock.wall_left(),
        threads=max(1, options.workers),
        hint=incumbent.chosen,
        seed=options.seed,
        on_solution=lambda chosen: incumbent.offer(chosen, "highs"),
        on_bound=incumbent.tighten,
        interrupt=stop.is_set,
    )
    status = SolveStatus.OPTIMAL if found.optimal else SolveStatus.UNKNOWN
    return Outcome(status, 0.0, {"highs": {"threads": max(1, options.workers)}})


def _cpsat_once(
    problem: CompiledProblem, incumbent: Incumbent, options: SolveOptions, stop: threading.Event
) -> Outcome:
    """Plain CP-SAT: one run over the whole budget with the options' own parameters."""
    from allocator.solve import cpsat, strategy

    started = time.perf_counter()
    model = cpsat.build_model(problem)
    build_seconds = time.perf_counter() - started
    params = options.cpsat_parameters()
    run = cpsat.run_cpsat(
        problem, params, incumbent.chosen, strategy.bound_to(incumbent), stop, model
    )
    incumbent.offer(run.chosen, "cp-sat", checked=True)
    incumbent.tighten(run.bound)
    return Outcome(run.status, build_seconds, params, run.objective)


# ---------------------------------------------------------------------------------------------
# Portfolio in, Allocation out


def solve(
    portfolio: Portfolio,
    options: SolveOptions = SolveOptions(),
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> Allocation:
    """Allocate engineers to the portfolio's demands.

    >>> from allocator.model import Portfolio
    >>> solve(Portfolio()).status.value
    'optimal'
    """
    from allocator.solve.strategy import Clock

    clock = Clock(options.time_limit, options.reproducible)
    problem = compile_portfolio(portfolio)
    compile_seconds = time.perf_counter() - clock.started
    core = solve_compiled(problem, options, on_progress=on_progress, stop=stop, clock=clock)
    return to_allocation(portfolio, problem, core, compile_seconds)


def to_allocation(
    portfolio: Portfolio, problem: CompiledProblem, core: CoreSolution, compile_seconds: float = 0.0
) -> Allocation:
    """The domain result of a core solution; terms in points."""
    found = Conflicts([], complete=False)
    message = ""
    if core.status is SolveStatus.INFEASIBLE:
        from allocator.solve.cpsat import find_conflict_sets

        found = find_conflict_sets(problem)
        message = describe_conflicts(found.sets, found.complete, found.minimal)
    elif core.status is SolveStatus.UNKNOWN:
        message = "No allocation was found within the time limit."
    elif core.stopped:
        message = "Stopped on request; the best allocation found so far is kept."
    if core.parameters.get("wall_clock_cut") and core.status.has_solution:
        cut = (
            "The time limit ended this reproducible run before its deterministic budget "
            "(a loaded or slow machine): a rerun with the same seed may differ."
        )
        message = f"{message} {cut}" if message else cut
    timings = Timings(
        compile_seconds=compile_seconds,
        build_seconds=core.build_seconds,
        solve_seconds=core.solve_seconds,
        first_solution_seconds=core.first_solution_seconds,
    )
    info = SolverInfo(name=SOLVER_NAME, version=solver_version(), parameters=core.parameters)
    policy = portfolio.policy
    unstaffable = unstaffable_opportunities(portfolio)
    if not core.status.has_solution:
        return Allocation(
            unstaffable=unstaffable,
            horizon_start=portfolio.horizon_start,
            value_unit=policy.value_unit,
            value_unit_source=policy.value_unit_source,
            status=core.status,
            conflicts=found.sets[0] if found.sets else [],
            conflict_sets=found.sets,
            conflicts_minimal=found.minimal,
            conflicts_complete=found.complete,
            message=message,
            solver=info,
            timings=timings,
        )
    terms = evaluate(problem, core.chosen)
    demand_by_id = portfolio.demand_by_id()
    engineers, opportunities = portfolio.engineer_by_id(), portfolio.opportunity_by_id()
    assignments = []
    for p in np.flatnonzero(core.chosen).tolist():
        demand = demand_by_id[problem.demand_ids[problem.pair_demand[p]]]
        weeks = demand.weeks(portfolio.horizon_weeks)
        engineer_id = problem.engineer_ids[problem.pair_engineer[p]]
        assignments.append(
            Assignment(
                engineer_id=engineer_id,
                opportunity_id=demand.opportunity_id,
                demand_id=demand.id,
                skill=demand.skill,
                hours=demand.hours,
                start_week=weeks.start,
                end_week=weeks.stop - 1,
                engineer_external_id=engineers[engineer_id].external_id,
                opportunity_external_id=opportunities[demand.opportunity_id].external_id,
                **_calendar(portfolio.horizon_start, weeks.start, weeks.stop - 1),
            )
        )
    assignments.sort(key=lambda a: (a.opportunity_id, a.demand_id))
    staffed = staffed_opportunities(problem, core.chosen)
    objective = core.objective / POINT_SCALE
    bound = None if core.best_bound is None else core.best_bound / POINT_SCALE
    points = {name: terms[name] / POINT_SCALE for name in TERM_NAMES}
    return Allocation(
        unstaffable=unstaffable,
        horizon_start=portfolio.horizon_start,
        value_unit=policy.value_unit,
        value_unit_source=policy.value_unit_source,
        warnings=value_warnings(policy, points),
        status=core.status,
        objective=objective,
        best_bound=bound,
        gap=None if bound is None else relative_gap(objective, bound),
        terms=points,
        assignments=assignments,
        staffed_opportunities=[
            problem.opportunity_ids[o] for o in np.flatnonzero(staffed).tolist()
        ],
        message=message,
        solver=info,
        timings=timings,
    )


def _calendar(horizon_start: str | None, first: int, last: int) -> dict[str, Any]:
    """An assignment's dates and ISO weeks, when the portfolio has a calendar."""
    if not horizon_start:
        return {}
    start, end = week_dates(horizon_start, first, last)
    weeks = f"{iso_week_of(horizon_start, first)}..{iso_week_of(horizon_start, last)}"
    return {"start_date": start, "end_date": end, "iso_weeks": weeks}


def relative_gap(objective: float, bound: float) -> float:
    """(bound - objective) / max(1, |bound|): 0 when proven optimal."""
    return max(0.0, bound - objective) / max(1.0, abs(bound))
