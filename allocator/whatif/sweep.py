"""Solving a base portfolio and its scenarios side by side: warm starts, worker processes, Ray.

Service layer: orchestration only. It imports the solver (`solve_compiled`), the domain and
`scenarios`; never the CLI, the API or file formats.

`run_sweep(base, scenarios, options)`:
1. solves the base once from scratch ("cold");
2. applies each scenario's edits to the base (releases follow the cold run's usage);
3. solves the base again and every scenario, in parallel, each warm-started from the cold
   base solution: its assignments are mapped onto the scenario's candidate pairs by
   (engineer id, demand id) and repaired into a feasible start (assignments of removed
   engineers or opportunities vanish, overloaded engineers give up their least valuable
   roles, half-staffed teams are dropped). The warm base is the reference of every
   comparison: it had the same start and the same search budget as each scenario, so a
   scenario that changes nothing reports no difference at all.

Every solve is CP-SAT's reproducible mode (`SolveOptions(reproducible=True)`), one search
thread, a fixed seed: the same inputs give the same numbers in any executor:
- `local` (default): a pool of worker processes (`spawn`: CP-SAT and `fork` do not mix);
- `ray`: the same tasks as Ray tasks, on a local Ray instance or a cluster (`address`);
  needs the optional extra `pip install 'allocator[ray]'` on every node;
- `serial`: in this process, one after the other (small sweeps, tests).

>>> result = run_sweep(generate(20, 60, seed=1), [Scenario(name="no change")])  # doctest: +SKIP
>>> result.scenarios[0].allocation.objective == result.base.allocation.objective  # doctest: +SKIP
True
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from allocator.core.limits import Limits
from allocator.errors import InfeasibleError, InputIssue, InvalidInputError
from allocator.model import Allocation, Portfolio
from allocator.solve.compiled import BoolArray, CompiledProblem, compile_portfolio
from allocator.solve.lifeline import die_with_parent
from allocator.solver import SolveOptions, solve_compiled, to_allocation
from allocator.whatif.scenarios import (
    AppliedScenario,
    Scenario,
    apply_scenario,
    check_names,
    check_scenario,
    hours_used,
)

ExecutorName = Literal["local", "ray", "serial"]
EXECUTORS: tuple[ExecutorName, ...] = ("local", "ray", "serial")


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep solves: per-scenario budget and seed, and where the solves run."""

    time_limit: float = 5.0
    """Search budget of each solve, in CP-SAT deterministic seconds (about wall seconds)."""
    seed: int = 0
    processes: int = 0
    """Solves at once; 0: one per CPU core."""
    executor: ExecutorName = "local"
    ray_address: str | None = None
    """`ray` only: the cluster to join (`ray://host:10001`, `auto`); None starts a local one."""
    warm_start: bool = True
    niceness: int = 0
    """`local` only: scheduling niceness of the worker processes (the service sets its own,
    so that sweeps, like runs, leave the CPU to the API first)."""
    limits: Limits = field(default_factory=Limits)
    """Every scenario's edited portfolio must stay within these (checked before it is made)."""

    def solve_options(self) -> SolveOptions:
        return SolveOptions(
            time_limit=self.time_limit, workers=1, seed=self.seed, reproducible=True
        )

    def slots(self) -> int:
        return self.processes if self.processes > 0 else max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class SolveTask:
    """One solve, everything a worker process or Ray task needs (picklable)."""

    name: str
    portfolio: Portfolio
    hint: tuple[tuple[str, str], ...]
    """(engineer id, demand id) of the assignments to start from; empty: no warm start."""
    options: SolveOptions


def solve_task(task: SolveTask) -> Allocation:
    """Compile, warm-start, solve: the unit of work of every executor."""
    started = time.perf_counter()
    problem = compile_portfolio(task.portfolio)
    hint = warm_start(problem, task.hint) if task.hint else None
    compile_seconds = time.perf_counter() - started
    core = solve_compiled(problem, task.options, hint=hint)
    return to_allocation(task.portfolio, problem, core, compile_seconds)


