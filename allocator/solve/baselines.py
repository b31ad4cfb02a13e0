"""The status quo, as the domain brief describes it, to measure the optimizer against.

- `seniority_first`: requests of the most senior salespeople are served first, each role by
  the most senior free engineer who qualifies.
- `first_come_first_served`: requests in the order they arrived, each role by the first
  qualified free engineer in the engineer list.
- `value_density`: opportunities by expected value per required hour, each role by the best
  fitting free engineer: the strongest simple heuristic, not a status quo.

All three respect every hard rule (a team that cannot be completed is released) and honour
every pin and forbid: pins are placed first, with the required roles of the opportunities
they touch, by a small search in the baseline's own preference order; should that search
give up, CP-SAT finds any placement of the pinned teams (no objective) and the baseline goes
on from there, so a baseline answers every portfolio the optimizer finds feasible. They
return the same `Allocation` as the optimizer, so the same checker checks them, and share the
optimizer's compiled candidate pairs, but none of its search.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from allocator.model import Allocation, Portfolio, SolverInfo, SolveStatus
from allocator.solve.compiled import (
    BoolArray,
    CompiledProblem,
    IntArray,
    compile_portfolio,
    evaluate,
)
from allocator.solve.heuristics import greedy_selection
from allocator.solver import CoreSolution, to_allocation

Orders = tuple[IntArray | None, IntArray | None]
"""(opportunity order, pair preference): None means the value-density default."""


def _seniority_first(portfolio: Portfolio, problem: CompiledProblem) -> Orders:
    seniority = np.array([o.requester_seniority_years or 0.0 for o in portfolio.opportunities])
    arrival = _arrival_rank(portfolio)
    order = np.lexsort((arrival, -seniority))
    engineer_years = np.array([e.seniority_years for e in portfolio.engineers])
    # Most senior first; ties by list order, so higher preference for earlier engineers.
    preference = np.round(engineer_years[problem.pair_engineer] * 10).astype(np.int64) * (
        problem.n_engineers + 1
    ) + (problem.n_engineers - problem.pair_engineer)
    return order, preference


def _first_come_first_served(portfolio: Portfolio, problem: CompiledProblem) -> Orders:
    order = np.argsort(_arrival_rank(portfolio), kind="stable")
    return order, (problem.n_engineers - problem.pair_engineer).astype(np.int64)


def _value_density(portfolio: Portfolio, problem: CompiledProblem) -> Orders:
    return None, None


def _arrival_rank(portfolio: Portfolio) -> IntArray:
    """Rank of each opportunity by request time; unknown times come last, in list order."""
    keys = [
        (o.requested_at is None, o.requested_at.timestamp() if o.requested_at else 0.0, i)
        for i, o in enumerate(portfolio.opportunities)
    ]
    rank = np.empty(len(keys), dtype=np.int64)
    for position, (_, _, i) in enumerate(sorted(keys)):
        rank[i] = position
    return rank


def pinned_teams(
    problem: CompiledProblem, time_limit: float = 10.0
) -> tuple[SolveStatus, BoolArray | None]:
    """The pins and the teams they force, when the greedy's own search for them gives up: any
    selection that keeps every hard rule (CP-SAT, no objective), cut down to the pinned
    opportunities. (INFEASIBLE, None) when the pins cannot all hold; (UNKNOWN, None) when
    nothing was found within `time_limit` seconds."""
    from ortools.sat.python import cp_model  # Loaded only when the pins need CP-SAT.

    from allocator.solve import cpsat

    built = cpsat.build_model(problem, diagnose=True)  # Every pin, forbid and team rule on.
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = time_limit
    code = solver.solve(built.model)
    if code == cp_model.INFEASIBLE:
        return SolveStatus.INFEASIBLE, None
    if code not in (cp_model.FEASIBLE, cp_model.OPTIMAL):
        return SolveStatus.UNKNOWN, None
    values = np.array(list(solver.response_proto.solution), dtype=np.int64)
    chosen = values[: problem.n_pairs].astype(bool)
    pinned = np.zeros(problem.n_opportunities, dtype=bool)
    for pin in problem.pins:
        pinned[problem.pair_opportunity[pin.pairs[chosen[pin.pairs]]]] = True
    placed: BoolArray = chosen & pinned[problem.pair_opportunity]
    return SolveStatus.FEASIBLE, placed


BASELINES: dict[str, Callable[[Portfolio, CompiledProblem], Orders]] = {
    "seniority_first": _seniority_first,
    "first_come_first_served": _first_come_first_served,
    "value_density": _value_density,
}


def run_baseline(
    portfolio: Portfolio, name: str, problem: CompiledProblem | None = None
) -> Allocation:
    """The allocation the named baseline makes (`problem`: the portfolio already compiled,
    shared by several baselines).

    >>> run_baseline(Portfolio(), "seniority_first").status.value
    'feasible'
    """
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    started = time.perf_counter()
    problem = compile_portfolio(portfolio) if problem is None else problem
    compiled = time.perf_counter()
    order, preference = BASELINES[name](portfolio, problem)
    chosen = greedy_selection(problem, order, preference)
    status = SolveStatus.FEASIBLE
    if chosen is None and problem.pins:
        status, placed = pinned_teams(problem)
        if placed is not None:
            chosen = greedy_selection(problem, order, preference, placed=placed)
    seconds = time.perf_counter() - compiled
    if chosen is None and status is not SolveStatus.INFEASIBLE:
        status = SolveStatus.UNKNOWN
    core = CoreSolution(
        status=status,
        chosen=np.zeros(problem.n_pairs, dtype=bool) if chosen is None else chosen,
        objective=0 if chosen is None else sum(evaluate(problem, chosen).values()),
        best_bound=None,  # A heuristic proves no bound.
        solve_seconds=seconds,
        build_seconds=0.0,
        first_solution_seconds=None if chosen is None else seconds,
        parameters={},
    )
    allocation = to_allocation(portfolio, problem, core, compiled - started)
    update: dict[str, object] = {"solver": SolverInfo(name=name)}
    if status is SolveStatus.UNKNOWN:
        update["message"] = f"{name} could not place every pin within its time limit"
    return allocation.model_copy(update=update)
