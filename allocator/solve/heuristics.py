"""Fast heuristics on the compiled problem: greedy allocation (the warm start of every solve).

Imports `compiled` only.
"""

from __future__ import annotations

from collections.abc import Callable

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
    placed: BoolArray | None = None,
) -> BoolArray | None:
    """A feasible selection, built one opportunity at a time: each is staffed whole (every
    required role) or not at all, each role by its most preferred candidate still free.

    By default opportunities go by value density (value per required hour) and candidates by
    their score; the status-quo baselines pass their own orders. Pins are placed first, with
    the required roles of every opportunity they touch (`place_pinned_teams`). Returns None
    when that search fails or runs out of steps. `placed` pairs (a feasible selection) are
    taken before anything else. Optional roles are taken only
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

    if placed is not None:
        for p in np.flatnonzero(placed).tolist():
            take(p, int(pair_e[p]), int(problem.pair_demand[p]), int(pair_h[p]))
    if not place_pinned_teams(problem, preference, allowed, fits, take, chosen):
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


PIN_SEARCH_STEPS = 20_000
"""Placements `place_pinned_teams` may try before it gives up."""


def place_pinned_teams(
    problem: CompiledProblem,
    preference: IntArray,
    allowed: BoolArray,
    fits: Callable[[int, int, int], bool],
    take: Callable[..., None],
    placed: BoolArray,
) -> bool:
    """Honour every pin and staff every required role of the opportunities the pins touch: a
    depth-first search, pins in order, then the role with the fewest candidates left, each by
    `preference`. `fits(e, d, hours)` and `take(p, e, d, hours, sign)` are the caller's state,
    `placed` the pairs it holds already.
    False when no such placement exists or none was found within `PIN_SEARCH_STEPS` steps."""
    if not problem.pins:
        return True
    pair_e, pair_d, pair_h = problem.pair_engineer, problem.pair_demand, problem.pair_hours
    ranked = np.lexsort((-preference, pair_d))
    starts = np.searchsorted(pair_d[ranked], np.arange(problem.n_demands + 1))
    required_of: dict[int, list[int]] = {}
    for d in np.flatnonzero(problem.demand_required).tolist():
        required_of.setdefault(int(problem.demand_opportunity[d]), []).append(d)
    served = {int(pair_d[p]): p for p in np.flatnonzero(placed).tolist()}  # Demand -> pair.
    steps = 0

    def options(pairs: list[int]) -> list[tuple[int, int, int, int]]:
        return [
            (p, e, d, h)
            for p, e, d, h, ok in zip(
                pairs,
                pair_e[pairs].tolist(),
                pair_d[pairs].tolist(),
                pair_h[pairs].tolist(),
                allowed[pairs].tolist(),
                strict=True,
            )
            if ok and d not in served and fits(e, d, h)
        ]

    def attempt(choices: list[tuple[int, int, int, int]]) -> bool:
        nonlocal steps
        for p, e, d, h in choices:
            steps += 1
            if steps > PIN_SEARCH_STEPS:
                return False
            take(p, e, d, h)
            served[d] = p
            if search():
                return True
            del served[d]
            take(p, e, d, h, -1)
        return False

    def search() -> bool:
        chosen = set(served.values())
        for pin in problem.pins:
            members = pin.pairs.tolist()
            if chosen.intersection(members):
                continue
            by_preference = pin.pairs[np.argsort(-preference[pin.pairs], kind="stable")]
            return attempt(options(by_preference.tolist()))
        touched = {int(problem.demand_opportunity[d]) for d in served}
        open_roles = [d for o in sorted(touched) for d in required_of.get(o, []) if d not in served]
        if not open_roles:
            return True
        fewest = min(
            (options(ranked[starts[d] : starts[d + 1]].tolist()) for d in open_roles), key=len
        )
        return attempt(fewest)

    return search()
