"""The CP-SAT core: load the shared formulation into CP-SAT, solve, extract a typed result.

- `build_model` loads `formulation.formulate(problem)` into CP-SAT's protocol buffer
  (no Python expression trees).
- `solve_compiled` warm-starts it with the greedy allocation and solves; a feasible problem
  always gets a feasible answer (the warm start) even when CP-SAT finds nothing in time.
- `find_conflicts` names a minimal set of pins, forbids and required demands at odds.
- `solve` runs compile -> solve -> extract and returns the domain's `Allocation`, with every
  term recomputed exactly from the chosen pairs.

Imports the domain, `compiled`, `formulation` and `heuristics`; nothing here knows about
files, HTTP or storage.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ortools
from ortools.sat.python import cp_model

from allocator.compiled import (
    BoolArray,
    CompiledProblem,
    compile_portfolio,
    evaluate,
    is_feasible,
    staffed_opportunities,
)
from allocator.formulation import Formulation, formulate
from allocator.heuristics import greedy_selection
from allocator.model import (
    POINT_SCALE,
    TERM_NAMES,
    Allocation,
    Assignment,
    Portfolio,
    SolverInfo,
    SolveStatus,
    Timings,
)

__all__ = [
    "CompiledProblem",
    "CoreSolution",
    "Progress",
    "SolveOptions",
    "compile_portfolio",
    "evaluate",
    "find_conflicts",
    "greedy_selection",
    "is_feasible",
    "solve",
    "solve_compiled",
    "staffed_opportunities",
    "to_allocation",
]

SOLVER_NAME = "cp-sat"
SOLVER_VERSION: str = getattr(ortools, "__version__", "unknown")


@dataclass(frozen=True)
class SolveOptions:
    """How to run CP-SAT.

    `reproducible` (the default) stops on a deterministic time limit and interleaves the
    workers, so that the same input and seed give the same assignments run after run; a wall
    clock cap of `4 x time_limit + 10 s` guards against a machine far slower than usual.
    """

    time_limit: float = 10.0
    workers: int = 2
    seed: int = 0
    reproducible: bool = True
    log: bool = False
    use_greedy_hint: bool = True
    extra_parameters: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """The CP-SAT parameters these options stand for."""
        params: dict[str, Any] = {
            "num_workers": self.workers,
            "random_seed": self.seed,
            "log_search_progress": self.log,
        }
        if self.reproducible:
            params["max_deterministic_time"] = self.time_limit
            params["max_time_in_seconds"] = 4 * self.time_limit + 10
            params["interleave_search"] = self.workers > 1
        else:
            params["max_time_in_seconds"] = self.time_limit
        params.update(self.extra_parameters)
        return params


@dataclass(frozen=True)
class Progress:
    """A snapshot while solving: best objective and bound so far (points), seconds elapsed."""

    objective: float
    best_bound: float
    seconds: float


@dataclass(frozen=True)
class CoreSolution:
    """What `solve_compiled` returns: the chosen pairs and CP-SAT's own figures (1/100 point)."""

    status: SolveStatus
    chosen: BoolArray
    """(P,) pairs in the solution (all False without one)."""
    objective: int
    """Recomputed exactly from the chosen pairs by `evaluate`."""
    best_bound: int
    solve_seconds: float
    build_seconds: float
    first_solution_seconds: float | None
    parameters: dict[str, Any]
    stopped: bool = False
    """True when the search was stopped from outside (cancel)."""
    solver_objective: int | None = None
    """CP-SAT's own objective value (equals `objective` unless the model is wrong)."""


# ---------------------------------------------------------------------------------------------
# CP-SAT model, loaded straight into its protocol buffer from the shared formulation


@dataclass
class _Model:
    model: cp_model.CpModel
    formulation: Formulation


def build_model(problem: CompiledProblem, diagnose: bool = False) -> _Model:
    """The CP-SAT model of `problem` (see `formulation.py`). With `diagnose`, pins, forbids
    and required demands get assumption literals and there is no objective."""
    f = formulate(problem, diagnose=diagnose, names=problem.n_pairs <= 20000)
    model = cp_model.CpModel()
    proto = model.proto
    for lower, upper, name in zip(f.lower, f.upper, f.names, strict=True):
        var = proto.variables.add()
        var.domain.extend([lower, upper])
        if name:
            var.name = name
    for variables, coeffs, lower, upper, enforce in zip(
        f.row_vars, f.row_coeffs, f.row_lower, f.row_upper, f.row_enforce, strict=True
    ):
        constraint = proto.constraints.add()
        if enforce >= 0:
            constraint.enforcement_literal.append(enforce)
        constraint.linear.vars.extend(variables)
        constraint.linear.coeffs.extend(coeffs)
        constraint.linear.domain.extend([lower, upper])
    if diagnose:
        proto.assumptions.extend(f.assumptions())
    else:
        # CP-SAT minimises: negate, and let the scaling factor -1 report the maximised value.
        proto.objective.vars.extend(list(f.objective))
        proto.objective.coeffs.extend([-c for c in f.objective.values()])
        proto.objective.offset = float(-f.offset)
        proto.objective.scaling_factor = -1.0
    return _Model(model, f)


