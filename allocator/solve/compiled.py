"""The allocation problem as arrays: sparse candidate pairs, hours and scores.

`compile_portfolio` turns the domain into a `CompiledProblem`: only eligible (engineer,
demand) pairs, with NumPy arrays of hours and scores, built with NumPy/pandas and no Python
loop over all engineers x demands. `CompiledProblem` also accepts pair-specific hours and
scores, so a plain generalized assignment problem runs through the same core (`gap.py`).
`evaluate`, `staffed_opportunities` and `is_feasible` read a selection of pairs exactly.

Imports the domain (`model`) only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from allocator.core.rules import (
    committed_in,
    free_hours,
    load_target,
    proficient,
    value_points,
    worked_hours,
)
from allocator.errors import InputIssue, InvalidInputError
from allocator.model import (
    HOUR_SCALE,
    POINT_SCALE,
    Forbid,
    Pin,
    Portfolio,
    PreviousAssignment,
    centi_hours,
)

IntArray = npt.NDArray[np.int64]

EXACT_LIMIT = 2**53
"""Largest total objective (1/100 point) counted exactly, in floats and in CP-SAT."""
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PinGroup:
    """One pin: exactly one of `pairs` is chosen. `pairs` is empty when no pair can honour it."""

    label: str
    pairs: IntArray


@dataclass(frozen=True)
class CompiledProblem:
    """The allocation problem as arrays. Hours in 1/100 h, scores in 1/100 point.

    Indices: engineers e < n_engineers, demands d, opportunities o, weeks w < n_weeks, pairs p.
    """

    engineer_ids: Sequence[str]
    demand_ids: Sequence[str]
    opportunity_ids: Sequence[str]
    n_weeks: int
    demand_opportunity: IntArray
    """(D,) opportunity of each demand."""
    demand_required: BoolArray
    """(D,) required demands form the team; optional ones are staffed only with it."""
    demand_active: BoolArray
    """(D, W) weeks each demand is active in."""
    opportunity_value: IntArray
    """(O,) objective reward when the opportunity is staffed."""
    opportunity_must_staff: BoolArray
    """(O,) opportunities that must be staffed (every GAP job; never in a portfolio)."""
    engineer_available: IntArray
    """(E, W) hours free for presales."""
    engineer_load_slack: IntArray
    """(E, W) hours of assignments allowed before load counts as above target (may be < 0)."""
    engineer_max_assignments: IntArray
    """(E,) at most this many demands (= opportunities) per engineer."""
    pair_engineer: IntArray
    pair_demand: IntArray
    pair_hours: IntArray
    """(P,) hours per active week when the pair is chosen."""
    pair_fit: IntArray
    """(P,) skill-fit score of the pair (>= 0 in portfolios; any sign for GAP costs)."""
    pair_travel: IntArray
    """(P,) travel penalty of the pair (<= 0)."""
    pins: tuple[PinGroup, ...] = ()
    previous_pairs: tuple[IntArray, ...] = ()
    """One entry per previous assignment: the pairs that keep it (at most one can be chosen)."""
    continuity_weight: int = 0
    """Objective loss per previous assignment not kept."""
    load_weight: int = 0
    """Objective loss per 1/100 h above target (per engineer-week)."""
    pair_forbidden_label: dict[int, str] = field(default_factory=dict)
    """Pairs kept only so that infeasibility can be explained: forbidden pairs -> forbid label."""
    pair_other_forbids: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """Forbidden pairs that more than one forbid rules out -> the labels after the first
    (only the conflict search needs them: lifting one forbid does not free such a pair)."""

    @property
    def n_engineers(self) -> int:
        return len(self.engineer_ids)

    @property
    def n_demands(self) -> int:
        return len(self.demand_ids)

    @property
    def n_opportunities(self) -> int:
        return len(self.opportunity_ids)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_engineer)

    @cached_property
    def pair_opportunity(self) -> IntArray:
        """(P,) opportunity of each pair (computed once)."""
        return self.demand_opportunity[self.pair_demand]

    @cached_property
    def pair_score(self) -> IntArray:
        """(P,) skill fit + travel of each pair (computed once; do not modify)."""
        return self.pair_fit + self.pair_travel


# ---------------------------------------------------------------------------------------------
# Compile


def compile_portfolio(portfolio: Portfolio) -> CompiledProblem:
    """The portfolio as sparse candidate pairs; ineligible pairs get no variable.

    >>> from allocator.model import Portfolio
    >>> compile_portfolio(Portfolio()).n_pairs
    0
    """
    policy = portfolio.policy
    weeks = portfolio.horizon_weeks
    engineers = portfolio.engineers
    opportunities = portfolio.opportunities
    demands = portfolio.demands
    n_e, n_d, n_o = len(engineers), len(demands), len(opportunities)

    engineer_index = {e.id: i for i, e in enumerate(engineers)}
    opportunity_index = {o.id: i for i, o in enumerate(opportunities)}
    demand_index = {d.id: i for i, d in enumerate(demands)}

    # Per engineer and week, in 1/100 h, exactly, by the rules' own arithmetic (`rules.py`):
    # hours free for assignments, hours worked, and the load target on the hours worked.
    capacity = np.array([centi_hours(e.capacity_hours) for e in engineers], dtype=np.int64)
    every_week = np.array([centi_hours(e.committed_hours) for e in engineers], dtype=np.int64)
    committed = np.repeat(every_week[:, None], weeks, axis=1)
    off = np.zeros((n_e, weeks), dtype=np.int64)
    for i, engineer in enumerate(engineers):
        for week, hours in engineer.time_off.items():
            off[i, week - 1] = centi_hours(hours)
        for week in engineer.commitments:
            committed[i, week - 1] = committed_in(engineer, week)
    available = free_hours(capacity[:, None], committed, off)
    working = worked_hours(capacity[:, None], off)
    worked_values, where = np.unique(working, return_inverse=True)
    targets = [load_target(v, policy.utilization_target) for v in worked_values.tolist()]
    target = np.array(targets, dtype=np.int64)[where.reshape(working.shape)]
    load_slack = target - committed

    # Per demand.
    d_opp = np.array([opportunity_index[d.opportunity_id] for d in demands], dtype=np.int64)
    d_required = np.array([d.required for d in demands], dtype=bool)
    d_hours = np.array([centi_hours(d.hours) for d in demands], dtype=np.int64)
    d_min = np.array([d.min_proficiency for d in demands], dtype=np.int64)
    d_start = np.array([d.start_week for d in demands], dtype=np.int64)
    d_end = np.array([weeks if d.end_week is None else d.end_week for d in demands], dtype=np.int64)
    week_numbers = np.arange(1, weeks + 1)
    d_active = (week_numbers >= d_start[:, None]) & (week_numbers <= d_end[:, None])

    # Per opportunity: the expected-value term in 1/100 point, exactly (`rules.value_points`).
    o_points_exact = [value_points(o, policy) for o in opportunities]
    if sum(o_points_exact) > EXACT_LIMIT:
        message = (
            "deal values x value_weight / value_unit make the objective too large to count "
            f"exactly (over {EXACT_LIMIT / POINT_SCALE:.3g} points); raise value_unit"
        )
        raise InvalidInputError([InputIssue("policy", "value_unit", message, policy.value_unit)])
    o_points = np.array(o_points_exact, dtype=np.int64)

    # Candidate pairs: for each skill and minimum level, every demand of it times every
    # engineer with the skill at that level or above; integer codes throughout.
    skill_code = {skill: k for k, skill in enumerate(sorted({d.skill for d in demands}))}
    d_skill = np.array([skill_code[d.skill] for d in demands], dtype=np.int64)
    level = np.zeros((n_e, len(skill_code)), dtype=np.int64)
    for i, engineer in enumerate(engineers):
        for skill, value in engineer.skills.items():
            if skill in skill_code:
                level[i, skill_code[skill]] = value
    blocks_e: list[IntArray] = []
    blocks_d: list[IntArray] = []
    for k in range(len(skill_code)):
        for minimum in range(1, 6):
            wanted = np.flatnonzero((d_skill == k) & (d_min == minimum))
            able = np.flatnonzero(proficient(level[:, k], minimum))
            if len(wanted) and len(able):
                blocks_d.append(np.repeat(wanted, len(able)))
                blocks_e.append(np.tile(able, len(wanted)))
    p_e = np.concatenate(blocks_e) if blocks_e else np.zeros(0, dtype=np.int64)
    p_d = np.concatenate(blocks_d) if blocks_d else np.zeros(0, dtype=np.int64)
    del blocks_e, blocks_d

    # Capacity: the pair must fit into every active week on its own.
    fits = np.ones(len(p_e), dtype=bool)
    for w in range(weeks):
        fits &= ~d_active[p_d, w] | (d_hours[p_d] <= available[p_e, w])
    p_e, p_d = p_e[fits], p_d[fits]
    # One order whatever the input: by demand, then engineer (keys sorted for look-ups).
    keys = p_d * max(1, n_e) + p_e
    order = np.argsort(keys, kind="stable")
    keys, p_e, p_d = keys[order], p_e[order], p_d[order]
    del order, fits

    def pairs_of(engineer: int, targets: list[int]) -> IntArray:
        """Positions of the existing pairs (engineer, d) for d in targets."""
        want = np.array(targets, dtype=np.int64) * max(1, n_e) + engineer
        at = np.clip(np.searchsorted(keys, want), 0, max(0, len(keys) - 1))
        found = (keys[at] == want) if len(keys) else np.zeros(len(want), dtype=bool)
        positions: IntArray = at[found].astype(np.int64)
        return positions

    demands_of: dict[int, list[int]] = {}
    for d_i, o_i in enumerate(d_opp.tolist()):
        demands_of.setdefault(o_i, []).append(d_i)

    def targets_of(record: Pin | Forbid | PreviousAssignment) -> list[int]:
        if record.demand_id:
            return [demand_index[record.demand_id]]
        return demands_of.get(opportunity_index[record.opportunity_id], [])

    # Forbids: flagged, not dropped, so that a pin that needs one can be explained.
    forbidden = np.zeros(len(p_e), dtype=bool)
    forbidden_label: dict[int, str] = {}
    other_forbids: dict[int, tuple[str, ...]] = {}
    for forbid in portfolio.forbids:
        label = forbid.label()
        for p in pairs_of(engineer_index[forbid.engineer_id], targets_of(forbid)).tolist():
            forbidden[p] = True
            first = forbidden_label.setdefault(p, label)
            if label != first and label not in other_forbids.get(p, ()):
                other_forbids[p] = (*other_forbids.get(p, ()), label)

    # Opportunities whose every required demand has an allowed candidate can be staffed.
    covered = np.zeros(n_d, dtype=bool)
    covered[p_d[~forbidden]] = True
    blocked = np.zeros(n_o, dtype=bool)
    np.logical_or.at(blocked, d_opp, d_required & ~covered)
    keep_opp = ~blocked
    # Pairs of pinned opportunities stay even when forbidden, so conflicts can be named.
    pinned = np.zeros(n_o, dtype=bool)
    pinned[[opportunity_index[pin.opportunity_id] for pin in portfolio.pins]] = True
    keep_opp |= pinned
    pair_opp = d_opp[p_d]
    keep = keep_opp[pair_opp] & (~forbidden | pinned[pair_opp])
    if not keep.all():
        renumber = np.cumsum(keep) - 1
        forbidden_label = {
            int(renumber[p]): label for p, label in forbidden_label.items() if keep[p]
        }
        other_forbids = {int(renumber[p]): labels for p, labels in other_forbids.items() if keep[p]}
        p_e, p_d, keys, pair_opp = p_e[keep], p_d[keep], keys[keep], pair_opp[keep]
    del keep

    # Scores: skill fit (levels above minimum, industry known) and travel.
    industry_code = {name: k for k, name in enumerate(sorted({o.industry for o in opportunities}))}
    knows_industry = np.zeros((n_e, max(1, len(industry_code))), dtype=bool)
    for i, engineer in enumerate(engineers):
        for name in engineer.industries:
            if name in industry_code:
                knows_industry[i, industry_code[name]] = True
    o_industry = np.array([industry_code[o.industry] for o in opportunities], dtype=np.int64)
    region_code: dict[str, int] = {}
    o_region = np.array(
        [region_code.setdefault(o.region, len(region_code)) for o in opportunities], dtype=np.int64
    )
    e_region = np.array(
        [region_code.setdefault(e.region, len(region_code)) for e in engineers], dtype=np.int64
    )
    p_skill = d_skill[p_d]
    fit = POINT_SCALE * (
        policy.skill_fit_weight * (level[p_e, p_skill] - d_min[p_d])
        + policy.industry_fit_weight * knows_industry[p_e, o_industry[pair_opp]]
    )
    travel = -POINT_SCALE * policy.travel_penalty * (e_region[p_e] != o_region[pair_opp])
    del p_skill

    pins = [
        PinGroup(pin.label(), pairs_of(engineer_index[pin.engineer_id], targets_of(pin)))
        for pin in portfolio.pins
    ]
    previous: dict[tuple[str, str, str], IntArray] = {}
    for record in portfolio.previous:
        key = (record.engineer_id, record.opportunity_id, record.demand_id)
        previous.setdefault(key, pairs_of(engineer_index[record.engineer_id], targets_of(record)))

    return CompiledProblem(
        engineer_ids=[e.id for e in engineers],
        demand_ids=[d.id for d in demands],
        opportunity_ids=[o.id for o in opportunities],
        n_weeks=weeks,
        demand_opportunity=d_opp,
        demand_required=d_required,
        demand_active=d_active,
        opportunity_value=o_points,
        opportunity_must_staff=np.zeros(n_o, dtype=bool),
        engineer_available=available,
        engineer_load_slack=load_slack,
        engineer_max_assignments=np.full(
            n_e, policy.max_opportunities_per_engineer, dtype=np.int64
        ),
        pair_engineer=p_e,
        pair_demand=p_d,
        pair_hours=d_hours[p_d],
        pair_fit=fit.astype(np.int64),
        pair_travel=travel.astype(np.int64),
        pins=tuple(pins),
        previous_pairs=tuple(previous.values()),
        continuity_weight=POINT_SCALE * policy.continuity_penalty,
        load_weight=policy.load_penalty * POINT_SCALE // HOUR_SCALE,
        pair_forbidden_label=forbidden_label,
        pair_other_forbids=other_forbids,
    )


# ---------------------------------------------------------------------------------------------
# Reading a selection of pairs: terms, staffed opportunities, feasibility (exact, no solver).


def evaluate(problem: CompiledProblem, chosen: BoolArray) -> dict[str, int]:
    """Each objective term of a selection of pairs, in 1/100 point."""
    staffed = staffed_opportunities(problem, chosen)
    load = np.zeros((problem.n_engineers, problem.n_weeks), dtype=np.int64)
    idx = np.flatnonzero(chosen)
    hours = problem.pair_hours[idx, None] * problem.demand_active[problem.pair_demand[idx]]
    np.add.at(load, problem.pair_engineer[idx], hours)
    over = np.maximum(0, load - problem.engineer_load_slack)
    # Above-target hours that exist without any assignment (committed hours alone) are not
    # something a run can change; they are counted all the same, as the checker does.
    kept = sum(int(chosen[pairs].sum()) for pairs in problem.previous_pairs)
    return {
        "expected_value": int(problem.opportunity_value[staffed].sum()),
        "skill_fit": int(problem.pair_fit[idx].sum()),
        "region_match": int(problem.pair_travel[idx].sum()),
        "continuity": -problem.continuity_weight * (len(problem.previous_pairs) - kept),
        "load_balance": -problem.load_weight * int(over.sum()),
    }


def staffed_opportunities(problem: CompiledProblem, chosen: BoolArray) -> BoolArray:
    """(O,) opportunities whose every required demand is served by a chosen pair."""
    served = np.zeros(problem.n_demands, dtype=bool)
    served[problem.pair_demand[chosen]] = True
    missing = np.zeros(problem.n_opportunities, dtype=bool)
    np.logical_or.at(missing, problem.demand_opportunity, problem.demand_required & ~served)
    has_required = np.zeros(problem.n_opportunities, dtype=bool)
    has_required[problem.demand_opportunity[problem.demand_required]] = True
    return has_required & ~missing


def is_feasible(problem: CompiledProblem, chosen: BoolArray) -> bool:
    """Whether a selection of pairs keeps every hard rule (vectorised; used to vet hints)."""
    idx = np.flatnonzero(chosen)
    e, d = problem.pair_engineer[idx], problem.pair_demand[idx]
    o = problem.demand_opportunity[d]
    served = np.bincount(d, minlength=problem.n_demands)
    if (served > 1).any():
        return False
    per_engineer_opp = np.unique(e * max(1, problem.n_opportunities) + o, return_counts=True)[1]
    if (per_engineer_opp > 1).any():
        return False
    if (np.bincount(e, minlength=problem.n_engineers) > problem.engineer_max_assignments).any():
        return False
    load = np.zeros((problem.n_engineers, problem.n_weeks), dtype=np.int64)
    np.add.at(load, e, problem.pair_hours[idx, None] * problem.demand_active[d])
    if (load > problem.engineer_available).any():
        return False
    required = np.bincount(
        problem.demand_opportunity, problem.demand_required, minlength=problem.n_opportunities
    )
    staffed_required = np.bincount(
        problem.demand_opportunity,
        (served > 0) & problem.demand_required,
        minlength=problem.n_opportunities,
    )
    complete = (staffed_required == required) & (required > 0)
    if ((staffed_required > 0) & ~complete).any():
        return False
    optional_served = np.bincount(
        problem.demand_opportunity,
        (served > 0) & ~problem.demand_required,
        minlength=problem.n_opportunities,
    )
    if ((optional_served > 0) & ~complete).any():
        return False
    if (problem.opportunity_must_staff & ~complete).any():
        return False
    if any(int(chosen[pin.pairs].sum()) != 1 for pin in problem.pins):
        return False
    return not any(chosen[p] for p in problem.pair_forbidden_label)


def group_indices(keys: IntArray, size: int) -> list[IntArray]:
    """Indices of `keys` grouped by value 0..size-1."""
    order = np.argsort(keys, kind="stable")
    starts = np.searchsorted(keys[order], np.arange(size + 1))
    return [order[starts[i] : starts[i + 1]] for i in range(size)]


def select_pairs(problem: CompiledProblem, assignments: Iterable[tuple[str, str]]) -> BoolArray:
    """The selection of pairs for (engineer id, demand id) assignments; KeyError names one
    that is not a candidate pair of `problem`."""
    engineer = {e: i for i, e in enumerate(problem.engineer_ids)}
    demand = {d: i for i, d in enumerate(problem.demand_ids)}
    wanted = list(assignments)
    chosen = np.zeros(problem.n_pairs, dtype=bool)
    if not wanted:
        return chosen
    e = np.array([engineer.get(a, -1) for a, _ in wanted], dtype=np.int64)
    d = np.array([demand.get(b, -1) for _, b in wanted], dtype=np.int64)
    keys = problem.pair_engineer * max(1, problem.n_demands) + problem.pair_demand
    order = np.argsort(keys, kind="stable")
    want = e * max(1, problem.n_demands) + d
    position = np.clip(np.searchsorted(keys[order], want), 0, max(0, len(order) - 1))
    found = (e >= 0) & (d >= 0) & (len(order) > 0)
    if len(order):
        found &= keys[order][position] == want
    if not found.all():
        engineer_id, demand_id = wanted[int(np.flatnonzero(~found)[0])]
        raise KeyError(f"{engineer_id} -> {demand_id} is not a candidate pair")
    chosen[order[position]] = True
    return chosen
