"""Fast heuristics on the compiled problem: greedy allocation (the warm start of every solve).

Imports `compiled` only.
"""

from __future__ import annotations

import numpy as np

from allocator.solve.compiled import (
    BoolArray,
    CompiledProblem,
    IntArray,
    is_feasible,
    staffed_opportunities,
)


def greedy_selection(
    problem: CompiledProblem,
    opportunity_order: IntArray | None = None,
    pair_preference: IntArray | None = None,
    positive_optional: bool | None = None,
) -> BoolArray | None:
    """A feasible selection, built one opportunity at a time: each is staffed whole (every
    required role) or not at all, each role by its most preferred candidate still free.

    By default opportunities go by value density (value per required hour) and candidates by
    their score; the status-quo baselines pass their own orders. Pins are placed first.
    Returns None when the pins cannot all be placed this way. Optional roles are taken only
    with a candidate of positive score when `positive_optional` (default: with the default
    preference only; the status-quo baselines staff them whatever the score).
    """
    if positive_optional is None:
        positive_optional = pair_preference is None
    preference = problem.pair_score if pair_preference is None else pair_preference
    n_p = problem.n_pairs
    chosen = np.zeros(n_p, dtype=bool)
    count = [0] * problem.n_engineers
    served = np.zeros(problem.n_demands, dtype=bool)
    on_opp: set[tuple[int, int]] = set()
    active = problem.demand_active
    pair_e, pair_h = problem.pair_engineer, problem.pair_hours
    d_opp = problem.demand_opportunity.tolist()
    allowed = np.ones(n_p, dtype=bool)
    if problem.pair_forbidden_label:
        allowed[list(problem.pair_forbidden_label)] = False
    remaining = problem.engineer_available.tolist()
    active_rows = [np.flatnonzero(row).tolist() for row in active]
    max_count = problem.engineer_max_assignments.tolist()
    score = problem.pair_score

    def fits(e: int, d: int, hours: int) -> bool:
        if count[e] >= max_count[e] or (e, d_opp[d]) in on_opp:
            return False
        row = remaining[e]
        return all(row[w] >= hours for w in active_rows[d])

    def take(p: int, e: int, d: int, hours: int, sign: int = 1) -> None:
        chosen[p] = sign > 0
        served[d] = sign > 0
        count[e] += sign
        if sign > 0:
            on_opp.add((e, d_opp[d]))
        else:
            on_opp.discard((e, d_opp[d]))
        row = remaining[e]
        for w in active_rows[d]:
            row[w] -= sign * hours

    def pick(d: int, pairs: IntArray, positive_only: bool) -> tuple[int, int, int] | None:
        """The first of `pairs` (for demand d) whose engineer can take it."""
        if served[d]:
            return None
        for p, e, hours, ok, points in zip(
            pairs.tolist(),
            pair_e[pairs].tolist(),
            pair_h[pairs].tolist(),
            allowed[pairs].tolist(),
            score[pairs].tolist(),
            strict=True,
        ):
            if ok and not (positive_only and points < 0) and fits(e, d, hours):
                return p, e, hours
        return None

    for pin in problem.pins:
        if chosen[pin.pairs].any():
            continue
        for d in np.unique(problem.pair_demand[pin.pairs]).tolist():
            found = pick(d, pin.pairs[problem.pair_demand[pin.pairs] == d], False)
            if found is not None:
                take(found[0], found[1], d, found[2])
                break
        else:
            return None

    # Candidates of each demand, most preferred first.
    order = np.lexsort((-preference, problem.pair_demand))
    starts = np.searchsorted(problem.pair_demand[order], np.arange(problem.n_demands + 1))
    sizes = np.diff(starts)
    demand_hours = np.zeros(problem.n_demands, dtype=np.int64)
    first = starts[:-1][sizes > 0]
    demand_hours[problem.pair_demand[order[first]]] = problem.pair_hours[order[first]]
    weekly = demand_hours * active.sum(axis=1)
    required_hours = np.zeros(problem.n_opportunities, dtype=np.int64)
    np.add.at(required_hours, problem.demand_opportunity, weekly * problem.demand_required)
    must = problem.opportunity_must_staff
    if opportunity_order is None:
        density = problem.opportunity_value / np.maximum(required_hours, 1)
        opportunity_order = np.lexsort((-density, ~must))
    demands_by_opp: list[list[int]] = [[] for _ in range(problem.n_opportunities)]
    for d in np.argsort(sizes, kind="stable").tolist():  # Scarcest role first.
        demands_by_opp[d_opp[d]].append(d)

    # Opportunities with pinned roles first: their teams are completed around the pins.
    pinned = np.zeros(problem.n_opportunities, dtype=bool)
    pinned[problem.demand_opportunity[served]] = True
    opportunity_order = np.concatenate(
        [
            opportunity_order[pinned[opportunity_order]],
            opportunity_order[~pinned[opportunity_order]],
        ]
    )
    required_role = problem.demand_required.tolist()
    for o in opportunity_order.tolist():
        roles = demands_by_opp[o]
        required = [d for d in roles if required_role[d]]
        if not required:
            continue
        # Roles placed by pins: the team must be completed around them.
        already = [d for d in roles if served[d]]
        if (
            problem.opportunity_value[o] <= 0
            and not must[o]
            and not already
            and pair_preference is None
        ):
            continue
        taken: list[tuple[int, int, int, int]] = []
        for d in required:
            if served[d]:
                continue
            found = pick(d, order[starts[d] : starts[d + 1]], False)
            if found is None:
                break
            take(found[0], found[1], d, found[2])
            taken.append((found[0], found[1], d, found[2]))
        else:
            for d in roles:
                if not required_role[d]:
                    found = pick(d, order[starts[d] : starts[d + 1]], positive_optional)
                    if found is not None:
                        take(found[0], found[1], d, found[2])
            continue
        if already:
            return None  # A pinned role forces this team; it cannot be completed greedily.
        for p, e, d, hours in taken:
            take(p, e, d, hours, sign=-1)
    if must.any() and not staffed_opportunities(problem, chosen)[must].all():
        return None
    return chosen if is_feasible(problem, chosen) else None
