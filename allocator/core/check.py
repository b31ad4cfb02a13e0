"""The independent checker: judges every field of a result, exactly, without a solver.

It reads a portfolio and an allocation and knows nothing of how the allocation was made: it
imports no solver, no NumPy, only the domain and the rules (`rules.py`: their labels and their
arithmetic, e.g. `free_hours` for capacity, which the compiler uses too). Plain loops, on
purpose, so that a reader can verify it by eye and so that it shares no code path with the
solve package.

Every figure is an integer: hours and points in hundredths, the policy's decimals as exact
fractions of the decimal they are written as. A reported figure must be a whole number of
hundredths and equal the recomputed one; there is no tolerance.

- Every result: the value unit, its source and the horizon start it records are the
  portfolio's; each opportunity it lists as unstaffable cannot be staffed by construction (no
  demands, or a required demand nobody is proficient enough, free enough or allowed to serve),
  and every opportunity without demands or without a proficient engineer for a required demand
  is listed. Older results that record none of these are not judged on them.
- A result with a solution: every hard rule, every assignment's fields, the staffed list, each
  term, objective = sum of terms, the bound against the status (optimal: bound = objective;
  feasible: no bound, or bound >= objective), and the gap.
- An infeasible result: no assignments and no figures; each conflict set names pins, forbids
  and required demands that exist, is proven infeasible by an exhaustive search of its own
  sub-problem (only the pinned opportunities need staffing, so the search is small), and each
  proper subset is proven feasible where that takes few steps; when the result claims the list
  is complete, removing any minimal choice of one item per set is shown to leave a feasible run.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from allocator.core.rules import (
    RULES,
    committed_in,
    engineer_week,
    forbids_pair,
    level_in,
    load_target,
    proficient,
    value_points,
)
from allocator.model import (
    HOUR_SCALE,
    POINT_SCALE,
    TERM_NAMES,
    Allocation,
    Demand,
    Engineer,
    Forbid,
    Pin,
    Portfolio,
    SolveStatus,
    centi_hours,
)

SEARCH_STEPS = 200_000
"""Steps the exact search of a conflict's sub-problem may take to prove it infeasible."""
CHEAP_STEPS = 20_000
"""Steps allowed for the checks done only where cheap (subsets feasible, completeness)."""
MAX_HITTING_SETS = 200
"""Most ways of removing one item per conflict set tried when checking completeness."""


