"""The LP relaxation by column generation: prices, a bound, and a fractional plan to round.

Large problems have millions of candidate pairs, far too many for one LP. Most of them never
matter: an engineer who is much more expensive (in priced capacity) than the best candidates of
a role will not serve it. So the LP is solved over a few columns per demand (the best by
Lagrangian reduced score, `bounds.py`), and its duals price every other pair; the pairs that
price in are added and the LP is re-solved from its last basis, until none price in or the
rounds run out.

- The duals of the capacity, load and opportunity-limit rows are the Lagrangian multipliers of
  `bounds.py`; evaluated over *all* pairs they give a proven upper bound whether or not the
  column generation has converged (and the LP bound when it has).
- The LP solution says which opportunities to staff and with whom; `round_plan` turns it into
  an allocation, and the priced columns are where the search looks (`restrict_pairs`).

One-role-per-opportunity rows are left out of this LP (a relaxation; the rounding and every
exact engine keep the rule). Deterministic: HiGHS simplex on one thread, a fixed number of
rounds and an iteration limit; the wall clock only cuts a run that would overrun its deadline.

Imports `compiled`, `bounds` and `heuristics`; HiGHS through highspy.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import highspy
import numpy as np

from allocator.solve.bounds import FloatArray, LagrangianBound, Relaxation, reduced_scores
from allocator.solve.compiled import BoolArray, CompiledProblem, IntArray, PinGroup
from allocator.solve.heuristics import greedy_selection
from allocator.solve.mip import quiet_highs

COLUMNS_PER_DEMAND = 8
"""Columns per demand in the first LP (the best by Lagrangian reduced score)."""
ADDED_PER_DEMAND = 6
"""At most this many priced-in columns per demand are added per round."""


@dataclass(frozen=True)
class LpPlan:
    """The outcome of the column generation."""

    value: float
    """LP value over the columns of the last round solved to optimality (1/100 point): a
    lower estimate of the full LP; -inf when no round was."""
    bound: LagrangianBound
    """The proven upper bound from the final duals, with those duals as prices."""
    columns: BoolArray
    """(P,) pairs that were ever columns of the LP."""
    pair_value: FloatArray
    """(P,) LP value of each pair in that round (0 outside the columns)."""
    staffed_value: FloatArray
    """(O,) LP value of each opportunity's staffed variable."""
    rounds: int
    converged: bool
    """True when no pair priced in at the end: `value` is then the full LP value."""
    seconds: float
    simplex_iterations: int = 0
    lp: _Lp | None = None
    """The LP itself, for diving (None when it could not be solved)."""
    fixed: BoolArray | None = None
    """(P,) pairs a dive fixed: whole teams that fit together."""