def warm_start(problem: CompiledProblem, assignments: Sequence[tuple[str, str]]) -> BoolArray:
    """`assignments` (engineer id, demand id) as a feasible selection of `problem`'s pairs.

    Pairs that no longer exist are skipped; an engineer over capacity or over the
    opportunity limit gives up roles on the least valuable opportunities first; teams left
    without a required role are dropped whole, with their optional roles. Pins are not
    repaired: a start that misses one is simply not used by the solver.
    """
    index = {
        (problem.engineer_ids[e], problem.demand_ids[d]): p
        for p, (e, d) in enumerate(
            zip(problem.pair_engineer.tolist(), problem.pair_demand.tolist(), strict=True)
        )
    }
    chosen = np.zeros(problem.n_pairs, dtype=bool)
    for key in assignments:
        p = index.get(key)
        if p is not None and p not in problem.pair_forbidden_label:
            chosen[p] = True
    # One engineer per demand (a start from another portfolio may break it).
    seen = np.zeros(problem.n_demands, dtype=bool)
    for p in np.flatnonzero(chosen).tolist():
        d = int(problem.pair_demand[p])
        chosen[p] = not seen[d]
        seen[d] = True
    # Capacity and opportunity limit, engineer by engineer.
    value = problem.opportunity_value[problem.pair_opportunity]
    picked = np.flatnonzero(chosen)
    for e in np.unique(problem.pair_engineer[picked]).tolist():
        mine = picked[problem.pair_engineer[picked] == e]
        mine = mine[np.argsort(-value[mine], kind="stable")]
        load = np.zeros(problem.n_weeks, dtype=np.int64)
        kept = 0
        for p in mine.tolist():
            adds = problem.pair_hours[p] * problem.demand_active[problem.pair_demand[p]]
            fits = (load + adds <= problem.engineer_available[e]).all()
            if fits and kept < problem.engineer_max_assignments[e]:
                load += adds
                kept += 1
            else:
                chosen[p] = False
    # Whole teams only.
    served = np.zeros(problem.n_demands, dtype=bool)
    served[problem.pair_demand[chosen]] = True
    incomplete = np.zeros(problem.n_opportunities, dtype=bool)
    np.logical_or.at(incomplete, problem.demand_opportunity, problem.demand_required & ~served)
    chosen &= ~incomplete[problem.pair_opportunity]
    return chosen


# ---------------------------------------------------------------------------------------------
# Executors


Progress = Callable[[int, int, str], None]
"""Called with (solves done, solves in this batch, name of the one just done)."""


class Executor(Protocol):
    """Runs solve tasks and returns their results in task order."""

    name: str

    def run(self, tasks: Sequence[SolveTask], progress: Progress | None = None) -> list[Allocation]:
        """Solve every task; results in the order of `tasks`."""
        ...


class SerialExecutor:
    """Solves in this process, one task after the other."""

    name = "serial"

    def run(self, tasks: Sequence[SolveTask], progress: Progress | None = None) -> list[Allocation]:
        results = []
        for k, task in enumerate(tasks):
            results.append(solve_task(task))
            if progress is not None:
                progress(k + 1, len(tasks), task.name)
        return results


