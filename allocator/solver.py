"""The CP-SAT core: compile a portfolio into sparse candidate pairs, solve, extract a result.

Three steps, each a function:
- `compile_portfolio` turns the domain into `CompiledProblem`: only eligible (engineer, demand)
  pairs, with NumPy arrays of hours and scores. `CompiledProblem` also accepts pair-specific
  hours and scores, so a plain generalized assignment problem runs through the same core
  (see `allocator.gap`).
- `solve_compiled` builds the CP-SAT model straight into its protocol buffer (vectorised; no
  Python expression trees), warm-starts it with a greedy solution, and solves.
- `solve` wraps both and returns the domain's `Allocation`, with terms recomputed exactly.

Imports `model` and `rules` only; nothing here knows about files, HTTP or storage.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import ortools
import pandas as pd
from ortools.sat.python import cp_model

from allocator.model import (
    HOUR_SCALE,
    POINT_SCALE,
    TERM_NAMES,
    Allocation,
    Assignment,
    Portfolio,
    SolverInfo,
    SolveStatus,
    Timings,
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SOLVER_NAME = "cp-sat"
SOLVER_VERSION: str = getattr(ortools, "__version__", "unknown")


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

    @property
    def pair_opportunity(self) -> IntArray:
        return self.demand_opportunity[self.pair_demand]

    @property
    def pair_score(self) -> IntArray:
        return self.pair_fit + self.pair_travel


@dataclass(frozen=True)
class SolveOptions:
    """How to run CP-SAT.

    `reproducible` (the default) stops on a deterministic time limit and interleaves the
    workers, so that the same input and seed give the same assignments run after run; a wall
    clock cap of `4 x time_limit + 10 s` guards against a machine far slower than usual.
    """

    time_limit: float = 10.0
    workers: int = 2
    seed: int = 0
    reproducible: bool = True
    log: bool = False
    use_greedy_hint: bool = True
    extra_parameters: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """The CP-SAT parameters these options stand for."""
        params: dict[str, Any] = {
            "num_workers": self.workers,
            "random_seed": self.seed,
            "log_search_progress": self.log,
        }
        if self.reproducible:
            params["max_deterministic_time"] = self.time_limit
            params["max_time_in_seconds"] = 4 * self.time_limit + 10
            params["interleave_search"] = self.workers > 1
        else:
            params["max_time_in_seconds"] = self.time_limit
        params.update(self.extra_parameters)
        return params


@dataclass(frozen=True)
class Progress:
    """A snapshot while solving: best objective and bound so far (points), seconds elapsed."""

    objective: float
    best_bound: float
    seconds: float


@dataclass(frozen=True)
class CoreSolution:
    """What `solve_compiled` returns: the chosen pairs and CP-SAT's own figures (1/100 point)."""

    status: SolveStatus
    chosen: BoolArray
    """(P,) pairs in the solution (all False without one)."""
    objective: int
    """Recomputed exactly from the chosen pairs by `evaluate`."""
    best_bound: int
    solve_seconds: float
    build_seconds: float
    first_solution_seconds: float | None
    parameters: dict[str, Any]
    stopped: bool = False
    """True when the search was stopped from outside (cancel)."""
    solver_objective: int | None = None
    """CP-SAT's own objective value (equals `objective` unless the model is wrong)."""


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

    # Per engineer and week: hours free, and hours before load counts as above target.
    capacity = np.array([e.capacity_hours for e in engineers], dtype=float).reshape(n_e, 1)
    committed = np.array([e.committed_hours for e in engineers], dtype=float).reshape(n_e, 1)
    off = np.zeros((n_e, weeks))
    for i, engineer in enumerate(engineers):
        for week, hours in engineer.time_off.items():
            off[i, week - 1] = hours
    available = np.round(np.maximum(0.0, capacity - committed - off) * HOUR_SCALE).astype(np.int64)
    working = np.round(np.maximum(0.0, capacity - off) * HOUR_SCALE).astype(np.int64)
    target = np.floor(policy.utilization_target * working + 1e-9).astype(np.int64)
    load_slack = target - np.round(committed * HOUR_SCALE).astype(np.int64)

    # Per demand.
    d_opp = np.array([opportunity_index[d.opportunity_id] for d in demands], dtype=np.int64)
    d_required = np.array([d.required for d in demands], dtype=bool)
    d_hours = np.array([round(d.hours * HOUR_SCALE) for d in demands], dtype=np.int64)
    d_min = np.array([d.min_proficiency for d in demands], dtype=np.int64)
    d_start = np.array([d.start_week for d in demands], dtype=np.int64)
    d_end = np.array([weeks if d.end_week is None else d.end_week for d in demands], dtype=np.int64)
    week_numbers = np.arange(1, weeks + 1)
    d_active = (week_numbers >= d_start[:, None]) & (week_numbers <= d_end[:, None])

    # Per opportunity: expected value in 1/100 point.
    o_value = np.array([o.value for o in opportunities], dtype=float)
    o_prob = np.array([o.win_probability for o in opportunities], dtype=float)
    o_tier = np.array([policy.tier_factors[o.tier] for o in opportunities], dtype=float)
    o_points = np.round(
        o_value * o_prob * o_tier * policy.value_weight * POINT_SCALE / policy.value_unit
    ).astype(np.int64)

    # Candidate pairs: engineers x demands joined on skill, filtered by proficiency.
    skill_rows = [(i, s, lvl) for i, e in enumerate(engineers) for s, lvl in e.skills.items()]
    engineer_skills = pd.DataFrame(skill_rows, columns=["e", "skill", "level"])
    demand_frame = pd.DataFrame(
        {"d": np.arange(n_d), "skill": [d.skill for d in demands], "min": d_min}
    )
    pairs = demand_frame.merge(engineer_skills, on="skill", how="inner", sort=False)
    pairs = pairs[pairs["level"] >= pairs["min"]]
    p_e = pairs["e"].to_numpy(np.int64)
    p_d = pairs["d"].to_numpy(np.int64)
    p_level = pairs["level"].to_numpy(np.int64)
    p_min = pairs["min"].to_numpy(np.int64)

    # Capacity: the pair must fit into every active week on its own.
    if len(p_e):
        free_when_active = np.where(d_active[p_d], available[p_e], np.iinfo(np.int64).max)
        fits = d_hours[p_d] <= free_when_active.min(axis=1)
    else:
        fits = np.zeros(0, dtype=bool)

    # Forbids: flagged, not dropped, so that a pin that needs one can be explained.
    forbidden_label: dict[int, str] = {}
    forbidden_keys: dict[int, str] = {}
    demands_of: dict[int, list[int]] = {}
    for d_i, o_i in enumerate(d_opp.tolist()):
        demands_of.setdefault(o_i, []).append(d_i)
    for forbid in portfolio.forbids:
        e_i = engineer_index[forbid.engineer_id]
        targets = (
            [demand_index[forbid.demand_id]]
            if forbid.demand_id
            else demands_of.get(opportunity_index[forbid.opportunity_id], [])
        )
        for d_i in targets:
            forbidden_keys.setdefault(e_i * n_d + d_i, forbid.label())
    keys = p_e * n_d + p_d
    forbidden = (
        np.isin(keys, np.fromiter(forbidden_keys, dtype=np.int64, count=len(forbidden_keys)))
        if forbidden_keys
        else np.zeros(len(keys), dtype=bool)
    )

    # Opportunities whose every required demand has an allowed candidate can be staffed.
    allowed = fits & ~forbidden
    covered = np.zeros(n_d, dtype=bool)
    covered[p_d[allowed]] = True
    blocked = np.zeros(n_o, dtype=bool)
    np.logical_or.at(blocked, d_opp, d_required & ~covered)
    pinned_opps = {opportunity_index[pin.opportunity_id] for pin in portfolio.pins}
    keep_opp = ~blocked
    keep_opp[list(pinned_opps)] = True
    # Pairs of pinned opportunities stay even when forbidden, so conflicts can be named.
    pinned_pair = (
        np.isin(d_opp[p_d], np.fromiter(pinned_opps, dtype=np.int64))
        if pinned_opps
        else (np.zeros(len(p_e), dtype=bool))
    )
    keep = fits & keep_opp[d_opp[p_d]] & (~forbidden | pinned_pair)
    p_e, p_d, p_level, p_min, forbidden = (
        p_e[keep],
        p_d[keep],
        p_level[keep],
        p_min[keep],
        forbidden[keep],
    )

    # Scores: skill fit (levels above minimum, industry known) and travel.
    industry_rows = [(i, ind) for i, e in enumerate(engineers) for ind in e.industries]
    industry_keys = {f"{i}\x1f{ind}" for i, ind in industry_rows}
    o_industry = np.array([o.industry for o in opportunities], dtype=object)
    o_region = np.array([o.region for o in opportunities], dtype=object)
    e_region = np.array([e.region for e in engineers], dtype=object)
    pair_opp = d_opp[p_d]
    knows = np.fromiter(
        (
            f"{e}\x1f{ind}" in industry_keys
            for e, ind in zip(p_e.tolist(), o_industry[pair_opp], strict=True)
        ),
        dtype=bool,
        count=len(p_e),
    )
    fit = POINT_SCALE * (
        policy.skill_fit_weight * (p_level - p_min) + policy.industry_fit_weight * knows
    )
    travel = -POINT_SCALE * policy.travel_penalty * (e_region[p_e] != o_region[pair_opp])

    pair_keys = p_e * n_d + p_d
    pair_of_key = {int(k): i for i, k in enumerate(pair_keys.tolist())}
    forbidden_label = {
        i: forbidden_keys[int(pair_keys[i])] for i in np.flatnonzero(forbidden).tolist()
    }

    pins = []
    for pin in portfolio.pins:
        e_i = engineer_index[pin.engineer_id]
        targets = (
            [demand_index[pin.demand_id]]
            if pin.demand_id
            else demands_of.get(opportunity_index[pin.opportunity_id], [])
        )
        members = [
            pair_of_key[e_i * n_d + d_i] for d_i in targets if e_i * n_d + d_i in pair_of_key
        ]
        pins.append(PinGroup(pin.label(), np.array(members, dtype=np.int64)))

    previous: dict[tuple[str, str, str], IntArray] = {}
    for record in portfolio.previous:
        e_i = engineer_index[record.engineer_id]
        targets = (
            [demand_index[record.demand_id]]
            if record.demand_id
            else demands_of.get(opportunity_index[record.opportunity_id], [])
        )
        members = [
            pair_of_key[e_i * n_d + d_i] for d_i in targets if e_i * n_d + d_i in pair_of_key
        ]
        key = (record.engineer_id, record.opportunity_id, record.demand_id)
        previous.setdefault(key, np.array(members, dtype=np.int64))

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
    )


