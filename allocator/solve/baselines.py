"""The status quo, as the domain brief describes it, to measure the optimizer against.

- `seniority_first`: requests of the most senior salespeople are served first, each role by
  the most senior free engineer who qualifies.
- `first_come_first_served`: requests in the order they arrived, each role by the first
  qualified free engineer in the engineer list.
- `value_density`: opportunities by expected value per required hour, each role by the best
  fitting free engineer: the strongest simple heuristic, not a status quo.

All three respect every hard rule (a team that cannot be completed is released, pins are
placed first) and return the same `Allocation` as the optimizer, so the same checker checks
them. They share the optimizer's compiled candidate pairs, but none of its search.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from allocator.model import Allocation, Portfolio, SolverInfo, SolveStatus, Timings
from allocator.solve.compiled import CompiledProblem, IntArray, compile_portfolio, evaluate
from allocator.solve.heuristics import greedy_selection
from allocator.solver import CoreSolution, to_allocation

Orders = tuple[IntArray | None, IntArray | None]
"""(opportunity order, pair preference): None means the value-density default."""


def _seniority_first(portfolio: Portfolio, problem: CompiledProblem) -> Orders:
    seniority = np.array([o.requester_seniority_years for o in portfolio.opportunities])
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


BASELINES: dict[str, Callable[[Portfolio, CompiledProblem], Orders]] = {
    "seniority_first": _seniority_first,
    "first_come_first_served": _first_come_first_served,
    "value_density": _value_density,
}


def run_baseline(portfolio: Portfolio, name: str) -> Allocation:
    """The allocation the named baseline makes.

    >>> run_baseline(Portfolio(), "seniority_first").status.value
    'feasible'
    """
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    started = time.perf_counter()
    problem = compile_portfolio(portfolio)
    compiled = time.perf_counter()
    order, preference = BASELINES[name](portfolio, problem)
    chosen = greedy_selection(problem, order, preference)
    seconds = time.perf_counter() - compiled
    if chosen is None:
        return Allocation(
            status=SolveStatus.UNKNOWN,
            message=f"{name} could not place every pin",
            solver=SolverInfo(name=name),
            timings=Timings(compile_seconds=compiled - started, solve_seconds=seconds),
        )
    objective = sum(evaluate(problem, chosen).values())
    core = CoreSolution(
        status=SolveStatus.FEASIBLE,
        chosen=chosen,
        objective=objective,
        best_bound=objective,
        solve_seconds=seconds,
        build_seconds=0.0,
        first_solution_seconds=seconds,
        parameters={},
    )
    allocation = to_allocation(portfolio, problem, core, compiled - started)
    # A heuristic proves no bound: report none rather than its own objective.
    return allocation.model_copy(
        update={"solver": SolverInfo(name=name), "best_bound": None, "gap": None}
    )
