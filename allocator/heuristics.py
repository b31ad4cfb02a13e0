"""Fast heuristics on the compiled problem: greedy allocation (the warm start of every solve).

Imports `compiled` only.
"""

from __future__ import annotations

import numpy as np

from allocator.compiled import (
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
) -> BoolArray | None:
    """A feasible selection, built one opportunity at a time: each is staffed whole (every
    required role) or not at all, each role by its most preferred candidate still free.

    By default opportunities go by value density (value per required hour) and candidates by
    their score; the status-quo baselines pass their own orders. Pins are placed first.
    Returns None when the pins cannot all be placed this way.
    """
    preference = problem.pair_score if pair_preference is None else pair_preference
    n_p = problem.n_pairs
    chosen = np.zeros(n_p, dtype=bool)
    remaining = problem.engineer_available.copy()
    count = np.zeros(problem.n_engineers, dtype=np.int64)
    served = np.zeros(problem.n_demands, dtype=bool)
    on_opp: set[tuple[int, int]] = set()
    active = problem.demand_active
    pair_e = problem.pair_engineer.tolist()
    pair_d = problem.pair_demand.tolist()
    pair_h = problem.pair_hours.tolist()
    d_opp = problem.demand_opportunity.tolist()
    allowed = np.ones(n_p, dtype=bool)
    if problem.pair_forbidden_label:
        allowed[list(problem.pair_forbidden_label)] = False
    remaining_rows = [row for row in remaining.tolist()]
    active_rows = [np.flatnonzero(row).tolist() for row in active]
    max_count = problem.engineer_max_assignments.tolist()

    def fits(p: int) -> bool:
        e, d = pair_e[p], pair_d[p]
        if served[d] or count[e] >= max_count[e] or (e, d_opp[d]) in on_opp:
            return False
        row = remaining_rows[e]
        return all(row[w] >= pair_h[p] for w in active_rows[d])

    def take(p: int) -> None:
        e, d = pair_e[p], pair_d[p]
        chosen[p] = True
        served[d] = True
        count[e] += 1
        on_opp.add((e, d_opp[d]))
        row = remaining_rows[e]
        for w in active_rows[d]:
            row[w] -= pair_h[p]

    def undo(p: int) -> None:
        e, d = pair_e[p], pair_d[p]
        chosen[p] = False
        served[d] = False
        count[e] -= 1
        on_opp.discard((e, d_opp[d]))
        row = remaining_rows[e]
        for w in active_rows[d]:
            row[w] += pair_h[p]

    for pin in problem.pins:
        options = [p for p in pin.pairs.tolist() if chosen[p]]
        if options:
            continue
        placed = next((p for p in pin.pairs.tolist() if allowed[p] and fits(p)), None)
        if placed is None:
            return None
        take(placed)

    # Candidates of each demand, best score first.
    order = np.lexsort((-preference, problem.pair_demand))
    starts = np.searchsorted(problem.pair_demand[order], np.arange(problem.n_demands + 1))
    candidates = [order[starts[d] : starts[d + 1]].tolist() for d in range(problem.n_demands)]
    demand_hours = np.zeros(problem.n_demands, dtype=np.int64)
    first = starts[:-1][starts[:-1] < starts[1:]]
    demand_hours[problem.pair_demand[order[first]]] = problem.pair_hours[order[first]]
    weekly = demand_hours * active.sum(axis=1)
    required_hours = np.zeros(problem.n_opportunities, dtype=np.int64)
    np.add.at(required_hours, problem.demand_opportunity, weekly * problem.demand_required)
    must = problem.opportunity_must_staff
    if opportunity_order is None:
        density = problem.opportunity_value / np.maximum(required_hours, 1)
        opportunity_order = np.lexsort((-density, ~must))
    demands_by_opp: list[list[int]] = [[] for _ in range(problem.n_opportunities)]
    for d in np.argsort([len(c) for c in candidates], kind="stable").tolist():
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
    for o in opportunity_order.tolist():
        roles = demands_by_opp[o]
        required = [d for d in roles if problem.demand_required[d]]
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
        taken: list[int] = []
        complete = True
        for d in required:
            if served[d]:
                continue
            pick = next((p for p in candidates[d] if allowed[p] and fits(p)), None)
            if pick is None:
                complete = False
                break
            take(pick)
            taken.append(pick)
        if not complete:
            if already:
                return None  # A pinned role forces this team; it cannot be completed greedily.
            for p in taken:
                undo(p)
            continue
        for d in roles:
            if problem.demand_required[d] or served[d]:
                continue
            pick = next(
                (
                    p
                    for p in candidates[d]
                    if allowed[p]
                    and (pair_preference is not None or problem.pair_score[p] >= 0)
                    and fits(p)
                ),
                None,
            )
            if pick is not None:
                take(pick)
    if must.any() and not staffed_opportunities(problem, chosen)[must].all():
        return None
    return chosen if is_feasible(problem, chosen) else None
