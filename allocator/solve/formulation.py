"""The allocation problem as one solver-neutral integer program.

`formulate` writes every hard rule and objective term of a `CompiledProblem` as integer
variables, linear rows and a linear objective (to maximise). CP-SAT (`solver.py`) and HiGHS
(`mip.py`) both load this one formulation, so the two can never drift apart.

Variables 0..P-1 are the candidate pairs (1 = the engineer serves the demand); then one
`staffed` variable per opportunity that could be staffed; then `over` variables counting
hours above the load target. In `diagnose` mode pins, forbids and required demands are
guarded by assumption literals and there is no objective, so that conflicts can be named.

Imports the compiled arrays only (`compiled.py`); no solver library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from allocator.solve.compiled import (
    BoolArray,
    CompiledProblem,
    group_indices,
    staffed_opportunities,
)

INT_INFINITY = np.iinfo(np.int64).max // 4
"""Stands for an unbounded side of a row."""


@dataclass
class Formulation:
    """Variables, rows and objective of the integer program."""

    n_pairs: int
    lower: list[int] = field(default_factory=list)
    upper: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    row_vars: list[list[int]] = field(default_factory=list)
    row_coeffs: list[list[int]] = field(default_factory=list)
    row_lower: list[int] = field(default_factory=list)
    row_upper: list[int] = field(default_factory=list)
    row_enforce: list[int] = field(default_factory=list)
    """Per row: the literal that must be true for the row to hold, or -1 (always holds)."""
    objective: dict[int, int] = field(default_factory=dict)
    """Variable -> coefficient in the objective to maximise."""
    offset: int = 0
    staffed_var: dict[int, int] = field(default_factory=dict)
    over_vars: list[int] = field(default_factory=list)
    over_cell: list[tuple[int, int]] = field(default_factory=list)
    """(engineer, week) of each `over` variable."""
    pin_literals: list[int] = field(default_factory=list)
    forbid_literals: dict[str, int] = field(default_factory=dict)
    required_literals: dict[int, int] = field(default_factory=dict)

    @property
    def n_vars(self) -> int:
        return len(self.lower)

    def new_var(self, lower: int, upper: int, name: str = "") -> int:
        self.lower.append(lower)
        self.upper.append(upper)
        self.names.append(name)
        return len(self.lower) - 1

    def add_row(
        self, variables: list[int], coeffs: list[int], lower: int, upper: int, enforce: int = -1
    ) -> None:
        self.row_vars.append(variables)
        self.row_coeffs.append(coeffs)
        self.row_lower.append(lower)
        self.row_upper.append(upper)
        self.row_enforce.append(enforce)

    def assumptions(self) -> list[int]:
        return [
            *self.pin_literals,
            *self.forbid_literals.values(),
            *self.required_literals.values(),
        ]

    def hint(self, problem: CompiledProblem, chosen: BoolArray) -> dict[int, int]:
        """Values of the pair and staffed variables for a selection of pairs."""
        values = dict(enumerate(chosen.astype(np.int64).tolist()))
        staffed = staffed_opportunities(problem, chosen)
        values.update({var: int(staffed[o]) for o, var in self.staffed_var.items()})
        if self.over_vars:
            idx = np.flatnonzero(chosen)
            load = np.zeros((problem.n_engineers, problem.n_weeks), dtype=np.int64)
            hours = problem.pair_hours[idx, None] * problem.demand_active[problem.pair_demand[idx]]
            np.add.at(load, problem.pair_engineer[idx], hours)
            over = np.maximum(0, load - problem.engineer_load_slack)
            for var, (e, w) in zip(self.over_vars, self.over_cell, strict=True):
                values[var] = min(int(over[e, w]), self.upper[var])
        return values


def formulate(problem: CompiledProblem, diagnose: bool = False, names: bool = False) -> Formulation:
    """The integer program of `problem`; with `names`, variables get readable names."""
    f = Formulation(n_pairs=problem.n_pairs)
    for p in range(problem.n_pairs):
        name = (
            f"assign[{problem.demand_ids[problem.pair_demand[p]]}, "
            f"{problem.engineer_ids[problem.pair_engineer[p]]}]"
            if names
            else ""
        )
        f.new_var(0, 1, name)
    _staffing_rows(f, problem, diagnose, names)
    _engineer_rows(f, problem, diagnose, names)
    _pin_and_forbid_rows(f, problem, diagnose)
    if not diagnose:
        _objective(f, problem)
    return f


def _staffing_rows(f: Formulation, problem: CompiledProblem, diagnose: bool, names: bool) -> None:
    """Demand served once; team completeness; optional roles only with the team; must-staff."""
    pairs_by_demand = group_indices(problem.pair_demand, problem.n_demands)
    has_pairs = np.array([len(g) > 0 for g in pairs_by_demand], dtype=bool)
    missing = np.zeros(problem.n_opportunities, dtype=bool)
    np.logical_or.at(missing, problem.demand_opportunity, problem.demand_required & ~has_pairs)
    has_required = np.zeros(problem.n_opportunities, dtype=bool)
    has_required[problem.demand_opportunity[problem.demand_required]] = True
    can_staff = has_required & (~missing | problem.opportunity_must_staff | diagnose)
    for o in np.flatnonzero(can_staff).tolist():
        label = f"staffed[{problem.opportunity_ids[o]}]" if names else ""
        f.staffed_var[o] = f.new_var(0, 1, label)
    for o in np.flatnonzero(problem.opportunity_must_staff).tolist():
        if o not in f.staffed_var:  # A job nobody can do: infeasible, and says so.
            f.staffed_var[o] = f.new_var(0, 0, f"staffed[{problem.opportunity_ids[o]}]")
        f.add_row([f.staffed_var[o]], [1], 1, 1)

    for d in range(problem.n_demands):
        o = int(problem.demand_opportunity[d])
        group = pairs_by_demand[d].tolist()
        if o not in f.staffed_var:
            for p in group:
                f.upper[p] = 0
            continue
        variables = [*group, f.staffed_var[o]]
        coeffs = [1] * len(group) + [-1]
        if not problem.demand_required[d]:
            if group:
                f.add_row(variables, coeffs, -1, 0)
        elif diagnose:
            literal = f.new_var(0, 1, f"required[{problem.demand_ids[d]}]")
            f.required_literals[d] = literal
            f.add_row(variables, coeffs, 0, 0, enforce=literal)
            f.add_row(variables, coeffs, -1, 0)
        else:
            f.add_row(variables, coeffs, 0, 0)


def _engineer_rows(f: Formulation, problem: CompiledProblem, diagnose: bool, names: bool) -> None:
    """One role per opportunity; opportunity limit; weekly capacity; load above target."""
    key = problem.pair_engineer * max(1, problem.n_opportunities) + problem.pair_opportunity
    order = np.argsort(key, kind="stable")
    for group in np.split(order, np.flatnonzero(np.diff(key[order])) + 1):
        if len(group) > 1:
            f.add_row(group.tolist(), [1] * len(group), 0, 1)

    load_score = np.zeros(problem.n_pairs, dtype=np.int64)
    for e, group in enumerate(group_indices(problem.pair_engineer, problem.n_engineers)):
        if not len(group):
            continue
        limit = int(problem.engineer_max_assignments[e])
        if len(group) > limit:
            f.add_row(group.tolist(), [1] * len(group), 0, limit)
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
                f.add_row(in_week.tolist(), h.tolist(), 0, cap)
            slack = int(problem.engineer_load_slack[e, w])
            if not problem.load_weight or diagnose:
                continue
            if slack < 0:  # Already above target: every assigned hour counts, linearly.
                load_score[in_week] -= problem.load_weight * h
            elif min(total, cap) > slack:
                label = f"over[{problem.engineer_ids[e]}, week {w + 1}]" if names else ""
                over = f.new_var(0, min(total, cap) - slack, label)
                f.add_row([*in_week.tolist(), over], [*h.tolist(), -1], -INT_INFINITY, slack)
                f.over_vars.append(over)
                f.over_cell.append((e, w))
    f.objective.update({p: int(v) for p, v in enumerate(load_score.tolist()) if v})


def _pin_and_forbid_rows(f: Formulation, problem: CompiledProblem, diagnose: bool) -> None:
    for index, pin in enumerate(problem.pins):
        members = pin.pairs.tolist()
        literal = f.new_var(0, 1, f"pin[{index}]") if diagnose else -1
        if diagnose:
            f.pin_literals.append(literal)
        f.add_row(members, [1] * len(members), 1, 1, enforce=literal)
    for p, label in problem.pair_forbidden_label.items():
        if diagnose:
            if label not in f.forbid_literals:
                f.forbid_literals[label] = f.new_var(0, 1, label)
            f.add_row([p], [1], 0, 0, enforce=f.forbid_literals[label])
        else:
            f.upper[p] = 0


def _objective(f: Formulation, problem: CompiledProblem) -> None:
    """Value of staffed opportunities + pair scores + continuity kept - load above target."""
    score = problem.pair_score.copy()
    for pairs in problem.previous_pairs:
        score[pairs] += problem.continuity_weight
    for p in np.flatnonzero(score).tolist():
        f.objective[p] = f.objective.get(p, 0) + int(score[p])
    for o, var in f.staffed_var.items():
        if problem.opportunity_value[o]:
            f.objective[var] = int(problem.opportunity_value[o])
    for var in f.over_vars:
        f.objective[var] = -problem.load_weight
    fixed_load = problem.load_weight * int(np.maximum(0, -problem.engineer_load_slack).sum())
    f.offset = -problem.continuity_weight * len(problem.previous_pairs) - fixed_load