# ---------------------------------------------------------------------------------------------
# Terms: the objective of a selection, computed from the arrays (exact; no solver involved).


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


# ---------------------------------------------------------------------------------------------
# Greedy warm start


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

    for o in opportunity_order.tolist():
        roles = demands_by_opp[o]
        required = [d for d in roles if problem.demand_required[d]]
        if not required:
            continue
        already = [d for d in required if served[d]]
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
    return chosen


# ---------------------------------------------------------------------------------------------
# CP-SAT model, built straight into the protocol buffer


@dataclass
class _Model:
    model: cp_model.CpModel
    n_pair_vars: int
    staffed_var: dict[int, int]
    pin_literals: list[int]
    forbid_literals: dict[str, int]
    required_literals: dict[int, int]


def _linear(
    proto: Any,
    variables: Sequence[int],
    coeffs: Sequence[int],
    lo: int,
    hi: int,
    enforce: int | None = None,
) -> None:
    constraint = proto.constraints.add()
    if enforce is not None:
        constraint.enforcement_literal.append(enforce)
    constraint.linear.vars.extend(variables)
    constraint.linear.coeffs.extend(coeffs)
    constraint.linear.domain.extend([lo, hi])


_INT_MAX = np.iinfo(np.int64).max // 4


def build_model(problem: CompiledProblem, diagnose: bool = False) -> _Model:
    """The CP-SAT model of `problem`. With `diagnose`, pins, forbids and required demands get
    assumption literals (and there is no objective), so that conflicts can be named."""
    model = cp_model.CpModel()
    proto = model.proto
    n_p = problem.n_pairs
    names = n_p <= 20000
    for p in range(n_p):
        var = proto.variables.add()
        var.domain.extend([0, 1])
        if names:
            var.name = (
                f"assign[{problem.demand_ids[problem.pair_demand[p]]}, "
                f"{problem.engineer_ids[problem.pair_engineer[p]]}]"
            )

    def new_var(lo: int, hi: int, name: str = "") -> int:
        var = proto.variables.add()
        var.domain.extend([lo, hi])
        if names and name:
            var.name = name
        return len(proto.variables) - 1

    pair_opp = problem.pair_opportunity
    pairs_by_demand = _group(problem.pair_demand, problem.n_demands)
    demand_has_pairs = np.array([len(g) > 0 for g in pairs_by_demand], dtype=bool)

    # Which opportunities could be staffed at all: every required demand has a pair.
    missing = np.zeros(problem.n_opportunities, dtype=bool)
    np.logical_or.at(
        missing, problem.demand_opportunity, problem.demand_required & ~demand_has_pairs
    )
    has_required = np.zeros(problem.n_opportunities, dtype=bool)
    has_required[problem.demand_opportunity[problem.demand_required]] = True

    # Staffed variable per opportunity that has any pair (or must be staffed).
    staffed_var: dict[int, int] = {}
    for o in np.flatnonzero(
        has_required & (~missing | problem.opportunity_must_staff | diagnose)
    ).tolist():
        staffed_var[o] = new_var(0, 1, f"staffed[{problem.opportunity_ids[o]}]")
    for o in np.flatnonzero(problem.opportunity_must_staff).tolist():
        if o not in staffed_var:
            # A job nobody can do: the model is infeasible, and says so.
            staffed_var[o] = new_var(0, 0, f"staffed[{problem.opportunity_ids[o]}]")
        _linear(proto, [staffed_var[o]], [1], 1, 1)

    # Demand served once; team completeness; optional roles only with the team.
    required_literals: dict[int, int] = {}
    for d in range(problem.n_demands):
        o = int(problem.demand_opportunity[d])
        group = pairs_by_demand[d]
        if o not in staffed_var:
            if len(group):
                _linear(proto, group.tolist(), [1] * len(group), 0, 0)
            continue
        s = staffed_var[o]
        variables = [*group.tolist(), s]
        coeffs = [1] * len(group) + [-1]
        if problem.demand_required[d]:
            if diagnose:
                lit = new_var(0, 1, f"required[{problem.demand_ids[d]}]")
                required_literals[d] = lit
                _linear(proto, variables, coeffs, 0, 0, enforce=lit)
                _linear(proto, variables, coeffs, -1, 0)
            else:
                _linear(proto, variables, coeffs, 0, 0)
        elif len(group):
            _linear(proto, variables, coeffs, -1, 0)

    # An engineer serves at most one demand per opportunity.
    key = problem.pair_engineer * max(1, problem.n_opportunities) + pair_opp
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    bounds = np.flatnonzero(np.diff(sorted_keys)) + 1
    for group in np.split(order, bounds):
        if len(group) > 1:
            _linear(proto, group.tolist(), [1] * len(group), 0, 1)

    # Opportunity limit and weekly capacity, per engineer; load above target where it can arise.
    pairs_by_engineer = _group(problem.pair_engineer, problem.n_engineers)
    over_vars: list[int] = []
    load_score = np.zeros(n_p, dtype=np.int64)
    for e, group in enumerate(pairs_by_engineer):
        if not len(group):
            continue
        limit = int(problem.engineer_max_assignments[e])
        if len(group) > limit:
            _linear(proto, group.tolist(), [1] * len(group), 0, limit)
        active = problem.demand_active[problem.pair_demand[group]]
        hours = problem.pair_hours[group]
        for w in range(problem.n_weeks):
            in_week = group[active[:, w]]
            if not len(in_week):
                continue
            h = hours[active[:, w]]
            total = int(h.sum())
            cap = int(problem.engineer_available[e, w])
            if total > cap:
                _linear(proto, in_week.tolist(), h.tolist(), 0, cap)
            slack = int(problem.engineer_load_slack[e, w])
            if not problem.load_weight or diagnose:
                continue
            if slack < 0:  # Already above target: every assigned hour counts, linearly.
                load_score[in_week] -= problem.load_weight * h
            elif min(total, cap) > slack:
                name = f"over[{problem.engineer_ids[e]}, week {w + 1}]"
                over = new_var(0, min(total, cap) - slack, name)
                _linear(proto, [*in_week.tolist(), over], [*h.tolist(), -1], -_INT_MAX, slack)
                over_vars.append(over)

    # Pins hold; forbids never.
    pin_literals: list[int] = []
    for index, pin in enumerate(problem.pins):
        members = pin.pairs.tolist()
        if diagnose:
            lit = new_var(0, 1, f"pin[{index}]")
            pin_literals.append(lit)
            _linear(proto, members, [1] * len(members), 1, 1, enforce=lit)
        else:
            _linear(proto, members, [1] * len(members), 1, 1)
    forbid_literals: dict[str, int] = {}
    for p, label in problem.pair_forbidden_label.items():
        if diagnose:
            if label not in forbid_literals:
                forbid_literals[label] = new_var(0, 1, label)
            _linear(proto, [p], [1], 0, 0, enforce=forbid_literals[label])
        else:
            _linear(proto, [p], [1], 0, 0)

    if diagnose:
        proto.assumptions.extend(
            [*pin_literals, *forbid_literals.values(), *required_literals.values()]
        )
    else:
        # Objective (maximise): value of staffed opportunities + pair scores + continuity kept
        # - load above target. CP-SAT minimises, hence the negation and scaling factor -1.
        objective_vars: list[int] = []
        objective_coeffs: list[int] = []
        score = problem.pair_score + load_score
        for pairs in problem.previous_pairs:
            score[pairs] += problem.continuity_weight
        nz = np.flatnonzero(score)
        objective_vars += nz.tolist()
        objective_coeffs += (-score[nz]).tolist()
        for o, s in staffed_var.items():
            if problem.opportunity_value[o]:
                objective_vars.append(s)
                objective_coeffs.append(-int(problem.opportunity_value[o]))
        objective_vars += over_vars
        objective_coeffs += [problem.load_weight] * len(over_vars)
        offset = problem.continuity_weight * len(problem.previous_pairs) + _fixed_load_penalty(
            problem
        )
        proto.objective.vars.extend(objective_vars)
        proto.objective.coeffs.extend(objective_coeffs)
        proto.objective.offset = float(offset)
        proto.objective.scaling_factor = -1.0
    return _Model(model, n_p, staffed_var, pin_literals, forbid_literals, required_literals)


