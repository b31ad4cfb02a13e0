"""Large-neighbourhood search: CP-SAT on one neighbourhood at a time, the rest held fixed.

For problems too large for one CP-SAT model (hundreds of thousands of candidate pairs):
1. prices from the Lagrangian relaxation (`bounds.py`) give a proven upper bound and steer a
   price-aware greedy allocation, a much better start than plain value density;
2. then, until the time is up, a neighbourhood is chosen: a group of engineers who compete for
   the same demands (around a random engineer, or around a valuable unstaffed opportunity),
   and the opportunities they could re-staff (unstaffed, or staffed only by them). Everything
   else stays as it is: its assignments use up the group's capacity. CP-SAT re-optimises the
   neighbourhood exactly (warm-started from the current allocation) and the result is kept
   when the whole allocation improves; neighbourhoods grow after quick exact solves and
   shrink after slow ones.
Every neighbourhood is a `CompiledProblem` of its own, so the same formulation and CP-SAT
engine solve it. Deterministic for a seed when `reproducible`: neighbourhoods come from a
seeded generator and each sub-solve stops on deterministic time.

Imports `compiled`, `bounds`, `heuristics`, `cpsat` and `incumbent`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from allocator.model import SolveStatus
from allocator.solve import cpsat
from allocator.solve.bounds import lagrangian_bound, reduced_scores
from allocator.solve.compiled import (
    BoolArray,
    CompiledProblem,
    IntArray,
    PinGroup,
    group_indices,
    staffed_opportunities,
)
from allocator.solve.heuristics import greedy_selection
from allocator.solve.incumbent import Incumbent, Outcome

log = logging.getLogger(__name__)

MAX_SUB_PAIRS = 8_000
"""Largest neighbourhood CP-SAT is given, in candidate pairs."""
SUB_SOLVE_SHARE = 0.7
"""Two sub-solves side by side, with the next round's building between them, run at this
share of a lone solve's deterministic rate (measured on the reference machine)."""
BUILD_SECONDS_PER_SUB_PAIR = 7e-6
"""Building a neighbourhood's CP-SAT model, per pair of it (reference machine)."""
BUILD_SECONDS_PER_PAIR = 2e-8
"""Choosing and cutting out a neighbourhood, per pair of the whole problem."""
START_ENGINEERS = 24
START_OPPORTUNITIES = 60


@dataclass(frozen=True)
class LnsSettings:
    time_limit: float
    workers: int
    seed: int
    reproducible: bool
    focus: npt.NDArray[np.float64] | None = None
    """(O,) how much each opportunity, when unstaffed, is worth re-planning around, as a
    factor of its value (e.g. from the LP: opportunities it staffs first); None: 1 each."""


@dataclass
class PairIndex:
    """Pairs grouped by engineer, by demand, and demands by opportunity: built once per
    problem, read by every neighbourhood (and by the explanations' re-solves)."""

    pairs_of_engineer: list[IntArray]
    pairs_of_demand: list[IntArray]
    demands_of_opportunity: list[IntArray]

    @classmethod
    def of(cls, problem: CompiledProblem) -> PairIndex:
        return cls(
            group_indices(problem.pair_engineer, problem.n_engineers),
            group_indices(problem.pair_demand, problem.n_demands),
            group_indices(problem.demand_opportunity, problem.n_opportunities),
        )


CORE_PARAMETERS: dict[str, Any] = {"num_workers": 1, "linearization_level": 2}
"""One CP-SAT worker with the full linear relaxation: on these problems it proves small
neighbourhoods optimal in a fraction of a second, and it is deterministic."""


def sub_parameters(seconds: float, seed: int, reproducible: bool) -> dict[str, Any]:
    """CP-SAT parameters of one neighbourhood solve."""
    params = {**CORE_PARAMETERS, "random_seed": seed}
    if reproducible:
        params.update(cpsat.deterministic_limits(seconds))
    else:
        params["max_time_in_seconds"] = seconds
    return params