@dataclass(frozen=True)
class Violation:
    """One broken rule, with its stable key, its label and the specifics."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{RULES[self.rule].label if self.rule in RULES else self.rule}: {self.message}"


@dataclass
class CheckReport:
    """What the checker found: violations (empty when the result holds) and its own figures."""

    violations: list[Violation] = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=dict)
    """Recomputed terms, in points (exact: a whole number of hundredths)."""
    objective: float = 0.0
    centi_terms: dict[str, int] = field(default_factory=dict)
    """Recomputed terms in 1/100 point."""

    @property
    def ok(self) -> bool:
        return not self.violations


def hundredths(x: float | None) -> int | None:
    """A reported figure as a whole number of hundredths; None when it is not one."""
    if x is None or not math.isfinite(x):
        return None
    try:
        scaled = Decimal(repr(x)) * 100
    except InvalidOperation:
        return None
    return int(scaled) if scaled == scaled.to_integral_value() else None


def free_by_week(portfolio: Portfolio) -> dict[tuple[str, int], int]:
    """(engineer, week) -> 1/100 h free for assignments, by the capacity rule (`free_hours`)."""
    return {
        (e.id, week): engineer_week(e, week)[0]
        for e in portfolio.engineers
        for week in portfolio.weeks()
    }


def check(portfolio: Portfolio, allocation: Allocation) -> CheckReport:
    """Judge every field of `allocation` against `portfolio` (see the module doc).

    >>> from allocator.model import Allocation, Portfolio, SolveStatus
    >>> terms = {"expected_value": 0, "skill_fit": 0, "region_match": 0, "continuity": 0,
    ...          "load_balance": 0}
    >>> check(Portfolio(), Allocation(status=SolveStatus.OPTIMAL, objective=0.0,
    ...       best_bound=0.0, gap=0.0, terms=terms)).ok
    True
    """
    report = CheckReport()
    bad = report.violations.append
    engineers = portfolio.engineer_by_id()
    opportunities = portfolio.opportunity_by_id()
    demands = portfolio.demand_by_id()
    policy = portfolio.policy
    solved = allocation.status.has_solution

    unknown_terms = sorted(set(allocation.terms) - set(TERM_NAMES))
    if unknown_terms:
        bad(Violation("objective", f"unknown term keys {unknown_terms}"))

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
            weeks = demand.weeks(portfolio.horizon_weeks)
            stated = (a.skill, hundredths(a.hours), a.start_week, a.end_week)
            truth = (demand.skill, centi_hours(demand.hours), weeks[0], weeks[-1])
            if stated != truth:
                bad(
                    Violation(
                        "unknown",
                        f"assignment {a.engineer_id} -> {a.demand_id} states skill, hours, "
                        f"weeks {a.skill}, {a.hours}, {a.start_week}-{a.end_week}; the demand "
                        f"is {demand.skill}, {demand.hours}, {weeks[0]}-{weeks[-1]}",
                    )
                )

    _check_recorded(portfolio, allocation, report)
    if not solved:
        _check_without_solution(portfolio, allocation, report)
        return report

    # A demand is served by at most one engineer.
    for demand_id, n in Counter(a.demand_id for a in valid).items():
        if n > 1:
            bad(Violation("single_engineer", f"{demand_id} is served by {n} engineers"))

    # Proficiency.
    for a in valid:
        demand = demands[a.demand_id]
        level = level_in(engineers[a.engineer_id], demand)
        if not proficient(level, demand.min_proficiency):
            bad(
                Violation(
                    "proficiency",
                    f"{a.engineer_id} has {demand.skill} at level {level}, "
                    f"{demand.id} needs {demand.min_proficiency}",
                )
            )

    # Weekly capacity, in 1/100 h: assigned <= max(0, capacity - committed - time off), the
    # week's committed hours by `committed_in`.
    free = free_by_week(portfolio)
    load: dict[tuple[str, int], int] = defaultdict(int)
    for a in valid:
        demand = demands[a.demand_id]
        for week in demand.weeks(portfolio.horizon_weeks):
            load[a.engineer_id, week] += centi_hours(demand.hours)
    for (engineer_id, week), hours in sorted(load.items()):
        if hours > free[engineer_id, week]:
            bad(
                Violation(
                    "capacity",
                    f"{engineer_id} has {hours / HOUR_SCALE:g} h assigned in week {week}, "
                    f"{free[engineer_id, week] / HOUR_SCALE:g} h free",
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
    staffed: list[str] = []
    for opportunity_id, roles in portfolio.demands_of().items():
        required = [d for d in roles if d.required]
        staffed_required = [d for d in required if d.id in served]
        if required and len(staffed_required) == len(required):
            staffed.append(opportunity_id)
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
    listed = allocation.staffed_opportunities
    if sorted(listed) != sorted(staffed):
        bad(
            Violation(
                "unknown",
                f"staffed_opportunities lists {sorted(set(listed) - set(staffed))} not staffed, "
                f"omits {sorted(set(staffed) - set(listed))}"
                + (", and repeats some" if len(set(listed)) != len(listed) else ""),
            )
        )

    # The objective, recomputed in 1/100 point from exact fractions.
    value = sum(value_points(opportunities[o], policy) for o in staffed)
    fit = 0
    travel = 0
    for a in valid:
        demand = demands[a.demand_id]
        engineer = engineers[a.engineer_id]
        o = opportunities[a.opportunity_id]
        fit += policy.skill_fit_weight * (level_in(engineer, demand) - demand.min_proficiency)
        fit += policy.industry_fit_weight * (o.industry in engineer.industries)
        travel -= policy.travel_penalty * (engineer.region != o.region)
    moved = 0
    for key in dict.fromkeys(  # Duplicate rows count once.
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
        for week in portfolio.weeks():
            target = load_target(engineer_week(engineer, week)[1], policy.utilization_target)
            committed = committed_in(engineer, week)
            over += max(0, committed + load.get((engineer.id, week), 0) - target)
    centi = {
        "expected_value": value,
        "skill_fit": POINT_SCALE * fit,
        "region_match": POINT_SCALE * travel,
        "continuity": -POINT_SCALE * policy.continuity_penalty * moved,
        "load_balance": -policy.load_penalty * over * POINT_SCALE // HOUR_SCALE,
    }
    report.centi_terms = centi
    report.terms = {name: centi[name] / POINT_SCALE for name in TERM_NAMES}
    total = sum(centi.values())
    report.objective = total / POINT_SCALE
    _check_figures(allocation, centi, total, report)
    if _names_conflicts(allocation):
        bad(Violation("unknown", "a result with a solution names conflicts"))
    return report


def _names_conflicts(allocation: Allocation) -> bool:
    return bool(
        allocation.conflicts
        or allocation.conflict_sets
        or allocation.conflicts_complete
        or not allocation.conflicts_minimal
    )


def _check_figures(
    allocation: Allocation, centi: dict[str, int], total: int, report: CheckReport
) -> None:
    """Terms, objective, bound and gap of a result with a solution, in whole hundredths."""
    bad = report.violations.append
    reported_terms: dict[str, int | None] = {}
    for name in TERM_NAMES:
        reported = allocation.terms.get(name)
        reported_terms[name] = hundredths(reported)
        if reported_terms[name] != centi[name]:
            bad(
                Violation(
                    "objective",
                    f"term {name} is reported as {reported}, recomputed {centi[name] / 100:.2f}",
                )
            )
    objective = hundredths(allocation.objective)
    if objective != total:
        bad(
            Violation(
                "objective",
                f"objective is reported as {allocation.objective}, recomputed {total / 100:.2f}",
            )
        )
    term_values = list(reported_terms.values())
    if None not in term_values and objective != sum(v for v in term_values if v is not None):
        bad(Violation("objective", f"objective {allocation.objective} is not the sum of its terms"))
    bound = hundredths(allocation.best_bound)
    if allocation.best_bound is not None and bound is None:
        bad(Violation("objective", f"best bound {allocation.best_bound} is not in hundredths"))
    if allocation.status is SolveStatus.OPTIMAL and (bound is None or bound != objective):
        bad(
            Violation(
                "objective",
                f"status optimal needs best bound = objective, got bound {allocation.best_bound} "
                f"and objective {allocation.objective}",
            )
        )
    if bound is not None and objective is not None and bound < objective:
        bad(
            Violation(
                "objective",
                f"best bound {allocation.best_bound} is below the objective {allocation.objective}",
            )
        )
    # The gap, recomputed from the two reported figures as the README defines it.
    if allocation.best_bound is None or allocation.objective is None:
        expected_gap = None
    else:
        b, z = allocation.best_bound, allocation.objective
        expected_gap = max(0.0, b - z) / max(1.0, abs(b))
    if allocation.gap != expected_gap:
        bad(
            Violation(
                "objective",
                f"gap is reported as {allocation.gap}, recomputed {expected_gap} "
                "((bound - objective) / max(1, |bound|))",
            )
        )


def _check_recorded(portfolio: Portfolio, allocation: Allocation, report: CheckReport) -> None:
    """What a result records about its portfolio: the value unit and the calendar it counted
    in, and the opportunities it lists as unstaffable."""
    bad = report.violations.append
    policy = portfolio.policy
    recorded = (
        ("value_unit", allocation.value_unit, policy.value_unit),
        ("value_unit_source", allocation.value_unit_source, policy.value_unit_source),
        ("horizon_start", allocation.horizon_start, portfolio.horizon_start),
    )
    for name, stated, truth in recorded:
        if stated is not None and stated != truth:
            bad(Violation("recorded", f"{name} is {stated!r}; the portfolio's is {truth!r}"))

    if "unstaffable" not in allocation.model_fields_set:
        return  # A result from before the list existed.
    opportunities = portfolio.opportunity_by_id()
    why_not = _unstaffable_reasons(portfolio)
    listed = Counter(u.opportunity_id for u in allocation.unstaffable)
    for u in allocation.unstaffable:
        o = opportunities.get(u.opportunity_id)
        if o is None:
            bad(Violation("unstaffable", f"lists unknown opportunity {u.opportunity_id}"))
            continue
        if why_not[o.id] is None:
            bad(Violation("unstaffable", f"{u.opportunity_id} is listed but can be staffed"))
        if u.external_id != o.external_id:
            bad(
                Violation(
                    "unstaffable",
                    f"{u.opportunity_id} is listed with CRM id {u.external_id!r}, "
                    f"not {o.external_id!r}",
                )
            )
        if not u.reason.strip():
            bad(Violation("unstaffable", f"{u.opportunity_id} is listed without a reason"))
    for opportunity_id, n in listed.items():
        if n > 1:
            bad(Violation("unstaffable", f"{opportunity_id} is listed {n} times"))
    for o in portfolio.opportunities:
        why = why_not[o.id]
        if why is not None and why.startswith("no ") and o.id not in listed:
            bad(Violation("unstaffable", f"{o.id} cannot be staffed ({why}) but is not listed"))


def _unstaffable_reasons(portfolio: Portfolio) -> dict[str, str | None]:
    """Opportunity id -> why no allocation can staff it (`_why_unstaffable`), or None."""
    free = free_by_week(portfolio)
    roles_of = portfolio.demands_of()
    proficient_for: dict[tuple[str, int], list[Engineer]] = {}

    def able(d: Demand) -> list[Engineer]:
        """The engineers proficient enough for `d`: the same for every demand of its skill
        and minimum, so listed once per pair."""
        key = (d.skill, d.min_proficiency)
        if key not in proficient_for:
            proficient_for[key] = [
                e for e in portfolio.engineers if proficient(level_in(e, d), d.min_proficiency)
            ]
        return proficient_for[key]

    return {
        o.id: _why_unstaffable(portfolio, roles_of[o.id], free, able)
        for o in portfolio.opportunities
    }


def _why_unstaffable(
    portfolio: Portfolio,
    roles: Sequence[Demand],
    free: dict[tuple[str, int], int],
    able: Callable[[Demand], list[Engineer]],
) -> str | None:
    """Why no allocation can staff an opportunity whose demands are `roles`, by
    construction; None when one might. Reasons starting with `no ` are those a result must
    list. `able(d)`: the engineers proficient enough for demand `d`."""
    if not roles:
        return "no demands"
    for d in roles:
        if not d.required:
            continue
        if not able(d):
            return f"no engineer is proficient enough for {d.id}"
        weeks = d.weeks(portfolio.horizon_weeks)
        if not any(
            all(centi_hours(d.hours) <= free[e.id, w] for w in weeks)
            and not any(forbids_pair(f, e.id, d) for f in portfolio.forbids)
            for e in able(d)
        ):
            return f"every engineer proficient enough for {d.id} is busy or forbidden"
    return None


def _check_without_solution(
    portfolio: Portfolio, allocation: Allocation, report: CheckReport
) -> None:
    """An infeasible, unknown or invalid result: no figures; an infeasible one's conflicts."""
    bad = report.violations.append
    status = allocation.status
    if allocation.assignments:
        bad(Violation("unknown", f"status {status} but assignments are listed"))
    if allocation.staffed_opportunities:
        bad(Violation("unknown", f"status {status} but opportunities are listed as staffed"))
    figures = {
        "objective": allocation.objective,
        "best_bound": allocation.best_bound,
        "gap": allocation.gap,
    }
    for name, figure in figures.items():
        if figure is not None:
            bad(Violation("unknown", f"status {status} but {name} is {figure}"))
    if allocation.terms:
        bad(Violation("unknown", f"status {status} but terms are listed"))
    if status is not SolveStatus.INFEASIBLE:
        if _names_conflicts(allocation):
            bad(Violation("unknown", f"status {status} but conflicts are named"))
        return
    _check_conflicts(portfolio, allocation, report)