class LocalExecutor:
    """A pool of spawned worker processes, kept for the executor's lifetime."""

    name = "local"

    def __init__(self, processes: int, niceness: int = 0) -> None:
        context = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(
            max_workers=processes, mp_context=context, initializer=_renice, initargs=(niceness,)
        )

    def run(self, tasks: Sequence[SolveTask], progress: Progress | None = None) -> list[Allocation]:
        futures: dict[Future[Allocation], int] = {
            self.pool.submit(solve_task, task): k for k, task in enumerate(tasks)
        }
        results: list[Allocation | None] = [None] * len(tasks)
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: futures[f]):
                    k = futures[future]
                    results[k] = future.result()
                    if progress is not None:
                        progress(len(tasks) - len(pending), len(tasks), tasks[k].name)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        return [r for r in results if r is not None]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """The same tasks as Ray tasks (one CPU each) on a local Ray instance or a cluster."""

    name = "ray"

    def __init__(self, processes: int, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise InvalidInputError(
                [
                    InputIssue(
                        "--executor",
                        "",
                        "Ray is not installed; pip install 'allocator[ray]'",
                        "ray",
                    )
                ]
            ) from None
        self.ray: Any = ray
        self.started = not ray.is_initialized()
        if self.started:
            if address is None:
                ray.init(
                    num_cpus=processes,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        self.remote = ray.remote(num_cpus=1, max_retries=1)(solve_task)

    def run(self, tasks: Sequence[SolveTask], progress: Progress | None = None) -> list[Allocation]:
        refs = [self.remote.remote(task) for task in tasks]
        position = {ref: k for k, ref in enumerate(refs)}
        results: list[Allocation | None] = [None] * len(tasks)
        pending = list(refs)
        while pending:
            done, pending = self.ray.wait(pending, num_returns=1)
            for ref in done:
                k = position[ref]
                results[k] = self.ray.get(ref)
                if progress is not None:
                    progress(len(tasks) - len(pending), len(tasks), tasks[k].name)
        return [r for r in results if r is not None]

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _renice(niceness: int) -> None:
    """Run in each new worker process before its solver threads exist: they inherit it. The
    process also ends with the one that started it (a job worker killed with its server)."""
    die_with_parent()
    if niceness:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)


@contextmanager
def open_executor(options: SweepOptions) -> Iterator[Executor]:
    """The executor `options` names, closed (processes ended, Ray shut down) on exit."""
    executor: SerialExecutor | LocalExecutor | RayExecutor
    if options.executor == "serial":
        executor = SerialExecutor()
    elif options.executor == "local":
        executor = LocalExecutor(options.slots(), options.niceness)
    elif options.executor == "ray":
        executor = RayExecutor(options.slots(), options.ray_address)
    else:
        choices = ", ".join(EXECUTORS)
        issue = InputIssue("--executor", "", f"unknown executor; choose from {choices}")
        raise InvalidInputError([issue])
    try:
        yield executor
    finally:
        if not isinstance(executor, SerialExecutor):
            executor.close()


# ---------------------------------------------------------------------------------------------
# Sweeps


@dataclass(frozen=True)
class SolvedScenario:
    """A scenario's portfolio, what its edits did, and its allocation."""

    applied: AppliedScenario
    allocation: Allocation

    @property
    def name(self) -> str:
        return self.applied.name

    @property
    def portfolio(self) -> Portfolio:
        return self.applied.portfolio


@dataclass(frozen=True)
class SweepResult:
    """The base (warm re-solve: the reference) and every scenario, in the order given."""

    base: SolvedScenario
    scenarios: list[SolvedScenario]
    cold_base: Allocation
    """The base solved from scratch: the warm start of every other solve."""
    options: SweepOptions
    executor: str
    seconds: float

    def by_name(self, name: str) -> SolvedScenario:
        if name == "base":
            return self.base
        for solved in self.scenarios:
            if solved.name == name:
                return solved
        raise KeyError(name)


def run_sweep(
    base: Portfolio,
    scenarios: Sequence[Scenario],
    options: SweepOptions = SweepOptions(),
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> SweepResult:
    """Solve `base` and every scenario (see module doc); raises `InvalidInputError` before
    any solve when an edit is invalid, `InfeasibleError` when the base has no allocation."""
    check_names(scenarios)
    for scenario in scenarios:
        check_scenario(base, scenario, options.limits)
    started = time.perf_counter()
    with using_executor(options, executor) as ex:
        total = len(scenarios) + (2 if options.warm_start else 1)

        def step(offset: int) -> Progress | None:
            if progress is None:
                return None
            return lambda done, _, name: progress(offset + done, total, name)

        cold_task = SolveTask("base (from scratch)", base, (), options.solve_options())
        cold = ex.run([cold_task], step(0))[0]
        return _solve_from(ex, base, cold, scenarios, options, step(1), started=started, cold=cold)


def solve_from(
    base: Portfolio,
    base_run: Allocation,
    scenarios: Sequence[Scenario],
    options: SweepOptions,
    executor: Executor,
    progress: Progress | None = None,
) -> SweepResult:
    """Like `run_sweep`, with the base already solved (`base_run` is the warm start)."""
    check_names(scenarios)
    return _solve_from(executor, base, base_run, scenarios, options, progress)


def _solve_from(
    ex: Executor,
    base: Portfolio,
    base_run: Allocation,
    scenarios: Sequence[Scenario],
    options: SweepOptions,
    progress: Progress | None,
    started: float | None = None,
    cold: Allocation | None = None,
) -> SweepResult:
    started = time.perf_counter() if started is None else started
    if not base_run.status.has_solution:
        raise InfeasibleError(
            base_run.message or "The base portfolio has no allocation.", base_run.conflicts
        )
    usage = hours_used(base, base_run)
    applied = [apply_scenario(base, s, usage, options.limits) for s in scenarios]
    hint: tuple[tuple[str, str], ...] = ()
    if options.warm_start:
        hint = tuple((a.engineer_id, a.demand_id) for a in base_run.assignments)
    solve_options = options.solve_options()
    tasks = [SolveTask(a.name, a.portfolio, hint, solve_options) for a in applied]
    if options.warm_start:
        tasks.insert(0, SolveTask("base", base, hint, solve_options))
    results = ex.run(tasks, progress)
    base_allocation = results.pop(0) if options.warm_start else base_run
    return SweepResult(
        base=SolvedScenario(AppliedScenario("base", base), base_allocation),
        scenarios=[
            SolvedScenario(a, allocation) for a, allocation in zip(applied, results, strict=True)
        ],
        cold_base=cold if cold is not None else base_run,
        options=options,
        executor=ex.name,
        seconds=time.perf_counter() - started,
    )


@contextmanager
def using_executor(options: SweepOptions, given: Executor | None = None) -> Iterator[Executor]:
    """`given`, left open; or the executor `options` name, opened and closed around the block."""
    if given is not None:
        yield given
        return
    with open_executor(options) as executor:
        yield executor


def fingerprint(allocation: Allocation) -> tuple[Any, ...]:
    """What must be equal between two executors: status, objective, terms, assignments."""
    return (
        allocation.status,
        allocation.objective,
        tuple(sorted(allocation.terms.items())),
        tuple((a.engineer_id, a.demand_id) for a in allocation.assignments),
    )
