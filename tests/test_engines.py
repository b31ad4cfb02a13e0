"""Each engine forced on an M-sized portfolio (200 engineers x 1,000 opportunities) for two
seconds, and its allocation through the independent checker: the race (HiGHS beside CP-SAT),
HiGHS, the neighbourhood search with its Lagrangian bound, and the adaptive large-run path
(prices, relaxation, search on the priced pairs). Written against `allocator.solver.solve` and
`allocator.core.check` only, so that the engines behind them can change freely."""

from __future__ import annotations

from typing import get_args

import pytest

from allocator.core.check import check
from allocator.core.generate import generate
from allocator.model import Portfolio
from allocator.solver import Engine, SolveOptions, solve

pytestmark = pytest.mark.slow  # Solves of several seconds: `make test` runs them.

ENGINES = ["race", "highs", "lns", "auto"]
"""`auto` on an M portfolio takes the priced large-run path."""


@pytest.fixture(scope="module")
def medium() -> Portfolio:
    return generate(200, 1000, seed=1)


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_gives_a_checked_allocation_in_two_seconds(
    medium: Portfolio, engine: str
) -> None:
    if engine not in get_args(Engine):
        pytest.skip(f"allocator.solver offers no {engine!r} engine (it has {get_args(Engine)})")
    allocation = solve(medium, SolveOptions(engine=engine, time_limit=2, seed=1))  # type: ignore[arg-type]
    assert allocation.status.has_solution, allocation.message
    assert allocation.solver.parameters.get("engine") == engine
    assert allocation.assignments and allocation.objective is not None
    report = check(medium, allocation)
    assert report.ok, report.violations[:5]
    if allocation.best_bound is not None:
        assert allocation.best_bound >= allocation.objective - 1e-6
    if engine == "lns":  # The Lagrangian bound comes with the neighbourhood search.
        assert allocation.best_bound is not None
