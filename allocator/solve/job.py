"""The run handler of the job pipeline: solve one accepted run, pure (no store, no service).

`solve_job(inputs, progress, stop)` is called by a worker process (`allocator.service.jobs`)
with the run's typed inputs; it reports the solver's `Progress` and stops, keeping the best
allocation so far, when `stop` is set. `compare_job` then works out the figures the run is
shown next to (each baseline of `solve.baselines` on the same snapshot), so that no page has
to solve them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pydantic import BaseModel

from allocator.io.comparison import BASELINE_LABELS, Comparison, comparison
from allocator.model import Allocation, Portfolio
from allocator.solve.baselines import run_baseline
from allocator.solve.compiled import compile_portfolio
from allocator.solver import Progress, SolveOptions, solve


class SolveJob(BaseModel):
    """What a run job solves, and how."""

    portfolio: Portfolio
    time_limit: float
    workers: int = 1
    seed: int = 0
    reproducible: bool = True


def solve_job(
    inputs: SolveJob, progress: Callable[[Progress], None], stop: threading.Event
) -> Allocation:
    """Solve the run's portfolio with its options."""
    options = SolveOptions(
        time_limit=inputs.time_limit,
        workers=inputs.workers,
        seed=inputs.seed,
        reproducible=inputs.reproducible,
    )
    return solve(inputs.portfolio, options, on_progress=progress, stop=stop)


def compare_job(
    portfolio: Portfolio, allocation: Allocation, stop: threading.Event
) -> Comparison | None:
    """The run's figures next to each baseline's on `portfolio` (compiled once for all of
    them); None when `stop` is set before they are all worked out."""
    problem = compile_portfolio(portfolio)
    baselines = {}
    for name in BASELINE_LABELS:
        if stop.is_set():
            return None
        baselines[name] = run_baseline(portfolio, name, problem)
    return comparison(portfolio, allocation, baselines)
