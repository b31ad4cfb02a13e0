"""A proven upper bound for problems too large for one exact model: Lagrangian relaxation.

The engineers' weekly capacity and opportunity limit are moved into the objective with prices
(lambda per engineer-week hour, mu per engineer assignment); the load-above-target penalty
gets a price nu in [0, load_weight] per engineer-week hour. What remains splits into one tiny
problem per opportunity (staff it with each role's best-priced candidate, or not), solved
exactly with NumPy. For any prices >= 0 the result is an upper bound on the best allocation;
subgradient steps (Polyak, towards the best known allocation) lower it towards the LP
relaxation bound. Pins and one-role-per-opportunity are left out, which only loosens it.

The final prices also say what an hour of each engineer is worth at the margin: the
explanations and the hiring recommendations read them.

Imports `compiled` only.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from allocator.solve.compiled import CompiledProblem, IntArray

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LagrangianBound:
    """The best (lowest) bound found and the prices that gave it."""

    bound: float
    """Upper bound on the objective, in 1/100 point."""
    hour_price: FloatArray
    """(E, W) price of one 1/100 h of the engineer in the week (lambda + nu)."""
    assignment_price: FloatArray
    """(E,) price of one assignment of the engineer (mu)."""
    iterations: int
    seconds: float
    multipliers: tuple[FloatArray, FloatArray, FloatArray] | None = None
    """(lambda, nu, mu) that gave the bound, to continue from."""
    step_scale: float = 2.0
    """The step scale reached, to continue from."""


class Relaxation:
    """The per-opportunity problem for given prices, vectorised over all pairs."""

    def __init__(self, problem: CompiledProblem) -> None:
        self.p = problem
        allowed = np.ones(problem.n_pairs, dtype=bool)
        if problem.pair_forbidden_label:
            allowed[list(problem.pair_forbidden_label)] = False
        self.pairs = np.flatnonzero(allowed)
        score = problem.pair_score.astype(np.float64)
        for group in problem.previous_pairs:
            score[group] += problem.continuity_weight
        pe, pd = problem.pair_engineer[self.pairs], problem.pair_demand[self.pairs]
        order = np.argsort(pd, kind="stable")
        self.pairs, pe, pd = self.pairs[order], pe[order], pd[order]
        self.engineer = pe
        self.demand = pd
        self.score = score[self.pairs]
        hours = problem.pair_hours[self.pairs].astype(np.float64)
        active = problem.demand_active[pd]
        self.week_hours = [np.where(active[:, w], hours, 0.0) for w in range(problem.n_weeks)]
        # Segments of pairs per demand (pairs are sorted by demand).
        self.demands_with_pairs, self.starts = np.unique(pd, return_index=True)
        ends = np.append(self.starts[1:], len(pd))
        self.segment = np.repeat(np.arange(len(self.starts)), ends - self.starts)
        has_pairs = np.zeros(problem.n_demands, dtype=bool)
        has_pairs[self.demands_with_pairs] = True
        opp = problem.demand_opportunity
        required = problem.demand_required
        blocked = np.zeros(problem.n_opportunities, dtype=bool)
        np.logical_or.at(blocked, opp, required & ~has_pairs)
        has_required = np.zeros(problem.n_opportunities, dtype=bool)
        has_required[opp[required]] = True
        self.open = has_required & ~blocked
        self.must = problem.opportunity_must_staff
        self.infeasible = bool((self.must & ~self.open).any())
        self.d_opp = opp[self.demands_with_pairs]
        self.d_required = required[self.demands_with_pairs]
        # Engineer-weeks already above target by committed hours: as in the formulation, every
        # assigned hour there costs the load weight outright (no load row, so no nu).
        self.above = problem.engineer_load_slack < 0
        self.penalty = problem.load_weight * self.above.astype(np.float64)
        continuity = problem.continuity_weight * len(problem.previous_pairs)
        fixed_load = problem.load_weight * int(np.maximum(0, -problem.engineer_load_slack).sum())
        self.constant = float(-continuity - fixed_load)

    def hour_price(self, lam: FloatArray, nu: FloatArray) -> FloatArray:
        """(E, W) what one 1/100 h of the engineer in the week costs at prices (lambda, nu)."""
        price: FloatArray = lam + np.where(self.above, 0.0, nu) + self.penalty
        return price

    def evaluate(
        self, lam: FloatArray, nu: FloatArray, mu: FloatArray
    ) -> tuple[float, FloatArray, FloatArray]:
        """Bound for prices (lambda, nu, mu) and the relaxed solution's (E, W) load and (E,)
        assignment counts (for the subgradient)."""
        p = self.p
        price = self.hour_price(lam, nu)
        nu = np.where(self.above, 0.0, nu)
        reduced = self.score - mu[self.engineer]
        for w, hours in enumerate(self.week_hours):
            reduced -= np.ascontiguousarray(price[:, w])[self.engineer] * hours
        if not len(reduced):
            load = np.zeros((p.n_engineers, p.n_weeks))
            count = np.zeros(p.n_engineers)
            value = float(p.opportunity_value[self.open & self.must].sum())
        else:
            best = np.maximum.reduceat(reduced, self.starts)
            gain = np.where(self.d_required, best, np.maximum(best, 0.0))
            per_opp = np.bincount(self.d_opp, weights=gain, minlength=p.n_opportunities)
            per_opp += p.opportunity_value
            take = self.open & ((per_opp > 0) | self.must)
            value = float(per_opp[take].sum())
            # The chosen pair per demand: the first reaching the maximum in its segment.
            at_max = np.flatnonzero(reduced >= best[self.segment])
            segments = self.segment[at_max]
            first = np.ones(len(at_max), dtype=bool)
            first[1:] = segments[1:] != segments[:-1]
            per_segment = at_max[first]
            demand_taken = take[self.d_opp] & (self.d_required | (best > 0))
            chosen = per_segment[demand_taken]
            engineers = self.engineer[chosen]
            load = np.stack(
                [
                    np.bincount(engineers, weights=hours[chosen], minlength=p.n_engineers)
                    for hours in self.week_hours
                ],
                axis=1,
            )
            count = np.bincount(engineers, minlength=p.n_engineers).astype(np.float64)
        capacity = p.engineer_available.astype(np.float64)
        slack = p.engineer_load_slack.astype(np.float64)
        bound = (
            value
            + self.constant
            + float((lam * capacity).sum())
            + float((nu * slack).sum())
            + float((mu * p.engineer_max_assignments).sum())
        )
        return bound, load, count


def lagrangian_bound(
    problem: CompiledProblem,
    target: float | None,
    time_limit: float = 5.0,
    max_iterations: int = 300,
    stop: threading.Event | None = None,
    start: LagrangianBound | None = None,
) -> LagrangianBound:
    """Subgradient descent on the Lagrangian dual; `target` is the best known objective.

    Returns the lowest bound seen (every one is valid); -math.inf when the relaxation shows
    no allocation can exist (a must-staff job without candidates). `start` continues from an
    earlier result's multipliers.
    """
    started = time.perf_counter()
    relaxation = Relaxation(problem)
    n_e, n_w = problem.n_engineers, problem.n_weeks
    if relaxation.infeasible:
        zeros = np.zeros((n_e, n_w))
        return LagrangianBound(-math.inf, zeros, np.zeros(n_e), 0, 0.0)
    lam = np.zeros((n_e, n_w))
    nu = np.zeros((n_e, n_w))
    mu = np.zeros(n_e)
    theta = 2.0
    if start is not None and start.multipliers is not None:
        lam, nu, mu = (m.copy() for m in start.multipliers)
        theta = start.step_scale
    cap = problem.engineer_available.astype(np.float64)
    slack = problem.engineer_load_slack.astype(np.float64)
    limit = problem.engineer_max_assignments.astype(np.float64)
    load_cap = float(problem.load_weight)
    best = (math.inf, lam.copy(), nu.copy(), mu.copy())
    if start is not None and math.isfinite(start.bound):
        best = (start.bound, lam.copy(), nu.copy(), mu.copy())
    stale = 0
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        value, load, count = relaxation.evaluate(lam, nu, mu)
        if value < best[0] - 1e-9:
            best = (value, lam.copy(), nu.copy(), mu.copy())
            stale = 0
        else:
            stale += 1
            if stale >= 12:
                theta /= 2
                stale = 0
        g_lam = cap - load
        g_nu = np.where(relaxation.above, 0.0, slack - load)
        g_mu = limit - count
        # Only directions that can move matter: a zero price with a positive subgradient stays.
        g_lam = np.where((lam <= 0) & (g_lam > 0), 0.0, g_lam)
        g_nu = np.where(((nu <= 0) & (g_nu > 0)) | ((nu >= load_cap) & (g_nu < 0)), 0.0, g_nu)
        g_mu = np.where((mu <= 0) & (g_mu > 0), 0.0, g_mu)
        norm = float((g_lam**2).sum() + (g_nu**2).sum() + (g_mu**2).sum())
        # Without a known allocation the target is a guess a little below the bound.
        aim = target if target is not None else value - max(1.0, 0.05 * abs(value))
        gap = value - aim
        if norm <= 0 or gap <= 0.5 or theta < 1e-4:
            break
        step = theta * gap / norm
        lam = np.maximum(0.0, lam - step * g_lam)
        nu = np.clip(nu - step * g_nu, 0.0, load_cap)
        mu = np.maximum(0.0, mu - step * g_mu)
        if time.perf_counter() - started > time_limit or (stop is not None and stop.is_set()):
            break
    value, lam, nu, mu = best
    return LagrangianBound(
        bound=value,
        hour_price=relaxation.hour_price(lam, nu),
        assignment_price=mu,
        iterations=iterations,
        seconds=time.perf_counter() - started,
        multipliers=(lam, nu, mu),
        step_scale=theta,
    )


def reduced_scores(problem: CompiledProblem, result: LagrangianBound) -> IntArray:
    """Each pair's score minus the priced capacity it uses (rounded), for heuristics. Week by
    week, so that no (pairs x weeks) matrix of floats is made (memory at XL)."""
    price = result.assignment_price[problem.pair_engineer].astype(np.float64)
    hours = problem.pair_hours.astype(np.float64)
    for w in range(problem.n_weeks):
        active = problem.demand_active[problem.pair_demand, w]
        price += (
            np.ascontiguousarray(result.hour_price[:, w])[problem.pair_engineer] * hours * active
        )
    reduced: IntArray = np.round(problem.pair_score - price).astype(np.int64)
    return reduced
