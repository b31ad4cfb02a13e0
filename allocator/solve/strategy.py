"""The adaptive search: one pipeline for every shape and size, steered by what it observes.

1. Prices: a few Lagrangian steps (`bounds.py`) give a first bound and a price-aware greedy
   allocation.
2. The LP relaxation by column generation (`relaxation.py`): its duals price every pair, so
   the bound it proves holds for the whole problem, and its solution is rounded, then dived
   (fixed team by team and re-solved) into allocations.
3. The exact search runs on the priced pairs only (the LP's columns and the best allocation's
   pairs): a few per role instead of every qualified engineer. When that model is small
   enough, CP-SAT searches it whole for a probe share of the time; the neighbourhood search
   (`lns.py`) takes the rest, and all of it when the model is large, when the probe neither
   improved the allocation nor proved it optimal.
Small problems are searched whole (no pricing-out), so a proof of optimality is global.

Time: `Clock` holds the deadline of the whole solve (compile included) on the wall clock.
Reproducible runs also count the work done in deterministic units (CP-SAT's deterministic
time, simplex iterations, pair passes, at rates measured on the reference machine), so the
same input and seed make the same decisions on a loaded machine; should the wall clock end a
reproducible run before its deterministic budget, the clock records it (`cut`) and the result
says so.

Imports the engines (`cpsat`, `lns`, `relaxation`), `bounds`, `heuristics`, `incumbent`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from allocator.model import SolveStatus
from allocator.solve import cpsat, lns, mip
from allocator.solve.bounds import FloatArray, lagrangian_bound, reduced_scores
from allocator.solve.compiled import CompiledProblem, IntArray
from allocator.solve.incumbent import Incumbent, Outcome
from allocator.solve.relaxation import column_generation, dive, restrict_pairs, round_plan

log = logging.getLogger(__name__)

WHOLE_MODEL_PAIRS = 20_000
"""Up to this many (priced) pairs CP-SAT is tried on the whole model."""
PRICED_PAIRS = 20_000
LP_ROUNDS = 10
"""Column-generation rounds at most (L converges in about 8)."""
DIVE_ROUNDS = 6
"""Rounds of the LP dive (each re-solves the LP)."""
FOCUS_FLOOR = 0.1
"""Weight, besides its LP staffing value, of an unstaffed opportunity when the neighbourhood
search draws one to re-plan around (times its value)."""
"""Above this many candidate pairs the exact search runs on the priced pairs only."""

# Work rates on the reference machine (2 cores, see benchmarks/README.md), in seconds per
# unit: reproducible runs count work in these units instead of reading the wall clock.
RESULT_MARGIN = 0.04
"""Share of the time limit kept for turning the best allocation into the result."""
DETERMINISTIC_SHARE = 0.9
"""Share of the rest a reproducible run budgets in deterministic units: the other tenth
absorbs what is not counted (Python between the engines), so that on an idle reference
machine the deterministic budget, not the wall clock, ends the run."""
SECONDS_PER_PAIR_PASS = 2e-8
"""One pass over one candidate pair (compile, a Lagrangian step, a pricing round)."""
SECONDS_PER_GREEDY_PAIR = 3e-7
"""One greedy allocation (rounding an LP plan), per candidate pair."""
SECONDS_PER_SIMPLEX_ITERATION = 1.5e-4
"""One dual simplex iteration of the priced LP (measured 100-320 microseconds on these LPs
of 2,500-16,000 rows; the wall clock catches the slow end)."""


@dataclass
class Clock:
    """The time of one solve: a wall-clock deadline, and in reproducible runs the work done
    so far in deterministic seconds."""

    limit: float
    reproducible: bool
    started: float = field(default_factory=time.perf_counter)
    work: float = 0.0
    cut: bool = False
    """True once the wall clock ended a phase before its deterministic budget."""

    @property
    def deadline(self) -> float:
        """When the search must end: the limit less a margin for writing the result."""
        return self.started + self.limit * (1 - RESULT_MARGIN)

    def wall_left(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())

    def left(self) -> float:
        """Seconds of budget left: deterministic (capped by the wall) or wall clock."""
        wall = self.wall_left()
        if not self.reproducible:
            return wall
        budget = self.budget()
        if wall + 0.5 < budget:
            self.cut = True
        return min(budget, wall)

    def budget(self) -> float:
        """Seconds of budget left as decisions should see it: deterministic in reproducible
        runs (the wall clock then only ends the work, see `deadline`), else the wall clock."""
        if not self.reproducible:
            return self.wall_left()
        return max(0.0, DETERMINISTIC_SHARE * self.limit * (1 - RESULT_MARGIN) - self.work)

    def charge(self, seconds: float) -> None:
        """Count `seconds` of deterministic work (reproducible runs)."""
        self.work += max(0.0, seconds)


@dataclass(frozen=True)
class SearchSettings:
    workers: int
    seed: int
    reproducible: bool
    log: bool = False
    extra_parameters: dict[str, Any] = field(default_factory=dict)


def adaptive(
    problem: CompiledProblem,
    incumbent: Incumbent,
    settings: SearchSettings,
    stop: threading.Event,
    clock: Clock,
) -> Outcome:
    """The default search (see module doc); offers every allocation to `incumbent` and
    tightens its bound."""
    started = time.perf_counter()
    facts: dict[str, Any] = {}
    target = incumbent.value  # None when no heuristic found an allocation.
    clock.charge(3 * problem.n_pairs * SECONDS_PER_PAIR_PASS)  # Compile and greedy.

    # 1. Prices.
    steps = 60
    prices = lagrangian_bound(
        problem, target, time_limit=0.15 * clock.wall_left(), max_iterations=steps, stop=stop
    )
    clock.charge(prices.iterations * problem.n_pairs * SECONDS_PER_PAIR_PASS)
    facts["lagrangian_iterations"] = prices.iterations
    if math.isfinite(prices.bound):
        incumbent.tighten(prices.bound)
        start = lns.price_greedy(problem, reduced_scores(problem, prices))
        incumbent.offer(start, "price-greedy")
    elif prices.bound == -math.inf:
        # The relaxation proves there is no allocation: CP-SAT says so and names why.
        return _whole(problem, incumbent, settings, stop, clock, facts, started)

    # 2. The LP by column generation, then rounding and a dive.
    plan = None
    if problem.n_pairs and not stop.is_set():
        lp_deadline = time.perf_counter() + min(0.45 * clock.budget(), clock.wall_left())
        plan = column_generation(
            problem, prices, incumbent.chosen, lp_deadline, max_rounds=LP_ROUNDS
        )
        clock.charge(
            plan.simplex_iterations * SECONDS_PER_SIMPLEX_ITERATION
            + plan.rounds * 3 * problem.n_pairs * SECONDS_PER_PAIR_PASS
        )
        if time.perf_counter() >= lp_deadline and not plan.converged:
            clock.cut = clock.cut or clock.reproducible
        facts["lp"] = {
            "value": None if not math.isfinite(plan.value) else round(plan.value),
            "rounds": plan.rounds,
            "converged": plan.converged,
            "columns": int(plan.columns.sum()),
            "simplex_iterations": plan.simplex_iterations,
            "seconds": round(plan.seconds, 3),
        }
        incumbent.tighten(plan.bound.bound)
        if plan.lp is not None:
            incumbent.offer(round_plan(problem, plan), "lp-rounding")
            clock.charge(2 * problem.n_pairs * SECONDS_PER_GREEDY_PAIR)
            # A fixed number of rounds; the wall clock only as the last resort (then a cut).
            dive_deadline = time.perf_counter() + clock.wall_left() / 2
            dived = dive(problem, plan, dive_deadline, rounds=DIVE_ROUNDS)
            if time.perf_counter() >= dive_deadline - 0.25:
                clock.cut = clock.cut or clock.reproducible
            incumbent.offer(round_plan(problem, dived), "lp-dive")
            clock.charge(
                (dived.simplex_iterations - plan.simplex_iterations) * SECONDS_PER_SIMPLEX_ITERATION
                + problem.n_pairs * SECONDS_PER_GREEDY_PAIR
            )
    if incumbent.proven() or stop.is_set():
        return _outcome(incumbent, facts, started)

    # 3. The exact search, on the priced pairs of a large problem.
    if problem.n_pairs <= PRICED_PAIRS or plan is None or plan.lp is None:
        return _whole(problem, incumbent, settings, stop, clock, facts, started)
    keep = plan.columns.copy()
    if incumbent.chosen is not None:
        keep |= incumbent.chosen
    sub, pair_map = restrict_pairs(problem, keep)
    facts["priced_pairs"] = sub.n_pairs
    inner = _relay(problem, sub, pair_map, incumbent)
    # When the LP did not converge its bound is loose: keep the end of the budget for more
    # Lagrangian steps, continued from the first prices.
    tail = 0.0 if plan.converged else min(10.0, 0.15 * clock.budget())
    focus = FOCUS_FLOOR + plan.staffed_value  # Opportunities the LP staffs come first.
    _search(
        sub, inner, settings, stop, clock, facts, global_proofs=False, reserve=tail, focus=focus
    )
    if tail and not stop.is_set() and incumbent.value is not None and clock.wall_left() > 0.5:
        steps = 300
        refined = lagrangian_bound(
            problem,
            incumbent.value,
            time_limit=clock.wall_left(),
            max_iterations=steps,
            stop=stop,
            start=prices,
        )
        clock.charge(refined.iterations * problem.n_pairs * SECONDS_PER_PAIR_PASS)
        incumbent.tighten(refined.bound)
        facts["lagrangian_iterations"] += refined.iterations
    return _outcome(incumbent, facts, started)


def _whole(
    problem: CompiledProblem,
    incumbent: Incumbent,
    settings: SearchSettings,
    stop: threading.Event,
    clock: Clock,
    facts: dict[str, Any],
    started: float,
) -> Outcome:
    status = _search(problem, incumbent, settings, stop, clock, facts, global_proofs=True)
    outcome = _outcome(incumbent, facts, started)
    final = status if status in (SolveStatus.INFEASIBLE, SolveStatus.INVALID) else outcome.status
    # CP-SAT's own value of its last solution, which the caller checks against its own count.
    solver_objective = facts.get("whole_model", {}).get("objective")
    return Outcome(final, outcome.build_seconds, outcome.parameters, solver_objective)


def _search(
    problem: CompiledProblem,
    incumbent: Incumbent,
    settings: SearchSettings,
    stop: threading.Event,
    clock: Clock,
    facts: dict[str, Any],
    global_proofs: bool,
    reserve: float = 0.0,
    focus: FloatArray | None = None,
) -> SolveStatus:
    """CP-SAT on the whole (sub-)model for a probe when it is small, then the neighbourhood
    search for the rest, less `reserve` seconds. `global_proofs`: CP-SAT's bound and verdict
    hold for the problem the caller reports on (not just for priced pairs)."""
    status = SolveStatus.UNKNOWN
    # Small models, and any model no heuristic found an allocation for (jobs that must all
    # be placed, as in GAP): the whole model first.
    if problem.n_pairs <= WHOLE_MODEL_PAIRS or incumbent.best is None:
        before = incumbent.value
        if not settings.reproducible and settings.workers > 1:
            # Fast runs: HiGHS against CP-SAT rounds and neighbourhoods, to the end.
            outcome = race(problem, incumbent, settings, stop, clock.left() - reserve)
            facts["race"] = outcome.parameters
            return outcome.status if global_proofs else status
        whole = clock.budget() - reserve
        probe = 0.4 * whole if problem.n_pairs > 2_000 else whole
        outcome = portfolio(problem, incumbent, settings, stop, probe, clock.wall_left() - reserve)
        clock.charge(probe if outcome.status is SolveStatus.UNKNOWN else 0.0)
        if settings.reproducible and outcome.status is SolveStatus.UNKNOWN:
            clock.cut = clock.cut or clock.wall_left() - reserve < 0.1
        facts["whole_model"] = {
            "pairs": problem.n_pairs,
            "status": outcome.status.value,
            "improved": incumbent.value != before,
            "objective": outcome.solver_objective,
        }
        if outcome.status in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE, SolveStatus.INVALID):
            return outcome.status if global_proofs else status
        if incumbent.proven():
            return status
    left = clock.budget() - reserve
    if left < 0.3 or stop.is_set():
        return status
    outcome = lns.search(
        problem,
        incumbent,
        lns.LnsSettings(left, settings.workers, settings.seed, settings.reproducible, focus),
        stop,
        prices=False,
        deadline=clock.deadline - reserve,
    )
    clock.cut = clock.cut or bool(outcome.parameters.get("wall_clock_cut"))
    facts["neighbourhood_search"] = outcome.parameters
    return status


def _relay(
    problem: CompiledProblem, sub: CompiledProblem, pair_map: IntArray, incumbent: Incumbent
) -> Incumbent:
    """An incumbent for `sub` that starts from `incumbent`'s allocation and hands every
    improvement on to it (as an allocation of `problem`)."""

    def lift(value: int, bound: float, seconds: float) -> None:
        best = inner.best
        if best is not None and best.value > (incumbent.value or -math.inf):
            chosen = np.zeros(problem.n_pairs, dtype=bool)
            chosen[pair_map[best.chosen]] = True
            incumbent.offer(chosen, best.source, checked=True)

    inner = Incumbent(sub, lift)
    if incumbent.chosen is not None:
        inner.offer(incumbent.chosen[pair_map], incumbent.best.source if incumbent.best else "")
    return inner


def _outcome(incumbent: Incumbent, facts: dict[str, Any], started: float) -> Outcome:
    return Outcome(
        status=SolveStatus.FEASIBLE if incumbent.best is not None else SolveStatus.UNKNOWN,
        build_seconds=0.0,
        parameters={"adaptive": facts, "seconds": round(time.perf_counter() - started, 3)},
    )


def bound_to(incumbent: Incumbent) -> cpsat.OnSolution:
    return lambda value, bound, seconds: incumbent.tighten(bound)


def _core_parameters(settings: SearchSettings, seconds: float, seed: int) -> dict[str, Any]:
    params = lns.sub_parameters(seconds, seed, settings.reproducible)
    params["log_search_progress"] = settings.log
    params.update(settings.extra_parameters)
    return params


def portfolio(
    problem: CompiledProblem,
    incumbent: Incumbent,
    settings: SearchSettings,
    stop: threading.Event,
    seconds: float,
    wall: float | None = None,
) -> Outcome:
    """Reproducible: one single-worker CP-SAT run per worker, each with its own seed, side by
    side; the best answer (first in seed order on ties) and the tightest bound are kept."""
    started = time.perf_counter()
    models = [cpsat.build_model(problem) for _ in range(max(1, settings.workers))]
    build_seconds = time.perf_counter() - started
    hint = incumbent.chosen
    params = [_core_parameters(settings, seconds, settings.seed + k) for k in range(len(models))]
    if wall is not None:  # The wall clock caps the deterministic budget.
        for run_params in params:
            run_params["max_time_in_seconds"] = min(
                run_params["max_time_in_seconds"], max(0.05, wall)
            )
    # The other runs stop early only when the first one is final: then the result is the first
    # run's whatever the timing, and every other outcome waits for its own deterministic limit.
    others_stop = threading.Event()
    finished = threading.Event()

    def relay() -> None:
        while not finished.is_set():
            if stop.wait(0.05):
                others_stop.set()
                return

    def first_final(future: Future[cpsat.CpsatRun]) -> None:
        if future.result().status in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE):
            others_stop.set()

    threading.Thread(target=relay, daemon=True).start()
    with ThreadPoolExecutor(max_workers=len(models)) as pool:
        futures = [
            pool.submit(
                cpsat.run_cpsat,
                problem,
                p,
                hint,
                bound_to(incumbent),
                stop if k == 0 else others_stop,
                m,
            )
            for k, (p, m) in enumerate(zip(params, models, strict=True))
        ]
        futures[0].add_done_callback(first_final)
        runs = [future.result() for future in futures]
    finished.set()
    status = SolveStatus.UNKNOWN
    for run in runs:  # Fixed order: the result does not depend on which run ended first.
        incumbent.offer(run.chosen, "cp-sat", checked=True)
        incumbent.tighten(run.bound)
        if run.status in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE, SolveStatus.INVALID):
            status = run.status
    return Outcome(status, build_seconds, {"cp-sat runs": params}, runs[0].objective)


def race(
    problem: CompiledProblem,
    incumbent: Incumbent,
    settings: SearchSettings,
    stop: threading.Event,
    seconds: float,
) -> Outcome:
    """Fast: HiGHS in a thread for the whole budget; single-worker CP-SAT in rounds of
    doubling length, each warm-started from the best incumbent either has found; both stop
    once the bound is met."""
    started = time.perf_counter()
    model = cpsat.build_model(problem)
    build_seconds = time.perf_counter() - started
    deadline = started + seconds
    done = threading.Event()

    def interrupt() -> bool:
        return done.is_set() or stop.is_set() or incumbent.proven()

    highs = threading.Thread(
        target=mip.solve_mip,
        kwargs={
            "problem": problem,
            # HiGHS checks its limit coarsely (not inside its root LP): leave it a margin.
            "time_limit": max(0.1, 0.85 * (deadline - time.perf_counter())),
            "threads": max(1, settings.workers - 1),
            "hint": incumbent.chosen,
            "seed": settings.seed,
            "on_solution": lambda chosen: done.is_set() or incumbent.offer(chosen, "highs"),
            "on_bound": incumbent.tighten,
            "interrupt": interrupt,
        },
        daemon=True,
    )
    highs.start()
    status = SolveStatus.UNKNOWN
    first_round = min(2.0, 0.25 * seconds)
    params = _core_parameters(settings, first_round, settings.seed)
    lns_outcome = None
    try:
        run = cpsat.run_cpsat(problem, params, incumbent.chosen, bound_to(incumbent), stop, model)
        incumbent.offer(run.chosen, "cp-sat", checked=True)
        incumbent.tighten(run.bound)
        # No allocation yet (jobs that must all be placed): CP-SAT goes on, in rounds of
        # doubling length, beside HiGHS, until either finds one.
        length = first_round
        while (
            incumbent.best is None
            and run.status not in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE, SolveStatus.INVALID)
            and not interrupt()
            and deadline - time.perf_counter() > 0.3
        ):
            length = min(2 * length, deadline - time.perf_counter())
            again = _core_parameters(settings, length, settings.seed + 1)
            run = cpsat.run_cpsat(problem, again, None, bound_to(incumbent), stop, model)
            incumbent.offer(run.chosen, "cp-sat", checked=True)
            incumbent.tighten(run.bound)
        if run.status in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE, SolveStatus.INVALID):
            status = run.status
        elif not interrupt() and incumbent.best is not None:
            remaining = deadline - time.perf_counter()
            lns_settings = lns.LnsSettings(remaining, 1, settings.seed, reproducible=False)
            lns_outcome = lns.search(
                problem, incumbent, lns_settings, stop, prices=False, deadline=deadline
            )
    finally:
        done.set()
        # HiGHS does not always stop at its limit (it checks it coarsely): the race does not
        # wait past its deadline; a late HiGHS thread ends on its own and offers nothing more.
        highs.join(timeout=max(0.0, deadline - time.perf_counter()) + 0.1)
    return Outcome(
        status,
        build_seconds,
        {
            "cp-sat": params,
            "highs": {"threads": max(1, settings.workers - 1)},
            "lns": lns_outcome.parameters if lns_outcome else {},
        },
        run.objective,
    )