# ---------------------------------------------------------------------------------------------
# Conflicts: an exact search of the sub-problem a set of pins, forbids and required demands
# makes. Only opportunities something is pinned to need staffing (the empty allocation holds
# every other rule), so the search places the pins, then the required demands of the
# opportunities they touch, and nothing else.

Item = tuple[str, str]
"""('pin' | 'forbid' | 'required', label or demand id)."""


class _OutOfSteps(Exception):
    pass


def _check_conflicts(portfolio: Portfolio, allocation: Allocation, report: CheckReport) -> None:
    bad = report.violations.append
    sets = [list(s) for s in allocation.conflict_sets] or (
        [list(allocation.conflicts)] if allocation.conflicts else []
    )
    if allocation.conflict_sets and list(allocation.conflicts) != list(allocation.conflict_sets[0]):
        bad(Violation("conflict", "conflicts is not the first of conflict_sets"))
    if not portfolio.pins:
        bad(
            Violation(
                "conflict",
                "status infeasible, but the portfolio has no pins: the empty allocation "
                "holds every hard rule",
            )
        )
        return
    if not sets:
        bad(Violation("conflict", "status infeasible, but no conflict is named"))
        return
    pins = {p.label(): p for p in portfolio.pins}
    forbids = {f.label(): f for f in portfolio.forbids}
    required = {d.id for d in portfolio.demands if d.required}
    parsed: list[list[Item]] = []
    for labels in sets:
        items: list[Item] = []
        for label in labels:
            word, _, rest = label.partition(" ")
            if label in pins:
                items.append(("pin", label))
            elif label in forbids:
                items.append(("forbid", label))
            elif word == "required" and rest.startswith("demand ") and rest[7:] in required:
                items.append(("required", rest[7:]))
            else:
                bad(Violation("conflict", f"{label!r} names no pin, forbid or required demand"))
        if len(set(items)) != len(items):
            bad(Violation("conflict", f"conflict set {'; '.join(labels)} repeats an item"))
        parsed.append(list(dict.fromkeys(items)))
    if any(v.rule == "conflict" for v in report.violations):
        return
    frozen = [frozenset(items) for items in parsed]
    for i, a in enumerate(frozen):
        for j, b in enumerate(frozen):
            if i != j and a <= b:
                bad(Violation("conflict", f"conflict set {j + 1} contains conflict set {i + 1}"))

    free = free_by_week(portfolio)

    def feasible(items: Iterable[Item], steps: int) -> bool | None:
        chosen = set(items)
        return _SubProblem(
            portfolio,
            free,
            [pins[label] for kind, label in chosen if kind == "pin"],
            [forbids[label] for kind, label in chosen if kind == "forbid"],
            {demand_id for kind, demand_id in chosen if kind == "required"},
        ).feasible(steps)

    for n, items in enumerate(parsed, start=1):
        words = "; ".join(sets[n - 1])
        verdict = feasible(items, SEARCH_STEPS)
        if verdict is None:
            bad(
                Violation(
                    "conflict",
                    f"conflict set {n} ({words}) could not be proven infeasible within "
                    f"{SEARCH_STEPS:,} search steps",
                )
            )
            continue
        if verdict:
            bad(Violation("conflict", f"conflict set {n} ({words}) can all hold at once"))
            continue
        for item in items if allocation.conflicts_minimal else ():
            without = [other for other in items if other != item]
            if feasible(without, CHEAP_STEPS) is False:
                bad(
                    Violation(
                        "conflict",
                        f"conflict set {n} ({words}) is not minimal: without "
                        f"{_label(item)} it still cannot hold",
                    )
                )
    if not allocation.conflicts_minimal and allocation.conflicts_complete:
        bad(Violation("conflict", "conflicts said to be complete but not minimal"))
    if allocation.conflicts_complete and not report.violations:
        everything: list[Item] = (
            [("pin", label) for label in pins]
            + [("forbid", label) for label in forbids]
            + [("required", demand_id) for demand_id in sorted(required)]
        )
        for removed in _minimal_hitting_sets(parsed, MAX_HITTING_SETS):
            kept = [item for item in everything if item not in removed]
            if feasible(kept, CHEAP_STEPS) is False:
                names = "; ".join(_label(item) for item in sorted(removed))
                bad(
                    Violation(
                        "conflict",
                        f"the conflicts are said to be complete, but removing {names} "
                        "leaves the run infeasible",
                    )
                )
                return