def _fixed_load_penalty(problem: CompiledProblem) -> int:
    """Load above target that no assignment causes (committed hours alone exceed the target)."""
    return problem.load_weight * int(np.maximum(0, -problem.engineer_load_slack).sum())


def _group(keys: IntArray, size: int) -> list[IntArray]:
    """Indices of `keys` grouped by value 0..size-1."""
    order = np.argsort(keys, kind="stable")
    starts = np.searchsorted(keys[order], np.arange(size + 1))
    return [order[starts[i] : starts[i + 1]] for i in range(size)]


# ---------------------------------------------------------------------------------------------
# Solve


_STATUS = {
    cp_model.OPTIMAL: SolveStatus.OPTIMAL,
    cp_model.FEASIBLE: SolveStatus.FEASIBLE,
    cp_model.INFEASIBLE: SolveStatus.INFEASIBLE,
    cp_model.MODEL_INVALID: SolveStatus.INVALID,
    cp_model.UNKNOWN: SolveStatus.UNKNOWN,
}


class _Watcher(cp_model.CpSolverSolutionCallback):
    def __init__(self, started: float, on_progress: Callable[[Progress], None] | None) -> None:
        super().__init__()
        self.started = started
        self.first: float | None = None
        self.on_progress = on_progress

    def on_solution_callback(self) -> None:
        elapsed = time.perf_counter() - self.started
        if self.first is None:
            self.first = elapsed
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    self.objective_value / POINT_SCALE,
                    self.best_objective_bound / POINT_SCALE,
                    elapsed,
                )
            )


