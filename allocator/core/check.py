"""The independent checker: re-verifies every hard rule and recomputes every objective term.

It reads a portfolio and an allocation and knows nothing of how the allocation was made: it
imports no solver, no NumPy, only the domain and the rule labels. Plain loops, on purpose, so
that a reader can verify it by eye and so that it shares no code path with `solver.py`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from allocator.core.rules import RULES, forbids_pair
from allocator.model import HOUR_SCALE, POINT_SCALE, TERM_NAMES, Allocation, Portfolio

TOLERANCE = 0.01
"""Points: terms are reported rounded to 1/100 point."""


@dataclass(frozen=True)
class Violation:
    """One broken rule, with its stable key, its label and the specifics."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{RULES[self.rule].label if self.rule in RULES else self.rule}: {self.message}"


@dataclass
class CheckReport:
    """What the checker found: violations (empty when the allocation holds) and its own terms."""

    violations: list[Violation] = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=dict)
    objective: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations


def check(portfolio: Portfolio, allocation: Allocation) -> CheckReport:
    """Verify `allocation` against every hard rule of `portfolio` and recompute its objective.

    >>> from allocator.model import Allocation, Portfolio, SolveStatus
    >>> check(Portfolio(), Allocation(status=SolveStatus.OPTIMAL, objective=0.0)).ok
    True
    """
    report = CheckReport()
    bad = report.violations.append
    engineers = portfolio.engineer_by_id()
    opportunities = portfolio.opportunity_by_id()
    demands = portfolio.demand_by_id()
    policy = portfolio.policy

    valid = []
    for a in allocation.assignments:
        demand = demands.get(a.demand_id)
        if a.engineer_id not in engineers:
            bad(Violation("unknown", f"assignment names unknown engineer {a.engineer_id}"))
        elif demand is None:
            bad(Violation("unknown", f"assignment names unknown demand {a.demand_id}"))
        elif demand.opportunity_id != a.opportunity_id:
            bad(
                Violation(
                    "unknown",
                    f"demand {a.demand_id} belongs to {demand.opportunity_id}, "
                    f"not {a.opportunity_id}",
                )
            )
        else:
            valid.append(a)

    # A demand is served by at most one engineer.
    for demand_id, n in Counter(a.demand_id for a in valid).items():
        if n > 1:
            bad(Violation("single_engineer", f"{demand_id} is served by {n} engineers"))

    # Proficiency.
    for a in valid:
        demand = demands[a.demand_id]
        level = engineers[a.engineer_id].skills.get(demand.skill, 0)
        if level < demand.min_proficiency:
            bad(
                Violation(
                    "proficiency",
                    f"{a.engineer_id} has {demand.skill} at level {level}, "
                    f"{demand.id} needs {demand.min_proficiency}",
                )
            )

    # Weekly capacity, in 1/100 h to stay exact.
    load: dict[tuple[str, int], int] = defaultdict(int)
    for a in valid:
        demand = demands[a.demand_id]
        for week in demand.weeks(portfolio.horizon_weeks):
            load[a.engineer_id, week] += round(demand.hours * HOUR_SCALE)
    for (engineer_id, week), hours in sorted(load.items()):
        free = round(engineers[engineer_id].available_hours(week) * HOUR_SCALE)
        if hours > free:
            bad(
                Violation(
                    "capacity",
                    f"{engineer_id} has {hours / HOUR_SCALE:g} h assigned in week {week}, "
                    f"{free / HOUR_SCALE:g} h free",
                )
            )

    # One role per opportunity, and the opportunity limit.
    per_opportunity = Counter((a.engineer_id, a.opportunity_id) for a in valid)
    for (engineer_id, opportunity_id), n in per_opportunity.items():
        if n > 1:
            bad(
                Violation(
                    "one_role_per_opportunity",
                    f"{engineer_id} serves {n} demands of {opportunity_id}",
                )
            )
    per_engineer = Counter(engineer_id for engineer_id, _ in per_opportunity)
    for engineer_id, n in per_engineer.items():
        if n > policy.max_opportunities_per_engineer:
            bad(
                Violation(
                    "opportunity_limit",
                    f"{engineer_id} works on {n} opportunities, "
                    f"limit {policy.max_opportunities_per_engineer}",
                )
            )

    # Pins and forbids.
    served_by = {(a.engineer_id, a.demand_id) for a in valid}
    on_opportunity = {(a.engineer_id, a.opportunity_id) for a in valid}
    for pin in portfolio.pins:
        held = (
            (pin.engineer_id, pin.demand_id) in served_by
            if pin.demand_id
            else (pin.engineer_id, pin.opportunity_id) in on_opportunity
        )
        if not held:
            bad(Violation("pin", f"{pin.label()} does not hold"))
    for forbid in portfolio.forbids:
        for a in valid:
            if forbids_pair(forbid, a.engineer_id, demands[a.demand_id]):
                bad(Violation("forbid", f"{forbid.label()} is broken by {a.demand_id}"))

    # Team completeness and optional roles.
    served = {a.demand_id for a in valid}
    staffed: set[str] = set()
    for opportunity_id, roles in portfolio.demands_of().items():
        required = [d for d in roles if d.required]
        staffed_required = [d for d in required if d.id in served]
        if required and len(staffed_required) == len(required):
            staffed.add(opportunity_id)
        elif staffed_required:
            missing = ", ".join(d.id for d in required if d.id not in served)
            bad(Violation("team_completeness", f"{opportunity_id} lacks {missing}"))
        for d in roles:
            if not d.required and d.id in served and opportunity_id not in staffed:
                bad(
                    Violation(
                        "optional_needs_team", f"{d.id} is staffed but {opportunity_id} is not"
                    )
                )
    listed = set(allocation.staffed_opportunities)
    if allocation.assignments and listed != staffed:
        bad(
            Violation(
                "unknown",
                f"staffed_opportunities lists {sorted(listed - staffed)} not staffed and omits "
                f"{sorted(staffed - listed)}",
            )
        )

    # Objective, recomputed in 1/100 point.
    value = 0
    for opportunity_id in staffed:
        o = opportunities[opportunity_id]
        points = (
            o.value
            * o.win_probability
            * policy.tier_factors[o.tier]
            * policy.value_weight
            * POINT_SCALE
            / policy.value_unit
        )
        value += round(points)
    fit = 0
    travel = 0
    for a in valid:
        demand = demands[a.demand_id]
        engineer = engineers[a.engineer_id]
        o = opportunities[a.opportunity_id]
        fit += policy.skill_fit_weight * (
            engineer.skills.get(demand.skill, 0) - demand.min_proficiency
        )
        fit += policy.industry_fit_weight * (o.industry in engineer.industries)
        travel -= policy.travel_penalty * (engineer.region != o.region)
    moved = 0
    for key in dict.fromkeys(
        (r.engineer_id, r.opportunity_id, r.demand_id) for r in portfolio.previous
    ):
        engineer_id, opportunity_id, demand_id = key
        kept = (
            (engineer_id, demand_id) in served_by
            if demand_id
            else (engineer_id, opportunity_id) in on_opportunity
        )
        moved += not kept
    over = 0
    for engineer in portfolio.engineers:
        committed = round(engineer.committed_hours * HOUR_SCALE)
        for week in portfolio.weeks():
            working = round(engineer.working_hours(week) * HOUR_SCALE)
            target = math.floor(policy.utilization_target * working + 1e-9)
            over += max(0, committed + load.get((engineer.id, week), 0) - target)
    centi = {
        "expected_value": value,
        "skill_fit": POINT_SCALE * fit,
        "region_match": POINT_SCALE * travel,
        "continuity": -POINT_SCALE * policy.continuity_penalty * moved,
        "load_balance": -policy.load_penalty * over * POINT_SCALE // HOUR_SCALE,
    }
    report.terms = {name: centi[name] / POINT_SCALE for name in TERM_NAMES}
    report.objective = sum(centi.values()) / POINT_SCALE

    if allocation.status.has_solution:
        for name in TERM_NAMES:
            reported = allocation.terms.get(name)
            if reported is None or abs(reported - report.terms[name]) > TOLERANCE:
                bad(
                    Violation(
                        "objective",
                        f"term {name} is reported as {reported}, recomputed {report.terms[name]}",
                    )
                )
        if allocation.objective is None or abs(allocation.objective - report.objective) > TOLERANCE:
            bad(
                Violation(
                    "objective",
                    f"objective is reported as {allocation.objective}, "
                    f"recomputed {report.objective}",
                )
            )
    elif allocation.assignments:
        bad(Violation("unknown", f"status {allocation.status} but assignments are listed"))
    return report