# ---------------------------------------------------------------------------------------------
# Solve


_STATUS = {
    cp_model.OPTIMAL: SolveStatus.OPTIMAL,
    cp_model.FEASIBLE: SolveStatus.FEASIBLE,
    cp_model.INFEASIBLE: SolveStatus.INFEASIBLE,
    cp_model.MODEL_INVALID: SolveStatus.INVALID,
    cp_model.UNKNOWN: SolveStatus.UNKNOWN,
}


class _Watcher(cp_model.CpSolverSolutionCallback):
    def __init__(self, started: float, on_progress: Callable[[Progress], None] | None) -> None:
        super().__init__()
        self.started = started
        self.first: float | None = None
        self.on_progress = on_progress

    def on_solution_callback(self) -> None:
        elapsed = time.perf_counter() - self.started
        if self.first is None:
            self.first = elapsed
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    self.objective_value / POINT_SCALE,
                    self.best_objective_bound / POINT_SCALE,
                    elapsed,
                )
            )


def solve_compiled(
    problem: CompiledProblem,
    options: SolveOptions = SolveOptions(),
    hint: BoolArray | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> CoreSolution:
    """Solve the compiled problem with CP-SAT; falls back to the greedy selection when CP-SAT
    finds nothing in time, so that a feasible problem always gets a feasible answer."""
    started = time.perf_counter()
    built = build_model(problem)
    greedy = greedy_selection(problem) if options.use_greedy_hint else None
    if hint is None:
        hint = greedy
    if hint is not None:
        _add_hint(built, problem, hint)
    build_seconds = time.perf_counter() - started

    solver = cp_model.CpSolver()
    params = options.parameters()
    for name, value in params.items():
        setattr(solver.parameters, name, value)
    watcher = _Watcher(time.perf_counter(), on_progress)
    stopper = _stop_when_set(solver, stop)
    try:
        code = solver.solve(built.model, watcher)
    finally:
        if stopper is not None:
            stopper.set()
    solve_seconds = time.perf_counter() - watcher.started
    status = _STATUS.get(code, SolveStatus.UNKNOWN)
    stopped = stop is not None and stop.is_set()

    chosen = np.zeros(problem.n_pairs, dtype=bool)
    solver_objective: int | None = None
    if status.has_solution:
        values = np.array(list(solver.response_proto.solution), dtype=np.int64)
        chosen = values[: problem.n_pairs].astype(bool)
        solver_objective = round(solver.objective_value)
    # CP-SAT's dual bound stays valid whatever it found (and is 0 when infeasible).
    bound = round(solver.best_objective_bound) if math.isfinite(solver.best_objective_bound) else 0
    # Keep the better of CP-SAT's answer and the warm start (CP-SAT may stop before using it).
    if (
        hint is not None
        and is_feasible(problem, hint)
        and (
            status is SolveStatus.UNKNOWN
            or (status is SolveStatus.FEASIBLE and _value(problem, hint) > _value(problem, chosen))
        )
    ):
        chosen = hint.copy()
        status = SolveStatus.FEASIBLE
        if watcher.first is None:
            watcher.first = 0.0
    objective = _value(problem, chosen) if status.has_solution else 0
    return CoreSolution(
        status=status,
        chosen=chosen,
        objective=objective,
        best_bound=max(bound, objective) if status.has_solution else bound,
        solve_seconds=solve_seconds,
        build_seconds=build_seconds,
        first_solution_seconds=watcher.first,
        parameters=params,
        stopped=stopped,
        solver_objective=solver_objective,
    )


def _value(problem: CompiledProblem, chosen: BoolArray) -> int:
    return sum(evaluate(problem, chosen).values())


def _add_hint(built: _Model, problem: CompiledProblem, hint: BoolArray) -> None:
    values = built.formulation.hint(problem, hint)
    proto = built.model.proto
    proto.solution_hint.vars.extend(list(values))
    proto.solution_hint.values.extend(list(values.values()))


def _stop_when_set(
    solver: cp_model.CpSolver, stop: threading.Event | None
) -> threading.Event | None:
    """Start a thread that stops the search when `stop` is set; returns its own done-event."""
    if stop is None:
        return None
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if stop.wait(0.05):
                solver.stop_search()
                return

    threading.Thread(target=watch, daemon=True).start()
    return done


def find_conflicts(problem: CompiledProblem, time_limit: float = 10.0) -> list[str]:
    """A minimal set of pins, forbids and required demands that cannot all hold, in words.

    CP-SAT's sufficient assumptions give a first set; it is shrunk by deletion until removing
    any member makes the rest feasible.
    """
    for pin in problem.pins:
        if not len(pin.pairs):
            return [pin.label]
    built = build_model(problem, diagnose=True)
    names = _assumption_names(problem, built)
    assumptions = list(built.model.proto.assumptions)

    def feasible(subset: list[int]) -> tuple[bool, list[int]]:
        proto = built.model.proto
        proto.assumptions.clear()
        proto.assumptions.extend(subset)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.max_time_in_seconds = time_limit
        code = solver.solve(built.model)
        if code == cp_model.INFEASIBLE:
            return False, list(solver.sufficient_assumptions_for_infeasibility())
        return True, []

    ok, core = feasible(assumptions)
    if ok:
        return []
    core = core or assumptions
    index = 0
    while index < len(core):
        trial = core[:index] + core[index + 1 :]
        ok, smaller = feasible(trial)
        if ok:
            index += 1
        else:
            core = [lit for lit in trial if lit in set(smaller)] if smaller else trial
    return [names[lit] for lit in core]


def _assumption_names(problem: CompiledProblem, built: _Model) -> dict[int, str]:
    f = built.formulation
    names = {lit: problem.pins[i].label for i, lit in enumerate(f.pin_literals)}
    names.update({lit: label for label, lit in f.forbid_literals.items()})
    names.update(
        {lit: f"required demand {problem.demand_ids[d]}" for d, lit in f.required_literals.items()}
    )
    return names


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
    started = time.perf_counter()
    problem = compile_portfolio(portfolio)
    compile_seconds = time.perf_counter() - started
    core = solve_compiled(problem, options, on_progress=on_progress, stop=stop)
    return to_allocation(portfolio, problem, core, compile_seconds)


def to_allocation(
    portfolio: Portfolio, problem: CompiledProblem, core: CoreSolution, compile_seconds: float = 0.0
) -> Allocation:
    """The domain result of a core solution; terms in points."""
    conflicts: list[str] = []
    message = ""
    if core.status is SolveStatus.INFEASIBLE:
        conflicts = find_conflicts(problem)
        message = (
            "The hard rules cannot all hold: " + "; ".join(conflicts)
            if conflicts
            else ("The hard rules cannot all hold.")
        )
    elif core.status is SolveStatus.UNKNOWN:
        message = "No allocation was found within the time limit."
    elif core.stopped:
        message = "Stopped on request; the best allocation found so far is kept."
    timings = Timings(
        compile_seconds=compile_seconds,
        build_seconds=core.build_seconds,
        solve_seconds=core.solve_seconds,
        first_solution_seconds=core.first_solution_seconds,
    )
    info = SolverInfo(name=SOLVER_NAME, version=SOLVER_VERSION, parameters=core.parameters)
    if not core.status.has_solution:
        return Allocation(
            status=core.status, conflicts=conflicts, message=message, solver=info, timings=timings
        )
    terms = evaluate(problem, core.chosen)
    demand_by_id = portfolio.demand_by_id()
    assignments = []
    for p in np.flatnonzero(core.chosen).tolist():
        demand = demand_by_id[problem.demand_ids[problem.pair_demand[p]]]
        weeks = demand.weeks(portfolio.horizon_weeks)
        assignments.append(
            Assignment(
                engineer_id=problem.engineer_ids[problem.pair_engineer[p]],
                opportunity_id=demand.opportunity_id,
                demand_id=demand.id,
                skill=demand.skill,
                hours=demand.hours,
                start_week=weeks.start,
                end_week=weeks.stop - 1,
            )
        )
    assignments.sort(key=lambda a: (a.opportunity_id, a.demand_id))
    staffed = staffed_opportunities(problem, core.chosen)
    objective = core.objective / POINT_SCALE
    bound = core.best_bound / POINT_SCALE
    return Allocation(
        status=core.status,
        objective=objective,
        best_bound=bound,
        gap=relative_gap(objective, bound),
        terms={name: terms[name] / POINT_SCALE for name in TERM_NAMES},
        assignments=assignments,
        staffed_opportunities=[
            problem.opportunity_ids[o] for o in np.flatnonzero(staffed).tolist()
        ],
        message=message,
        solver=info,
        timings=timings,
    )


def relative_gap(objective: float, bound: float) -> float:
    """(bound - objective) / max(1, |bound|): 0 when proven optimal."""
    return max(0.0, bound - objective) / max(1.0, abs(bound))
