"""The scenario-set handler of the job pipeline: solve a base and its scenarios and compare
them, pure (no store, no service).

`sweep_job(inputs, progress, stop)` is called by a worker process (`allocator.service.jobs`)
with the set's typed inputs; it reports `(solves done, solves in all)` and, when `stop` is
set, ends at the next finished solve with `SweepStopped`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from allocator.core.limits import Limits
from allocator.model import Allocation, Portfolio
from allocator.whatif.compare import SweepComparison, compare_sweep
from allocator.whatif.ratios import RatioCurve, RatioSweepSpec, plan_ratio_sweep, ratio_curve
from allocator.whatif.scenarios import Scenario
from allocator.whatif.sweep import SweepOptions, run_sweep, solve_from, using_executor


class SweepJob(BaseModel):
    """What a scenario-set job solves, and how."""

    portfolio: Portfolio
    base_allocation: Allocation | None = None
    """A finished run's allocation: the base is not solved again, and warm-starts all."""
    scenarios: list[Scenario]
    ratio_sweep: RatioSweepSpec | None = None
    time_limit: float
    seed: int = 0
    warm_start: bool = True
    executor: Literal["serial", "local", "ray"] = "local"
    """`ray`: inside a Ray task (a job run on a Ray cluster), the solves are Ray tasks too."""
    processes: int = 1
    niceness: int = 0
    limits: Limits = Limits()
    """The server's size limits: every scenario's edited portfolio is checked again here."""


class SweepOutcome(BaseModel):
    """The comparison of every scenario with the base, and a ratio sweep's curve."""

    comparison: SweepComparison
    ratio_curve: RatioCurve | None = None


class SweepStopped(Exception):
    """The set was cancelled between two solves."""


def sweep_job(
    inputs: SweepJob, progress: Callable[[tuple[int, int]], None], stop: threading.Event
) -> SweepOutcome:
    """Solve and compare the set's scenarios."""
    options = SweepOptions(
        time_limit=inputs.time_limit,
        seed=inputs.seed,
        processes=max(1, inputs.processes),
        executor=inputs.executor,
        warm_start=inputs.warm_start,
        niceness=inputs.niceness,
        limits=inputs.limits,
    )

    if stop.is_set():
        raise SweepStopped("cancelled before it started")

    def report(done: int, total: int, _: str) -> None:
        progress((done, total))
        if stop.is_set():
            raise SweepStopped("cancelled")

    if inputs.base_allocation is not None:
        with using_executor(options) as executor:
            result = solve_from(
                inputs.portfolio,
                inputs.base_allocation,
                inputs.scenarios,
                options,
                executor,
                report,
            )
    else:
        result = run_sweep(inputs.portfolio, inputs.scenarios, options, report)
    curve = None
    if inputs.ratio_sweep is not None:
        curve = ratio_curve(
            plan_ratio_sweep(inputs.portfolio, inputs.ratio_sweep, inputs.limits), result
        )
    return SweepOutcome(comparison=compare_sweep(result), ratio_curve=curve)