def _label(item: Item) -> str:
    kind, name = item
    return f"required demand {name}" if kind == "required" else name


def _minimal_hitting_sets(sets: Sequence[Sequence[Item]], limit: int) -> list[frozenset[Item]]:
    """Minimal sets holding at least one item of every set in `sets` (at most `limit`; the
    solver has its own copy, on purpose: the checker shares no code with it)."""
    found: set[frozenset[Item]] = set()
    steps = 0

    def grow(chosen: frozenset[Item]) -> None:
        nonlocal steps
        steps += 1
        if len(found) >= limit or steps > 50 * limit:
            return
        open_set = next((s for s in sets if not chosen & set(s)), None)
        if open_set is None:
            found.add(chosen)
            return
        for item in open_set:
            grow(chosen | {item})

    grow(frozenset())
    return [h for h in found if not any(other < h for other in found)]


class _SubProblem:
    """Can `pins` hold with `forbids` kept, `required` demands required (all others optional),
    and every other hard rule? An exhaustive search with a step budget."""

    def __init__(
        self,
        portfolio: Portfolio,
        free: dict[tuple[str, int], int],
        pins: list[Pin],
        forbids: list[Forbid],
        required: set[str],
    ) -> None:
        self.portfolio = portfolio
        self.pins = pins
        self.forbids = forbids
        self.required = required
        self.engineers = portfolio.engineer_by_id()
        self.demands = portfolio.demand_by_id()
        self.demands_of = portfolio.demands_of()
        self.free = free
        self.limit = portfolio.policy.max_opportunities_per_engineer
        self.served: dict[str, str] = {}
        self.on: dict[str, Counter[str]] = defaultdict(Counter)
        self.load: dict[tuple[str, int], int] = defaultdict(int)
        self.steps = 0
        self.budget = 0

    def feasible(self, budget: int) -> bool | None:
        """True or False when proven; None when the budget ran out first."""
        self.steps, self.budget = 0, budget
        try:
            return self._search()
        except _OutOfSteps:
            return None

    def _weeks(self, demand: Demand) -> range:
        return demand.weeks(self.portfolio.horizon_weeks)

    def _can_take(self, engineer_id: str, demand: Demand) -> bool:
        engineer = self.engineers[engineer_id]
        opportunities = self.on[engineer_id]
        if (
            demand.id in self.served
            or not proficient(level_in(engineer, demand), demand.min_proficiency)
            or opportunities[demand.opportunity_id]
            or len(+opportunities) >= self.limit
            or any(forbids_pair(f, engineer_id, demand) for f in self.forbids)
        ):
            return False
        hours = centi_hours(demand.hours)
        return all(
            self.load[engineer_id, w] + hours <= self.free[engineer_id, w]
            for w in self._weeks(demand)
        )

    def _take(self, engineer_id: str, demand: Demand, sign: int) -> None:
        if sign > 0:
            self.served[demand.id] = engineer_id
        else:
            del self.served[demand.id]
        self.on[engineer_id][demand.opportunity_id] += sign
        hours = centi_hours(demand.hours)
        for w in self._weeks(demand):
            self.load[engineer_id, w] += sign * hours

    def _try(self, engineer_id: str, demand: Demand) -> bool:
        self._take(engineer_id, demand, 1)
        if self._search():
            return True
        self._take(engineer_id, demand, -1)
        return False

    def _search(self) -> bool:
        self.steps += 1
        if self.steps > self.budget:
            raise _OutOfSteps
        for pin in self.pins:
            if pin.demand_id:
                if self.served.get(pin.demand_id) == pin.engineer_id:
                    continue
                targets = [self.demands[pin.demand_id]]
            else:
                if self.on[pin.engineer_id][pin.opportunity_id]:
                    continue
                targets = self.demands_of[pin.opportunity_id]
            return any(
                self._can_take(pin.engineer_id, d) and self._try(pin.engineer_id, d)
                for d in targets
            )
        touched = {self.demands[d].opportunity_id for d in self.served}
        open_demands = [
            d
            for o in sorted(touched)
            for d in self.demands_of[o]
            if d.id in self.required and d.id not in self.served
        ]
        if not open_demands:
            return True
        options = [(d, [e for e in self.engineers if self._can_take(e, d)]) for d in open_demands]
        demand, candidates = min(options, key=lambda pair: len(pair[1]))
        return any(self._try(e, demand) for e in candidates)