class _Lp:
    """The restricted LP in HiGHS: rows are fixed, pair columns are added over time.

    Rows: one per demand (pairs - staffed = 0, or <= 0 for optional roles), one per pin,
    then per engineer and week a capacity row and a load row, then one limit row per engineer.
    """

    def __init__(self, problem: CompiledProblem, threads: int = 1) -> None:
        p = problem
        self.p = p
        n_e, n_w, n_d = p.n_engineers, p.n_weeks, p.n_demands
        h = quiet_highs(threads)
        h.setOptionValue("solver", "simplex")
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        inf = highspy.kHighsInf
        self.pin_row = n_d
        self.cap_row = n_d + len(p.pins)
        self.load_row = self.cap_row + n_e * n_w
        self.limit_row = self.load_row + n_e * n_w
        n_rows = self.limit_row + n_e
        lower = np.full(n_rows, -inf)
        upper = np.full(n_rows, inf)
        lower[:n_d] = np.where(p.demand_required, 0.0, -inf)
        upper[:n_d] = 0.0
        lower[self.pin_row : self.cap_row] = 1.0
        upper[self.pin_row : self.cap_row] = 1.0
        upper[self.cap_row : self.load_row] = p.engineer_available.ravel()
        slack = p.engineer_load_slack.ravel().astype(np.float64)
        self.has_over = (slack >= 0) & (p.load_weight > 0)
        upper[self.load_row : self.limit_row] = np.where(self.has_over, slack, inf)
        upper[self.limit_row :] = p.engineer_max_assignments
        empty = np.zeros(n_rows + 1, dtype=np.int32)
        h.addRows(n_rows, lower, upper, 0, empty, np.zeros(0, np.int32), np.zeros(0))
        # Staffed variables (one per opportunity), then over-target hours per engineer-week.
        n_o = p.n_opportunities
        staff_upper = np.ones(n_o)
        staff_lower = p.opportunity_must_staff.astype(np.float64)
        d_order = np.argsort(p.demand_opportunity, kind="stable")
        starts = np.searchsorted(p.demand_opportunity[d_order], np.arange(n_o)).astype(np.int32)
        h.addCols(
            n_o,
            p.opportunity_value.astype(np.float64),
            staff_lower,
            staff_upper,
            n_d,
            starts,
            d_order.astype(np.int32),
            np.full(n_d, -1.0),
        )
        cells = np.flatnonzero(self.has_over)
        h.addCols(
            len(cells),
            np.full(len(cells), -float(p.load_weight)),
            np.zeros(len(cells)),
            np.full(len(cells), inf),
            len(cells),
            np.arange(len(cells), dtype=np.int32),
            (self.load_row + cells).astype(np.int32),
            np.full(len(cells), -1.0),
        )
        h.changeObjectiveOffset(float(_objective_offset(p)))
        self.h = h
        self.n_fixed_cols = n_o + len(cells)
        self.columns = np.zeros(0, dtype=np.int64)
        self.objective = _pair_objective(p)
        self.pins_of_pair: dict[int, list[int]] = {}
        for k, pin in enumerate(p.pins):
            for pair in pin.pairs.tolist():
                self.pins_of_pair.setdefault(pair, []).append(k)
        self.forbidden = np.zeros(p.n_pairs, dtype=bool)
        if p.pair_forbidden_label:
            self.forbidden[list(p.pair_forbidden_label)] = True

    def add(self, pairs: IntArray) -> None:
        """Add `pairs` (not yet columns) as columns."""
        p = self.p
        if not len(pairs):
            return
        n_w = p.n_weeks
        e = p.pair_engineer[pairs]
        active = p.demand_active[p.pair_demand[pairs]]
        hours = p.pair_hours[pairs].astype(np.float64)
        # Entries column by column: demand, pins, capacity and load per active week, limit.
        # Built as (column, row, value) triples, then sorted by column.
        cols = [np.arange(len(pairs)), np.arange(len(pairs))]
        rows = [p.pair_demand[pairs], self.limit_row + e]
        vals = [np.ones(len(pairs)), np.ones(len(pairs))]
        k, w = np.nonzero(active)
        for base in (self.cap_row, self.load_row):
            cols.append(k)
            rows.append(base + e[k] * n_w + w)
            vals.append(hours[k])
        pinned = [q for q in range(len(pairs)) if int(pairs[q]) in self.pins_of_pair]
        for position in pinned:
            for pin in self.pins_of_pair[int(pairs[position])]:
                cols.append(np.array([position]))
                rows.append(np.array([self.pin_row + pin]))
                vals.append(np.ones(1))
        col = np.concatenate(cols)
        order = np.argsort(col, kind="stable")
        counts = np.bincount(col, minlength=len(pairs))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        row_index = np.concatenate(rows)[order].astype(np.int32)
        row_value = np.concatenate(vals)[order]
        upper = np.where(self.forbidden[pairs], 0.0, 1.0)
        self.h.addCols(
            len(pairs),
            self.objective[pairs],
            np.zeros(len(pairs)),
            upper,
            len(row_index),
            starts,
            row_index,
            row_value,
        )
        self.columns = np.concatenate([self.columns, pairs])

    def solve(self, seconds: float, iterations: int) -> bool:
        h = self.h
        # HiGHS's time limit counts the instance's whole run time, every earlier run included.
        h.setOptionValue("time_limit", h.getRunTime() + max(0.05, float(seconds)))
        h.setOptionValue("simplex_iteration_limit", int(iterations))
        h.run()
        return bool(h.getModelStatus() == highspy.HighsModelStatus.kOptimal)

    def prices(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(lambda, nu, mu) for `bounds.Relaxation` from the row duals (clipped to their
        valid ranges, so the bound they give is valid even if the LP stopped early)."""
        p = self.p
        dual = np.abs(np.asarray(self.h.getSolution().row_dual))
        n_e, n_w = p.n_engineers, p.n_weeks
        lam = dual[self.cap_row : self.load_row].reshape(n_e, n_w)
        nu = dual[self.load_row : self.limit_row].reshape(n_e, n_w)
        mu = dual[self.limit_row : self.limit_row + n_e]
        # Cells already above target (no load row): every hour is charged in the objective.
        nu = np.where(self.has_over.reshape(n_e, n_w), np.minimum(nu, p.load_weight), 0.0)
        return lam.copy(), nu, mu.copy()

    def values(self) -> tuple[FloatArray, FloatArray]:
        col = np.asarray(self.h.getSolution().col_value)
        n_o = self.p.n_opportunities
        pair_value = np.zeros(self.p.n_pairs)
        pair_value[self.columns] = col[self.n_fixed_cols :]
        return pair_value, col[:n_o].copy()


def _pair_objective(problem: CompiledProblem) -> FloatArray:
    """Each pair's objective coefficient in the integer program (as `formulation.py` writes it):
    score, continuity kept, and the load penalty in weeks already above target."""
    score = problem.pair_score.astype(np.float64)
    for group in problem.previous_pairs:
        score[group] += problem.continuity_weight
    if problem.load_weight:
        above = (problem.engineer_load_slack < 0)[problem.pair_engineer]
        active = problem.demand_active[problem.pair_demand]
        weeks = (above & active).sum(axis=1)
        score -= problem.load_weight * problem.pair_hours * weeks
    return score


def _objective_offset(problem: CompiledProblem) -> int:
    fixed_load = problem.load_weight * int(np.maximum(0, -problem.engineer_load_slack).sum())
    return -problem.continuity_weight * len(problem.previous_pairs) - fixed_load


def best_per_demand(problem: CompiledProblem, score: FloatArray | IntArray, k: int) -> BoolArray:
    """(P,) the `k` pairs of each demand with the highest `score` (ties by pair order)."""
    order = np.lexsort((-score, problem.pair_demand))
    starts = np.searchsorted(problem.pair_demand[order], np.arange(problem.n_demands + 1))
    rank = np.empty(problem.n_pairs, dtype=np.int64)
    rank[order] = np.arange(problem.n_pairs) - np.repeat(starts[:-1], np.diff(starts))
    chosen: BoolArray = rank < k
    return chosen


def column_generation(
    problem: CompiledProblem,
    prices: LagrangianBound,
    start: BoolArray | None,
    deadline: float,
    max_rounds: int = 6,
    iterations_per_round: int = 200_000,
) -> LpPlan:
    """Solve the LP over priced columns (see module doc); `start` pairs are columns too."""
    started = time.perf_counter()
    relaxation = Relaxation(problem)
    lp = _Lp(problem)
    reduced = reduced_scores(problem, prices)
    wanted = best_per_demand(problem, reduced, COLUMNS_PER_DEMAND)
    if start is not None:
        wanted |= start
    for pin in problem.pins:
        wanted[pin.pairs] = True
    wanted[lp.forbidden] = False
    lp.add(np.flatnonzero(wanted))
    in_lp = wanted.copy()
    best = prices
    rounds = iterations = widened = 0
    converged = False
    value = -math.inf
    pair_value = np.zeros(problem.n_pairs)
    staffed_value = np.zeros(problem.n_opportunities)
    while rounds < max_rounds:
        left = deadline - time.perf_counter()
        if left <= 0.1:
            break
        rounds += 1
        solved = lp.solve(left, iterations_per_round)
        iterations += int(lp.h.getInfo().simplex_iteration_count)
        lam, nu, mu = lp.prices()  # Valid prices even when the solve stopped early.
        bound, _, _ = relaxation.evaluate(lam, nu, mu)
        if bound < best.bound:
            best = LagrangianBound(bound, relaxation.hour_price(lam, nu), mu, 0, 0.0, (lam, nu, mu))
        if not solved:
            if not _infeasible(lp) or widened >= 3:
                break
            # Too few columns for every job that must be placed: widen every demand's list.
            widened += 1
            more = best_per_demand(problem, reduced, COLUMNS_PER_DEMAND * (2 + widened))
            more &= ~in_lp & ~lp.forbidden
            lp.add(np.flatnonzero(more))
            in_lp |= more
            continue
        value = float(lp.h.getInfo().objective_function_value)
        pair_value, staffed_value = lp.values()
        # Pairs that price in: reduced score above what their demand's row already pays.
        reduced = reduced_scores(
            problem, LagrangianBound(bound, relaxation.hour_price(lam, nu), mu, 0, 0.0)
        )
        demand_dual = _demand_duals(lp, problem)
        gain = reduced - demand_dual[problem.pair_demand]
        candidates = ~in_lp & ~lp.forbidden & (gain > 0.5)
        if not candidates.any():
            converged = True
            break
        add = candidates & best_per_demand(
            problem, np.where(candidates, gain, -np.inf), ADDED_PER_DEMAND
        )
        lp.add(np.flatnonzero(add))
        in_lp |= add
    return LpPlan(
        value=value,
        bound=best,
        columns=in_lp,
        pair_value=pair_value,
        staffed_value=staffed_value,
        rounds=rounds,
        converged=converged,
        seconds=time.perf_counter() - started,
        simplex_iterations=iterations,
        lp=lp if math.isfinite(value) else None,
    )


def _infeasible(lp: _Lp) -> bool:
    return bool(lp.h.getModelStatus() == highspy.HighsModelStatus.kInfeasible)


def _demand_duals(lp: _Lp, problem: CompiledProblem) -> FloatArray:
    """What a demand's row pays a column: a column's LP reduced cost is its reduced score
    (`bounds.reduced_scores` at the row prices) minus this."""
    dual: FloatArray = np.asarray(lp.h.getSolution().row_dual)[: problem.n_demands]
    return dual


def round_plan(problem: CompiledProblem, plan: LpPlan) -> BoolArray | None:
    """An allocation from the LP plan: the teams a dive fixed first (they fit together), then
    opportunities by LP staffing value and deal value, each role by its LP value, then by
    reduced score."""
    x = plan.pair_value
    y = plan.staffed_value
    reduced = reduced_scores(problem, plan.bound)
    preference = np.round(x * 1e6).astype(np.int64) * 10_000_000 + np.clip(
        reduced, -9_999_999, 9_999_999
    )
    order = np.lexsort((-problem.opportunity_value, -np.round(y, 6))).astype(np.int64)
    return greedy_selection(problem, order, preference, positive_optional=True, placed=plan.fixed)


def restrict_pairs(problem: CompiledProblem, keep: BoolArray) -> tuple[CompiledProblem, IntArray]:
    """The problem over the pairs in `keep` (plus every pin, previous and forbidden pair, so
    that every rule reads the same); returns it and the global index of each of its pairs.
    An allocation of it is an allocation of `problem` with the same objective."""
    keep = keep.copy()
    for pin in problem.pins:
        keep[pin.pairs] = True
    for group in problem.previous_pairs:
        keep[group] = True
    if problem.pair_forbidden_label:
        keep[list(problem.pair_forbidden_label)] = True
    pair_map = np.flatnonzero(keep)
    renumber = np.full(problem.n_pairs, -1, dtype=np.int64)
    renumber[pair_map] = np.arange(len(pair_map))
    sub = dataclasses.replace(
        problem,
        pair_engineer=problem.pair_engineer[pair_map],
        pair_demand=problem.pair_demand[pair_map],
        pair_hours=problem.pair_hours[pair_map],
        pair_fit=problem.pair_fit[pair_map],
        pair_travel=problem.pair_travel[pair_map],
        pins=tuple(PinGroup(pin.label, renumber[pin.pairs]) for pin in problem.pins),
        previous_pairs=tuple(renumber[group] for group in problem.previous_pairs),
        pair_forbidden_label={
            int(renumber[p]): label for p, label in problem.pair_forbidden_label.items()
        },
    )
    return sub, pair_map


def dive(problem: CompiledProblem, plan: LpPlan, deadline: float, rounds: int = 12) -> LpPlan:
    """Fix the LP towards an allocation, whole teams at a time: each round takes the
    opportunities the LP staffs (most staffed first), gives each role its largest-valued pair
    and fixes the team when it fits every engineer integrally beside the teams fixed before;
    then the LP is re-solved from its basis and moves the rest around them. A round whose
    fixes leave the LP infeasible is undone and the dive ends.
    Returns the plan with the final values (for `round_plan`)."""
    lp = plan.lp
    if lp is None:
        return plan
    column = np.full(problem.n_pairs, -1, dtype=np.int64)
    column[lp.columns] = lp.n_fixed_cols + np.arange(len(lp.columns))
    fixed = np.zeros(problem.n_pairs, dtype=bool)
    done = np.zeros(problem.n_opportunities, dtype=bool)
    load = np.zeros((problem.n_engineers, problem.n_weeks), dtype=np.int64)
    count = np.zeros(problem.n_engineers, dtype=np.int64)
    on_opportunity: set[tuple[int, int]] = set()
    demands_of = [[] for _ in range(problem.n_opportunities)]  # type: list[list[int]]
    for d, o in enumerate(problem.demand_opportunity.tolist()):
        demands_of[o].append(d)
    x, y = plan.pair_value, plan.staffed_value
    iterations = plan.simplex_iterations
    for _ in range(rounds):
        if time.perf_counter() > deadline - 0.2:
            break
        best_pair = np.full(problem.n_demands, -1, dtype=np.int64)
        best_value = np.zeros(problem.n_demands)
        support = np.flatnonzero(x > 1e-6)
        order = support[np.argsort(x[support], kind="stable")]
        best_pair[problem.pair_demand[order]] = order  # The last write is the largest.
        best_value[problem.pair_demand[order]] = x[order]
        teams = np.flatnonzero((y > 0.5) & ~done)
        teams = teams[np.argsort(-y[teams], kind="stable")]
        saved = (load.copy(), count.copy(), set(on_opportunity))
        batch: list[int] = []
        for o in teams.tolist():
            team: list[int] = []
            for d in demands_of[o]:
                p = int(best_pair[d])
                if p < 0 or best_value[d] < 0.5:
                    if problem.demand_required[d]:
                        team = []
                        break
                    continue
                team.append(p)
            if not team or not _fits(problem, team, load, count, on_opportunity):
                continue
            batch += team
            done[o] = True
        if not batch:
            break
        cols = column[np.array(batch, dtype=np.int64)].astype(np.int32)
        lp.h.changeColsBounds(len(cols), cols, np.ones(len(cols)), np.ones(len(cols)))
        solved = lp.solve(deadline - time.perf_counter(), 200_000)
        iterations += int(lp.h.getInfo().simplex_iteration_count)
        if not solved:
            lp.h.changeColsBounds(len(cols), cols, np.zeros(len(cols)), np.ones(len(cols)))
            load, count, on_opportunity = saved
            done[problem.pair_opportunity[batch]] = False
            lp.solve(deadline - time.perf_counter(), 200_000)
            break
        fixed[batch] = True
        x, y = lp.values()
    return dataclasses.replace(
        plan,
        pair_value=np.where(fixed, 1.0, x),
        staffed_value=y,
        fixed=fixed,
        simplex_iterations=iterations,
    )


def _fits(
    problem: CompiledProblem,
    team: list[int],
    load: IntArray,
    count: IntArray,
    on_opportunity: set[tuple[int, int]],
) -> bool:
    """Place `team` (pairs) if every engineer has the hours, the opportunity slot and no other
    role on the same opportunity; updates the running totals when it does."""
    added: list[tuple[int, IntArray, tuple[int, int]]] = []
    for p in team:
        e = int(problem.pair_engineer[p])
        d = int(problem.pair_demand[p])
        key = (e, int(problem.demand_opportunity[d]))
        hours = problem.pair_hours[p] * problem.demand_active[d]
        if (
            (load[e] + hours > problem.engineer_available[e]).any()
            or count[e] >= problem.engineer_max_assignments[e]
            or key in on_opportunity
        ):
            for e2, h2, k2 in added:
                load[e2] -= h2
                count[e2] -= 1
                on_opportunity.discard(k2)
            return False
        load[e] += hours
        count[e] += 1
        on_opportunity.add(key)
        added.append((e, hours, key))
    return True