def search(
    problem: CompiledProblem,
    incumbent: Incumbent,
    settings: LnsSettings,
    stop: threading.Event,
    prices: bool = True,
    deadline: float | None = None,
) -> Outcome:
    """Improve `incumbent` by neighbourhood search until the time limit; see module doc.

    Each round picks one neighbourhood per worker from the same allocation (disjoint in
    engineers and opportunities), solves them in parallel threads and applies the results in
    a fixed order, so that a seed gives the same rounds whatever the thread timing.
    `deadline` (a `time.perf_counter()` value) ends the search on the wall clock whatever
    the budget says. A neighbourhood that fails (an exception while building or solving it)
    is logged with its seed and kind, counted, and skipped: the search goes on from the best
    allocation.
    """
    started = time.perf_counter()
    # The last part of the budget refines the bound (prices continue from the first ones).
    tail = min(0.15 * settings.time_limit, 10.0) if prices else 0.0
    budget = _Budget(settings, settings.time_limit - tail, deadline)
    rng = np.random.default_rng(settings.seed)
    target = incumbent.value if incumbent.value is not None else 0
    # Prices first: a bound, and a price-aware greedy start. A fixed number of iterations (and
    # a generous time cap) keeps the prices, and so the start, the same run after run.
    iterations = 0
    bound = None
    if prices:
        cap = budget.safety(max(1.0, 0.3 * settings.time_limit))
        bound = lagrangian_bound(problem, target, time_limit=cap, max_iterations=60, stop=stop)
        iterations = bound.iterations
        if math.isfinite(bound.bound):
            incumbent.tighten(bound.bound)
            start = price_greedy(problem, reduced_scores(problem, bound))
            incumbent.offer(start, "price-greedy")
    if incumbent.best is None:
        # Greedy found nothing (tight capacities, pins, jobs that must all be placed): ask
        # CP-SAT for a first allocation of the whole problem.
        seconds = min(budget.remaining(), max(0.5, min(10.0, 0.25 * settings.time_limit)))
        first = cpsat.run_cpsat(
            problem, sub_parameters(seconds, settings.seed, settings.reproducible), stop=stop
        )
        budget.charge([first])
        incumbent.offer(first.chosen, "cp-sat", checked=True)
        incumbent.tighten(first.bound)
    build_seconds = time.perf_counter() - started

    index = PairIndex.of(problem)
    workers = max(1, settings.workers)
    sizes = {
        "engineers": min(START_ENGINEERS, max(2, problem.n_engineers // 5)),
        "opportunities": min(START_OPPORTUNITIES, max(4, problem.n_opportunities // 10)),
        "force": 12,
    }
    limits = {
        "engineers": problem.n_engineers,
        "opportunities": problem.n_opportunities,
        "force": max(2, problem.n_engineers),
    }
    gains = dict.fromkeys(sizes, 0)
    rounds = solves = improved = failures = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while not stop.is_set() and not incumbent.proven():
            remaining = budget.remaining()
            if remaining < 0.3 or incumbent.chosen is None:
                break
            current = incumbent.chosen
            jobs = []
            busy_engineers = np.zeros(problem.n_engineers, dtype=bool)
            busy_opportunities = np.zeros(problem.n_opportunities, dtype=bool)
            for _ in range(workers):
                kind = _pick_kind(problem, current, rng)
                sub_seed = int(rng.integers(1 << 30))
                try:
                    built = _build(
                        problem,
                        index,
                        current,
                        rng,
                        kind,
                        sizes[kind],
                        busy_engineers,
                        busy_opportunities,
                        settings.focus,
                    )
                except Exception:
                    failures += 1
                    log.exception(
                        "neighbourhood %s failed to build (search seed %d, round %d)",
                        kind,
                        settings.seed,
                        rounds,
                    )
                    continue
                if built is None:
                    continue
                sub, pair_map, engineers = built
                busy_engineers[engineers] = True
                busy_opportunities[problem.pair_opportunity[pair_map]] = True
                # About a second per 4,000 pairs: enough to prove most neighbourhoods optimal.
                seconds = min(remaining, max(0.5, min(3.0, sub.n_pairs / 4000)))
                params = sub_parameters(seconds, sub_seed, settings.reproducible)
                params["max_time_in_seconds"] = budget.cap(seconds)
                future = pool.submit(cpsat.run_cpsat, sub, params, current[pair_map], None, stop)
                jobs.append((future, pair_map, seconds, kind, sub_seed))
            if not jobs:
                if failures > 50 * (rounds + 1):
                    break  # Nothing but failures: stop rather than spin.
                rounds += 1
                continue
            rounds += 1
            quick = dict.fromkeys(sizes, 0)
            tried = dict.fromkeys(sizes, 0)
            runs: list[cpsat.CpsatRun | None] = []
            for future, _, _, kind, sub_seed in jobs:
                try:
                    runs.append(future.result())
                except Exception:
                    failures += 1
                    runs.append(None)
                    log.exception(
                        "neighbourhood %s failed to solve (sub-solve seed %d)", kind, sub_seed
                    )
            build_cost = sum(
                BUILD_SECONDS_PER_SUB_PAIR * len(pair_map)
                + BUILD_SECONDS_PER_PAIR * problem.n_pairs
                for _, pair_map, *_ in jobs
            )
            budget.charge([run for run in runs if run is not None], build_cost)
            for run, (_, pair_map, seconds, kind, _) in zip(runs, jobs, strict=True):
                solves += 1
                tried[kind] += 1
                if run is None:
                    continue
                if run.chosen is not None:
                    candidate = incumbent.chosen.copy()
                    candidate[pair_map] = run.chosen
                    if incumbent.offer(candidate, "lns"):
                        improved += 1
                        gains[kind] += 1
                quick[kind] += (
                    run.status is SolveStatus.OPTIMAL and budget.used(run) < 0.5 * seconds
                )
            # Grow after quick exact solves, shrink after slow ones.
            for kind, largest in limits.items():
                sizes[kind] = _adapt(sizes[kind], tried[kind], quick[kind], 2, largest)
    if bound is not None and bound.multipliers is not None and not stop.is_set():
        target = incumbent.value if incumbent.value is not None else 0
        # Reproducible runs refine a fixed number of steps (the bound is then the same too).
        steps = 300 if settings.reproducible else 10_000
        refined = lagrangian_bound(
            problem,
            target,
            time_limit=min(budget.safety(tail), budget.wall_left()),
            max_iterations=steps,
            stop=stop,
            start=bound,
        )
        incumbent.tighten(refined.bound)
        iterations += refined.iterations
    return Outcome(
        status=SolveStatus.FEASIBLE if incumbent.best is not None else SolveStatus.UNKNOWN,
        build_seconds=build_seconds,
        parameters={
            "sub_solver": {**CORE_PARAMETERS, "workers_in_parallel": workers},
            "lagrangian_iterations": iterations,
            "rounds": rounds,
            "neighbourhoods": solves,
            "improving_neighbourhoods": improved,
            "improving_by_kind": gains,
            "failed_neighbourhoods": failures,
            "final_sizes": sizes,
            "wall_clock_cut": budget.cut,
        },
    )


def _build(
    problem: CompiledProblem,
    index: PairIndex,
    current: BoolArray,
    rng: np.random.Generator,
    kind: str,
    size: int,
    busy_engineers: BoolArray,
    busy_opportunities: BoolArray,
    focus: npt.NDArray[np.float64] | None = None,
) -> tuple[CompiledProblem, IntArray, IntArray] | None:
    """One neighbourhood of `kind`: the sub-problem, its pairs' global indices and its
    engineers; None when there is nothing to re-optimise there."""
    wanted = None
    forced = -1
    if kind == "opportunities":
        engineers, wanted = _choose_opportunities(
            problem, index, current, rng, size, busy_engineers, focus
        )
    elif kind == "force":
        forced = _choose_unstaffed(problem, current, rng, busy_opportunities, focus)
        engineers, wanted = forced_circle(problem, index, current, forced, size, busy_engineers)
    else:
        engineers = _choose_engineers(problem, index, current, rng, size, busy_engineers, focus)
    sub, pair_map = neighbourhood(
        problem, index, current, engineers, rng, busy_opportunities, wanted
    )
    if sub is None:
        return None
    if forced >= 0:
        sub = force_staffed(problem, sub, pair_map, forced)
        if sub is None:
            return None
    return sub, pair_map, engineers


class _Budget:
    """Time spent and left. Fast runs count wall-clock seconds. Reproducible runs count the
    deterministic time CP-SAT reports (the slowest sub-solve of each parallel round, at the
    reference rate), so that the same seed gives the same rounds on a loaded machine. The
    wall clock `deadline` ends either kind; `cut` records that it ended a reproducible run
    before its deterministic budget (the run may then not repeat exactly)."""

    def __init__(self, settings: LnsSettings, seconds: float, deadline: float | None) -> None:
        self.reproducible = settings.reproducible
        self.seconds = max(0.0, seconds)
        self.started = time.perf_counter()
        self.spent = 0.0
        self.deadline = deadline if deadline is not None else self.started + 3 * seconds + 10
        self.cut = False

    def wall_left(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())

    def remaining(self) -> float:
        """Seconds left: deterministic in reproducible runs (so that decisions repeat), of
        the wall clock otherwise; 0 once the wall clock is up either way."""
        wall = self.wall_left()
        if not self.reproducible:
            return min(wall, self.seconds - (time.perf_counter() - self.started))
        left = self.seconds - self.spent
        if wall < 0.3:
            self.cut = self.cut or left >= 0.3
            return 0.0
        return left

    def cap(self, seconds: float) -> float:
        """A sub-solve's wall-clock cap: its seconds in fast runs; in reproducible runs a
        generous safety net, and one the wall clock shortens is a cut."""
        wall = self.wall_left()
        if not self.reproducible:
            return max(0.05, min(wall, seconds))
        if wall < seconds:
            self.cut = True
        return max(0.05, min(wall, 2 * seconds + 5))

    def charge(self, runs: list[cpsat.CpsatRun], built: float = 0.0) -> None:
        """Count a round: its slowest sub-solve, plus `built` seconds of building (done one
        after another before the solves start)."""
        if runs:
            self.spent += max(self.used(run) for run in runs)
        if self.reproducible:
            self.spent += built

    def used(self, run: cpsat.CpsatRun) -> float:
        """Seconds a sub-solve counts for: wall clock, or its deterministic time at the
        reference rate (`cpsat.DETERMINISTIC_PER_SECOND`)."""
        if self.reproducible:
            return run.deterministic_seconds / (cpsat.DETERMINISTIC_PER_SECOND * SUB_SOLVE_SHARE)
        return run.seconds

    def safety(self, seconds: float) -> float:
        """A wall clock cap for work bounded by a count of steps: generous when reproducible."""
        return self.wall_left() if self.reproducible else min(seconds, self.wall_left())


def _adapt(size: int, tried: int, quick: int, smallest: int, largest: int) -> int:
    """Grow a neighbourhood size after quick exact solves, shrink it after slow ones."""
    step = max(1, size // 4)
    if tried and quick == tried:
        return min(size + step, largest)
    if tried and quick == 0:
        return max(smallest, size - step)
    return size


def price_greedy(problem: CompiledProblem, reduced: IntArray) -> BoolArray | None:
    """Greedy by Lagrangian reduced profit: opportunities by value + their roles' best reduced
    scores, each role by its best reduced-score candidate."""
    best = np.full(problem.n_demands, -(2**62), dtype=np.int64)
    np.maximum.at(best, problem.pair_demand, reduced)
    gain = np.where(problem.demand_required, best, np.maximum(best, 0))
    profit = problem.opportunity_value.astype(np.float64)
    np.add.at(profit, problem.demand_opportunity, gain.astype(np.float64))
    order = np.lexsort((-profit, ~problem.opportunity_must_staff))
    return greedy_selection(problem, order.astype(np.int64), reduced)


def _open_weights(
    problem: CompiledProblem, current: BoolArray, focus: npt.NDArray[np.float64] | None
) -> npt.NDArray[np.float64]:
    """(O,) weights for drawing an unstaffed opportunity: its value (times `focus`)."""
    staffed = staffed_opportunities(problem, current)
    weight = np.where(staffed, 0.0, np.maximum(problem.opportunity_value, 0).astype(np.float64))
    return weight if focus is None else weight * focus


def _choose_engineers(
    problem: CompiledProblem,
    index: PairIndex,
    current: BoolArray,
    rng: np.random.Generator,
    size: int,
    busy: BoolArray,
    focus: npt.NDArray[np.float64] | None = None,
) -> IntArray:
    """A group of engineers competing for the same demands: around a random engineer, or
    around the candidates of a valuable opportunity left unstaffed. Never a `busy` one."""
    free_engineers = np.flatnonzero(~busy)
    none = np.zeros(0, dtype=np.int64)
    if not len(free_engineers):
        return none
    open_value = _open_weights(problem, current, focus)
    if rng.random() < 0.5 and open_value.sum() > 0:
        o = int(rng.choice(problem.n_opportunities, p=open_value / open_value.sum()))
        demands = index.demands_of_opportunity[o]
    else:
        e = int(rng.choice(free_engineers))
        demands = np.unique(problem.pair_demand[index.pairs_of_engineer[e]])
    pairs = [index.pairs_of_demand[d] for d in demands.tolist()]
    if not pairs or not sum(len(p) for p in pairs):
        return none
    # Rank engineers by how many of these demands they could serve, ties at random.
    candidates = problem.pair_engineer[np.concatenate(pairs)]
    counts = np.bincount(candidates, minlength=problem.n_engineers)
    counts[busy] = 0
    noise = rng.random(problem.n_engineers)
    ranked = np.lexsort((noise, -counts))
    return ranked[: min(size, int((counts > 0).sum()))].astype(np.int64)


def _pick_kind(problem: CompiledProblem, current: BoolArray, rng: np.random.Generator) -> str:
    """Which neighbourhood next: a team slice, a pipeline slice, or forcing a valuable
    unstaffed opportunity in (when there is one that is allowed to stay unstaffed)."""
    draw = rng.random()
    if draw < 0.3 and not problem.opportunity_must_staff.all():
        staffed = staffed_opportunities(problem, current)
        if (problem.opportunity_value[~staffed] > 0).any():
            return "force"
    return "opportunities" if draw < 0.65 else "engineers"


def _choose_unstaffed(
    problem: CompiledProblem,
    current: BoolArray,
    rng: np.random.Generator,
    busy: BoolArray,
    focus: npt.NDArray[np.float64] | None = None,
) -> int:
    """A valuable unstaffed opportunity, drawn with probability proportional to its value."""
    weight = np.where(busy, 0.0, _open_weights(problem, current, focus))
    if weight.sum() <= 0:
        return -1
    return int(rng.choice(problem.n_opportunities, p=weight / weight.sum()))


def forced_circle(
    problem: CompiledProblem,
    index: PairIndex,
    current: BoolArray,
    o: int,
    width: int,
    busy_engineers: BoolArray | None = None,
) -> tuple[IntArray, BoolArray]:
    """The engineers who could best serve opportunity `o` (the `width` best-scoring candidates
    of each of its roles) and the opportunities they work on, plus `o`: where staffing `o`
    is decided."""
    wanted = np.zeros(problem.n_opportunities, dtype=bool)
    if o < 0:
        return np.zeros(0, dtype=np.int64), wanted
    group = np.zeros(problem.n_engineers, dtype=bool)
    for d in index.demands_of_opportunity[o].tolist():
        pairs = index.pairs_of_demand[d]
        if busy_engineers is not None:
            pairs = pairs[~busy_engineers[problem.pair_engineer[pairs]]]
        best = pairs[np.argsort(-problem.pair_score[pairs], kind="stable")][:width]
        group[problem.pair_engineer[best]] = True
    wanted[o] = True
    chosen = np.flatnonzero(current)
    wanted[problem.pair_opportunity[chosen[group[problem.pair_engineer[chosen]]]]] = True
    return np.flatnonzero(group).astype(np.int64), wanted


def force_staffed(
    problem: CompiledProblem, sub: CompiledProblem, pair_map: IntArray, o: int
) -> CompiledProblem | None:
    """`sub` with opportunity `o` (an index of `problem`) required to be staffed; None when
    `o` is not part of the neighbourhood."""
    name = problem.opportunity_ids[o]
    if name not in sub.opportunity_ids:
        return None
    must = sub.opportunity_must_staff.copy()
    must[list(sub.opportunity_ids).index(name)] = True
    return dataclasses.replace(sub, opportunity_must_staff=must)


def _choose_opportunities(
    problem: CompiledProblem,
    index: PairIndex,
    current: BoolArray,
    rng: np.random.Generator,
    count: int,
    busy_engineers: BoolArray,
    focus: npt.NDArray[np.float64] | None = None,
) -> tuple[IntArray, BoolArray]:
    """Opportunities that compete for the same engineers (around a random one), and every
    engineer who could serve them: re-staffing a slice of the pipeline across the whole
    team, where `_choose_engineers` re-plans a slice of the team across the pipeline."""
    wanted = np.zeros(problem.n_opportunities, dtype=bool)
    open_value = _open_weights(problem, current, focus)
    if rng.random() < 0.5 and open_value.sum() > 0:
        seed = int(rng.choice(problem.n_opportunities, p=open_value / open_value.sum()))
    else:
        seed = int(rng.integers(problem.n_opportunities))
    seed_pairs = [index.pairs_of_demand[d] for d in index.demands_of_opportunity[seed].tolist()]
    if not seed_pairs or not sum(len(p) for p in seed_pairs):
        return np.zeros(0, dtype=np.int64), wanted
    engineers = np.unique(problem.pair_engineer[np.concatenate(seed_pairs)])
    engineers = engineers[~busy_engineers[engineers]]
    if not len(engineers):
        return engineers, wanted
    # Rank opportunities by how many of these engineers could serve them, ties at random.
    pairs = np.concatenate([index.pairs_of_engineer[e] for e in engineers.tolist()])
    shared = np.bincount(problem.pair_opportunity[pairs], minlength=problem.n_opportunities)
    ranked = np.lexsort((rng.random(problem.n_opportunities), -shared))
    wanted[ranked[: min(count, int((shared > 0).sum()))]] = True
    wanted[seed] = True
    candidates = np.zeros(problem.n_engineers, dtype=bool)
    for o in np.flatnonzero(wanted).tolist():
        for d in index.demands_of_opportunity[o].tolist():
            candidates[problem.pair_engineer[index.pairs_of_demand[d]]] = True
    candidates &= ~busy_engineers
    return np.flatnonzero(candidates).astype(np.int64), wanted


def neighbourhood(
    problem: CompiledProblem,
    index: PairIndex,
    current: BoolArray,
    engineers: IntArray,
    rng: np.random.Generator,
    busy: BoolArray,
    wanted: BoolArray | None = None,
) -> tuple[CompiledProblem | None, IntArray]:
    """The sub-problem of re-staffing, with `engineers`, the opportunities (among `wanted`, if
    given) that only they staff or nobody staffs; other assignments stay and use up capacity.
    Returns it and the global index of each of its pairs."""
    if not len(engineers):
        return None, engineers
    in_group = np.zeros(problem.n_engineers, dtype=bool)
    in_group[engineers] = True
    pair_opp = problem.pair_opportunity
    chosen_idx = np.flatnonzero(current)
    # Opportunities staffed (partly) by someone outside the group are fixed.
    outside = np.zeros(problem.n_opportunities, dtype=bool)
    outside[pair_opp[chosen_idx[~in_group[problem.pair_engineer[chosen_idx]]]]] = True
    group_pairs = np.concatenate([index.pairs_of_engineer[e] for e in engineers.tolist()])
    reachable = np.zeros(problem.n_opportunities, dtype=bool)
    reachable[pair_opp[group_pairs]] = True
    free = reachable & ~outside & ~busy
    if wanted is not None:
        free &= wanted
    # Keep the neighbourhood small enough: the group's own opportunities always, then others
    # weighted by value.
    mine = np.zeros(problem.n_opportunities, dtype=bool)
    mine[pair_opp[chosen_idx[in_group[problem.pair_engineer[chosen_idx]]]]] = True
    pairs = group_pairs[free[pair_opp[group_pairs]]]
    if len(pairs) > MAX_SUB_PAIRS:
        per_opp = np.bincount(pair_opp[pairs], minlength=problem.n_opportunities)
        others = np.flatnonzero(free & ~mine)
        budget = MAX_SUB_PAIRS - int(per_opp[mine & free].sum())
        free = mine & free
        if len(others) and budget > 0:
            weight = np.maximum(problem.opportunity_value[others], 0).astype(np.float64) + 1.0
            order = rng.choice(
                len(others), size=len(others), replace=False, p=weight / weight.sum()
            )
            take = np.cumsum(per_opp[others[order]]) <= budget
            free[others[order][take]] = True
        pairs = group_pairs[free[pair_opp[group_pairs]]]
    if not len(pairs):
        return None, pairs
    return _restrict(problem, current, in_group, free, np.sort(pairs)), np.sort(pairs)


def _restrict(
    problem: CompiledProblem,
    current: BoolArray,
    in_group: BoolArray,
    free: BoolArray,
    pairs: IntArray,
) -> CompiledProblem:
    """The compiled sub-problem over `pairs` (engineers in the group x free opportunities)."""
    engineers = np.flatnonzero(in_group)
    opportunities = np.flatnonzero(free)
    demands = np.flatnonzero(free[problem.demand_opportunity])
    e_new = np.full(problem.n_engineers, -1, dtype=np.int64)
    e_new[engineers] = np.arange(len(engineers))
    o_new = np.full(problem.n_opportunities, -1, dtype=np.int64)
    o_new[opportunities] = np.arange(len(opportunities))
    d_new = np.full(problem.n_demands, -1, dtype=np.int64)
    d_new[demands] = np.arange(len(demands))
    p_new = np.full(problem.n_pairs, -1, dtype=np.int64)
    p_new[pairs] = np.arange(len(pairs))

    # Capacity already used by the group's fixed assignments (to opportunities not free).
    fixed = np.flatnonzero(current & in_group[problem.pair_engineer])
    fixed = fixed[~free[problem.pair_opportunity[fixed]]]
    load = np.zeros((problem.n_engineers, problem.n_weeks), dtype=np.int64)
    np.add.at(
        load,
        problem.pair_engineer[fixed],
        problem.pair_hours[fixed, None] * problem.demand_active[problem.pair_demand[fixed]],
    )
    count = np.bincount(problem.pair_engineer[fixed], minlength=problem.n_engineers)

    def inside(group: IntArray) -> bool:
        return bool(len(group)) and bool((p_new[group] >= 0).all())

    pins = tuple(PinGroup(pin.label, p_new[pin.pairs]) for pin in problem.pins if inside(pin.pairs))
    previous = tuple(p_new[group] for group in problem.previous_pairs if inside(group))
    forbidden = {
        int(p_new[p]): label for p, label in problem.pair_forbidden_label.items() if p_new[p] >= 0
    }
    return CompiledProblem(
        engineer_ids=[problem.engineer_ids[e] for e in engineers.tolist()],
        demand_ids=[problem.demand_ids[d] for d in demands.tolist()],
        opportunity_ids=[problem.opportunity_ids[o] for o in opportunities.tolist()],
        n_weeks=problem.n_weeks,
        demand_opportunity=o_new[problem.demand_opportunity[demands]],
        demand_required=problem.demand_required[demands],
        demand_active=problem.demand_active[demands],
        opportunity_value=problem.opportunity_value[opportunities],
        opportunity_must_staff=problem.opportunity_must_staff[opportunities],
        engineer_available=problem.engineer_available[engineers] - load[engineers],
        engineer_load_slack=problem.engineer_load_slack[engineers] - load[engineers],
        engineer_max_assignments=problem.engineer_max_assignments[engineers] - count[engineers],
        pair_engineer=e_new[problem.pair_engineer[pairs]],
        pair_demand=d_new[problem.pair_demand[pairs]],
        pair_hours=problem.pair_hours[pairs],
        pair_fit=problem.pair_fit[pairs],
        pair_travel=problem.pair_travel[pairs],
        pins=pins,
        previous_pairs=previous,
        continuity_weight=problem.continuity_weight,
        load_weight=problem.load_weight,
        pair_forbidden_label=forbidden,
    )