def solve_compiled(
    problem: CompiledProblem,
    options: SolveOptions = SolveOptions(),
    hint: BoolArray | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> CoreSolution:
    """Solve the compiled problem with CP-SAT; falls back to the greedy selection when CP-SAT
    finds nothing in time, so that a feasible problem always gets a feasible answer."""
    started = time.perf_counter()
    built = build_model(problem)
    greedy = greedy_selection(problem) if options.use_greedy_hint else None
    if hint is None:
        hint = greedy
    if hint is not None:
        _add_hint(built, problem, hint)
    build_seconds = time.perf_counter() - started

    solver = cp_model.CpSolver()
    params = options.parameters()
    for name, value in params.items():
        setattr(solver.parameters, name, value)
    watcher = _Watcher(time.perf_counter(), on_progress)
    stopper = _stop_when_set(solver, stop)
    try:
        code = solver.solve(built.model, watcher)
    finally:
        if stopper is not None:
            stopper.set()
    solve_seconds = time.perf_counter() - watcher.started
    status = _STATUS.get(code, SolveStatus.UNKNOWN)
    stopped = stop is not None and stop.is_set()

    chosen = np.zeros(problem.n_pairs, dtype=bool)
    solver_objective: int | None = None
    if status.has_solution:
        values = np.array(list(solver.response_proto.solution), dtype=np.int64)
        chosen = values[: built.n_pair_vars].astype(bool)
        solver_objective = round(solver.objective_value)
    # CP-SAT's dual bound stays valid whatever it found (and is 0 when infeasible).
    bound = round(solver.best_objective_bound) if math.isfinite(solver.best_objective_bound) else 0
    # Keep the better of CP-SAT's answer and the warm start (CP-SAT may stop before using it).
    if hint is not None and status in (SolveStatus.UNKNOWN, SolveStatus.FEASIBLE):
        if status is SolveStatus.UNKNOWN or _value(problem, hint) > _value(problem, chosen):
            chosen = hint.copy()
            status = SolveStatus.FEASIBLE
            if watcher.first is None:
                watcher.first = 0.0
    objective = _value(problem, chosen) if status.has_solution else 0
    return CoreSolution(
        status=status,
        chosen=chosen,
        objective=objective,
        best_bound=max(bound, objective) if status.has_solution else bound,
        solve_seconds=solve_seconds,
        build_seconds=build_seconds,
        first_solution_seconds=watcher.first,
        parameters=params,
        stopped=stopped,
        solver_objective=solver_objective,
    )


def _value(problem: CompiledProblem, chosen: BoolArray) -> int:
    return sum(evaluate(problem, chosen).values())


def _add_hint(built: _Model, problem: CompiledProblem, hint: BoolArray) -> None:
    proto = built.model.proto
    proto.solution_hint.vars.extend(range(built.n_pair_vars))
    proto.solution_hint.values.extend(hint.astype(np.int64).tolist())
    staffed = staffed_opportunities(problem, hint)
    for o, var in built.staffed_var.items():
        proto.solution_hint.vars.append(var)
        proto.solution_hint.values.append(int(staffed[o]))


def _stop_when_set(
    solver: cp_model.CpSolver, stop: threading.Event | None
) -> threading.Event | None:
    """Start a thread that stops the search when `stop` is set; returns its own done-event."""
    if stop is None:
        return None
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if stop.wait(0.05):
                solver.stop_search()
                return

    threading.Thread(target=watch, daemon=True).start()
    return done


def find_conflicts(problem: CompiledProblem, time_limit: float = 10.0) -> list[str]:
    """A minimal set of pins, forbids and required demands that cannot all hold, in words.

    CP-SAT's sufficient assumptions give a first set; it is shrunk by deletion until removing
    any member makes the rest feasible.
    """
    for pin in problem.pins:
        if not len(pin.pairs):
            return [pin.label]
    built = build_model(problem, diagnose=True)
    names = _assumption_names(problem, built)
    assumptions = list(built.model.proto.assumptions)

    def feasible(subset: list[int]) -> tuple[bool, list[int]]:
        proto = built.model.proto
        proto.assumptions.clear()
        proto.assumptions.extend(subset)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.max_time_in_seconds = time_limit
        code = solver.solve(built.model)
        if code == cp_model.INFEASIBLE:
            return False, list(solver.sufficient_assumptions_for_infeasibility())
        return True, []

    ok, core = feasible(assumptions)
    if ok:
        return []
    core = core or assumptions
    index = 0
    while index < len(core):
        trial = core[:index] + core[index + 1 :]
        ok, smaller = feasible(trial)
        if ok:
            index += 1
        else:
            core = [lit for lit in trial if lit in set(smaller)] if smaller else trial
    return [names[lit] for lit in core]


def _assumption_names(problem: CompiledProblem, built: _Model) -> dict[int, str]:
    names = {lit: problem.pins[i].label for i, lit in enumerate(built.pin_literals)}
    names.update({lit: label for label, lit in built.forbid_literals.items()})
    names.update(
        {
            lit: f"required demand {problem.demand_ids[d]}"
            for d, lit in built.required_literals.items()
        }
    )
    return names


# ---------------------------------------------------------------------------------------------
# Portfolio in, Allocation out


def solve(
    portfolio: Portfolio,
    options: SolveOptions = SolveOptions(),
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> Allocation:
    """Allocate engineers to the portfolio's demands.

    >>> from allocator.model import Portfolio
    >>> solve(Portfolio()).status.value
    'optimal'
    """
    started = time.perf_counter()
    problem = compile_portfolio(portfolio)
    compile_seconds = time.perf_counter() - started
    core = solve_compiled(problem, options, on_progress=on_progress, stop=stop)
    return to_allocation(portfolio, problem, core, compile_seconds)


def to_allocation(
    portfolio: Portfolio, problem: CompiledProblem, core: CoreSolution, compile_seconds: float = 0.0
) -> Allocation:
    """The domain result of a core solution; terms in points."""
    conflicts: list[str] = []
    message = ""
    if core.status is SolveStatus.INFEASIBLE:
        conflicts = find_conflicts(problem)
        message = (
            "The hard rules cannot all hold: " + "; ".join(conflicts)
            if conflicts
            else ("The hard rules cannot all hold.")
        )
    elif core.status is SolveStatus.UNKNOWN:
        message = "No allocation was found within the time limit."
    elif core.stopped:
        message = "Stopped on request; the best allocation found so far is kept."
    timings = Timings(
        compile_seconds=compile_seconds,
        build_seconds=core.build_seconds,
        solve_seconds=core.solve_seconds,
        first_solution_seconds=core.first_solution_seconds,
    )
    info = SolverInfo(name=SOLVER_NAME, version=SOLVER_VERSION, parameters=core.parameters)
    if not core.status.has_solution:
        return Allocation(
            status=core.status, conflicts=conflicts, message=message, solver=info, timings=timings
        )
    terms = evaluate(problem, core.chosen)
    demand_by_id = portfolio.demand_by_id()
    assignments = []
    for p in np.flatnonzero(core.chosen).tolist():
        demand = demand_by_id[problem.demand_ids[problem.pair_demand[p]]]
        weeks = demand.weeks(portfolio.horizon_weeks)
        assignments.append(
            Assignment(
                engineer_id=problem.engineer_ids[problem.pair_engineer[p]],
                opportunity_id=demand.opportunity_id,
                demand_id=demand.id,
                skill=demand.skill,
                hours=demand.hours,
                start_week=weeks.start,
                end_week=weeks.stop - 1,
            )
        )
    assignments.sort(key=lambda a: (a.opportunity_id, a.demand_id))
    staffed = staffed_opportunities(problem, core.chosen)
    objective = core.objective / POINT_SCALE
    bound = core.best_bound / POINT_SCALE
    return Allocation(
        status=core.status,
        objective=objective,
        best_bound=bound,
        gap=relative_gap(objective, bound),
        terms={name: terms[name] / POINT_SCALE for name in TERM_NAMES},
        assignments=assignments,
        staffed_opportunities=[
            problem.opportunity_ids[o] for o in np.flatnonzero(staffed).tolist()
        ],
        message=message,
        solver=info,
        timings=timings,
    )


def relative_gap(objective: float, bound: float) -> float:
    """(bound - objective) / max(1, |bound|): 0 when proven optimal."""
    return max(0.0, bound - objective) / max(1.0, abs(bound))
