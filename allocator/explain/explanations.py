"""Explanations of a run: why each opportunity got (or did not get) its engineers, what it
would take, who would lose, whether seniority mattered, and what each engineer contributed.

Service layer, shared by the CLI and the API. Every answer is a pydantic model holding the
structured figures and `summary`, one paragraph of plain language built from them. Reasons
use the rule keys of `rules.py` (`proficiency`, `capacity`, `time_off`, `forbid`,
`opportunity_limit`, `one_role_per_opportunity`) plus two for eligible engineers: `busy`
(better used elsewhere, with the work and the value at stake there) and `weaker_fit`.

Prices are measured by re-solving, never guessed: the opportunity is forced staffed and the
allocation re-optimised (the whole problem when it is small enough to solve to optimality,
else the neighbourhood of engineers who could serve it), and the change of every objective
term is reported with the method and whether it is exact.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from allocator.core.rules import (
    committed_in,
    engineer_week,
    forbids_pair,
    free_hours,
    level_in,
    proficient,
)
from allocator.errors import NotFoundError
from allocator.model import (
    HOUR_SCALE,
    POINT_SCALE,
    TERM_NAMES,
    Allocation,
    Assignment,
    Demand,
    Engineer,
    Opportunity,
    Portfolio,
    SolveStatus,
    centi_hours,
    expected_value,
    iso_week_of,
)
from allocator.solve.baselines import run_baseline
from allocator.solve.compiled import (
    BoolArray,
    CompiledProblem,
    compile_portfolio,
    evaluate,
    select_pairs,
    staffed_opportunities,
)
from allocator.solve.conflicts import describe_conflicts
from allocator.solver import LNS_PAIRS, SolveOptions, solve, solve_compiled

if TYPE_CHECKING:
    from allocator.solve.lns import PairIndex

SHOWN_CANDIDATES = 5
EXPORT_REASONS = 200
"""Unstaffed opportunities an export explains in words, the highest expected value first."""
EXPORT_CANDIDATES = 15_000
"""Engineers an export weighs as candidates for those roles, at most (about 1.5 s at 1,000
engineers x 5,000 opportunities)."""
"""Runners-up listed per role; the rest are counted by reason."""


# ---------------------------------------------------------------------------------------------
# Answers


class Work(BaseModel):
    """An assignment that keeps an engineer busy, with the value at stake there."""

    opportunity_id: str
    demand_id: str
    expected_value: float = Field(description="Currency: the opportunity's expected value.")
    weeks: list[int] = Field(default_factory=list)


class Candidate(BaseModel):
    """Another engineer who has the role's skill, and why they were not chosen."""

    engineer_id: str
    eligible: bool = Field(description="Could serve the role if they were free.")
    rule: str = Field(description="Rule key of the reason (see module doc).")
    reason: str
    week: int | None = Field(None, description="The week the reason concerns, if any.")
    busy_with: list[Work] = Field(default_factory=list)
    pair_points: float | None = Field(None, description="Skill fit + travel of this pair.")


class Role(BaseModel):
    """One demand of the opportunity: who serves it and who else could have."""

    demand_id: str
    skill: str
    min_proficiency: int
    hours: float
    weeks: list[int]
    required: bool
    engineer_id: str | None = None
    terms: dict[str, float] = Field(
        default_factory=dict, description="Points this pair contributes, by objective term."
    )
    qualified: int = Field(0, description="Engineers with the skill at the minimum level.")
    reason_counts: dict[str, int] = Field(default_factory=dict)
    runners_up: list[Candidate] = Field(default_factory=list)
    reason: str = ""


class Change(BaseModel):
    """An engineer moved by a re-solve."""

    engineer_id: str
    demand_id: str
    change: str = Field(description="`added` or `removed`.")


class Price(BaseModel):
    """What forcing the opportunity staffed costs the rest of the allocation."""

    method: str
    exact: bool = Field(description="True when both allocations are proven optimal.")
    feasible: bool | None = Field(
        True, description="False: no allocation staffs it; None: none found by this method."
    )
    objective_change: float = Field(0.0, description="Points: forced minus current.")
    term_changes: dict[str, float] = Field(default_factory=dict)
    opportunities_losing: list[str] = Field(default_factory=list)
    changes: list[Change] = Field(default_factory=list)
    seconds: float = 0.0


class CapacityNeed(BaseModel):
    """Presales hours of one skill that the opportunity lacks for a role."""

    demand_id: str
    skill: str
    min_proficiency: int
    hours_per_week: float
    weeks: list[int]


class WhatItTakes(BaseModel):
    """The smallest changes that would get the opportunity staffed."""

    value_at_least: float | None = Field(
        None, description="Currency: deal value at which staffing it pays for its price."
    )
    value_method: str = ""
    capacity: list[CapacityNeed] = Field(default_factory=list)
    capacity_validated: bool | None = Field(
        None, description="A re-solve with the extra hours staffs it (None: not tried)."
    )
    capacity_used_instead_on: list[str] = Field(
        default_factory=list,
        description="When not validated: where the optimizer would rather use those hours.",
    )
    capacity_method: str = ""


class OpportunityExplanation(BaseModel):
    opportunity_id: str
    staffed: bool
    expected_value: float = Field(description="Currency.")
    tier: str
    requester: str
    roles: list[Role]
    reasons: list[str] = Field(default_factory=list)
    price: Price | None = None
    what_it_would_take: WhatItTakes | None = None
    summary: str


class Contrast(BaseModel):
    a: OpportunityExplanation
    b: OpportunityExplanation
    summary: str


class GroupShare(BaseModel):
    group: str
    opportunities: int
    requested_value: float
    covered_value: float
    share: float
    baseline_share: float | None = None


class Fairness(BaseModel):
    by_seniority_quartile: list[GroupShare]
    by_region: list[GroupShare]
    by_industry: list[GroupShare]
    by_tier: list[GroupShare]
    baseline: str
    permutation_check: str
    permutation_unchanged: bool | None = None
    summary: str


class WeekLoad(BaseModel):
    week: int
    committed_hours: float
    assigned_hours: float
    working_hours: float
    utilization: float


class EngineerExplanation(BaseModel):
    engineer_id: str
    weeks: list[WeekLoad]
    serves: list[Work]
    expected_value_supported: float = Field(
        description="Currency: expected value of the staffed opportunities served."
    )
    hours_weighted_value: float = Field(
        description="Currency: each served opportunity's value x this engineer's hours share."
    )
    summary: str


# ---------------------------------------------------------------------------------------------
# The facts of one run, looked up once


@dataclass
class Run:
    """A portfolio and its allocation, with the look-ups every explanation needs."""

    portfolio: Portfolio
    allocation: Allocation
    problem: CompiledProblem
    chosen: BoolArray
    engineers: dict[str, Engineer]
    opportunities: dict[str, Opportunity]
    demands: dict[str, Demand]
    roles_of: dict[str, list[Demand]]
    by_engineer: dict[str, list[Assignment]]
    by_demand: dict[str, Assignment]
    load: dict[tuple[str, int], float]
    value: dict[str, float]
    staffed: set[str]

    @classmethod
    def of(cls, portfolio: Portfolio, allocation: Allocation) -> Run:
        problem = compile_portfolio(portfolio)
        chosen = select_pairs(
            problem, ((a.engineer_id, a.demand_id) for a in allocation.assignments)
        )
        by_engineer: dict[str, list[Assignment]] = defaultdict(list)
        load: dict[tuple[str, int], float] = defaultdict(float)
        demands = portfolio.demand_by_id()
        for a in allocation.assignments:
            by_engineer[a.engineer_id].append(a)
            for week in demands[a.demand_id].weeks(portfolio.horizon_weeks):
                load[a.engineer_id, week] += a.hours
        return cls(
            portfolio=portfolio,
            allocation=allocation,
            problem=problem,
            chosen=chosen,
            engineers=portfolio.engineer_by_id(),
            opportunities=portfolio.opportunity_by_id(),
            demands=demands,
            roles_of=portfolio.demands_of(),
            by_engineer=dict(by_engineer),
            by_demand={a.demand_id: a for a in allocation.assignments},
            load=dict(load),
            value={o.id: expected_value(o, portfolio.policy) for o in portfolio.opportunities},
            staffed=set(allocation.staffed_opportunities),
        )

    @cached_property
    def index(self) -> PairIndex:
        """Pairs grouped by engineer, demand and opportunity, built once for every re-solve."""
        from allocator.solve.lns import PairIndex

        return PairIndex.of(self.problem)

    def opportunity(self, opportunity_id: str) -> Opportunity:
        if opportunity_id not in self.opportunities:
            raise NotFoundError(f"no opportunity {opportunity_id!r} in this run")
        return self.opportunities[opportunity_id]

    def free_hours(self, engineer: Engineer, week: int) -> float:
        free = engineer_week(engineer, week).free / HOUR_SCALE
        return free - self.load.get((engineer.id, week), 0.0)

    def work_of(self, engineer_id: str, weeks: Iterable[int] | None = None) -> list[Work]:
        wanted = None if weeks is None else set(weeks)
        works = []
        for a in self.by_engineer.get(engineer_id, []):
            active = list(self.demands[a.demand_id].weeks(self.portfolio.horizon_weeks))
            if wanted is None or wanted & set(active):
                works.append(
                    Work(
                        opportunity_id=a.opportunity_id,
                        demand_id=a.demand_id,
                        expected_value=round(self.value[a.opportunity_id], 2),
                        weeks=active,
                    )
                )
        return sorted(works, key=lambda w: -w.expected_value)


# ---------------------------------------------------------------------------------------------
# Roles and candidates


def pair_terms(run: Run, engineer: Engineer, demand: Demand) -> dict[str, float]:
    """Points the pair contributes to each term (load excluded: it belongs to the week)."""
    policy = run.portfolio.policy
    opportunity = run.opportunities[demand.opportunity_id]
    level = level_in(engineer, demand)
    kept = any(
        r.engineer_id == engineer.id
        and r.opportunity_id == demand.opportunity_id
        and r.demand_id in ("", demand.id)
        for r in run.portfolio.previous
    )
    return {
        "skill_fit": float(
            policy.skill_fit_weight * (level - demand.min_proficiency)
            + policy.industry_fit_weight * (opportunity.industry in engineer.industries)
        ),
        "region_match": float(-policy.travel_penalty * (engineer.region != opportunity.region)),
        "continuity": float(policy.continuity_penalty * kept),
    }


def _candidate(
    run: Run, engineer: Engineer, demand: Demand, chosen_points: float | None
) -> Candidate:
    """Why `engineer` does not serve `demand` in this run (they are not its engineer)."""
    horizon = run.portfolio.horizon_weeks
    level = level_in(engineer, demand)
    weeks = list(demand.weeks(horizon))
    if not proficient(level, demand.min_proficiency):
        return Candidate(
            engineer_id=engineer.id,
            eligible=False,
            rule="proficiency",
            reason=f"{engineer.id} has {demand.skill} at level {level}; the role needs "
            f"{demand.min_proficiency}",
        )
    for forbid in run.portfolio.forbids:
        if forbids_pair(forbid, engineer.id, demand):
            why = f" ({forbid.reason})" if forbid.reason else ""
            return Candidate(
                engineer_id=engineer.id,
                eligible=False,
                rule="forbid",
                reason=f"{forbid.label()}{why}",
            )
    need = centi_hours(demand.hours)
    for week in weeks:
        room = engineer_week(engineer, week).free
        if room < need:
            off = engineer.time_off.get(week, 0.0)
            capacity = centi_hours(engineer.capacity_hours)
            committed = committed_in(engineer, week)
            without_off = free_hours(capacity, committed, 0)
            if off and without_off >= need:
                rule, cause = "time_off", f"{off:g} h time off in {run.portfolio.week_label(week)}"
            else:
                rule, cause = (
                    "capacity",
                    (
                        f"{engineer.capacity_hours:g} h capacity, {committed / HOUR_SCALE:g} h "
                        f"committed elsewhere"
                    ),
                )
            return Candidate(
                engineer_id=engineer.id,
                eligible=False,
                rule=rule,
                week=week,
                reason=f"{engineer.id} has {room / HOUR_SCALE:g} h free in "
                f"{run.portfolio.week_label(week)} "
                f"({cause}); the role needs {demand.hours:g} h",
            )
    points = sum(pair_terms(run, engineer, demand).values())
    mine = run.by_engineer.get(engineer.id, [])
    if any(a.opportunity_id == demand.opportunity_id for a in mine):
        other = next(a.demand_id for a in mine if a.opportunity_id == demand.opportunity_id)
        return Candidate(
            engineer_id=engineer.id,
            eligible=True,
            rule="one_role_per_opportunity",
            reason=f"{engineer.id} already serves {other} on the same opportunity",
            pair_points=points,
        )
    limit = run.portfolio.policy.max_opportunities_per_engineer
    if len(mine) >= limit:
        busy = run.work_of(engineer.id)
        return Candidate(
            engineer_id=engineer.id,
            eligible=True,
            rule="opportunity_limit",
            reason=f"{engineer.id} already works on {len(mine)} opportunities (the limit is "
            f"{limit}): {_works(busy)}",
            busy_with=busy,
            pair_points=points,
        )
    for week in weeks:
        free = run.free_hours(engineer, week)
        if free < demand.hours:
            busy = run.work_of(engineer.id, [week])
            return Candidate(
                engineer_id=engineer.id,
                eligible=True,
                rule="busy",
                week=week,
                reason=f"{engineer.id} is better used elsewhere: {free:g} h left in "
                f"{run.portfolio.week_label(week)} "
                f"after {_works(busy)}",
                busy_with=busy,
                pair_points=points,
            )
    if chosen_points is not None:
        reason = (
            f"{engineer.id} is free but a weaker fit ({points:g} points against {chosen_points:g})"
            if points <= chosen_points
            else f"{engineer.id} is free and would fit better ({points:g} points against "
            f"{chosen_points:g}), but the chosen engineer is then needed less elsewhere"
        )
    else:
        reason = f"{engineer.id} is free and qualified"
    return Candidate(
        engineer_id=engineer.id, eligible=True, rule="weaker_fit", reason=reason, pair_points=points
    )


def _works(works: list[Work]) -> str:
    if not works:
        return "no other work"
    shown = ", ".join(
        f"{w.opportunity_id} (expected value {w.expected_value:,.0f})" for w in works[:3]
    )
    more = f" and {len(works) - 3} more" if len(works) > 3 else ""
    return shown + more


_ORDER = {
    "weaker_fit": 0,
    "busy": 1,
    "opportunity_limit": 2,
    "one_role_per_opportunity": 3,
    "time_off": 4,
    "capacity": 5,
    "forbid": 6,
    "proficiency": 7,
}


def explain_role(run: Run, demand: Demand) -> Role:
    """Who serves `demand`, what the pair brings, and why each other candidate does not."""
    assignment = run.by_demand.get(demand.id)
    chosen_points = None
    terms: dict[str, float] = {}
    if assignment is not None:
        terms = pair_terms(run, run.engineers[assignment.engineer_id], demand)
        chosen_points = sum(terms.values())
    candidates = [
        _candidate(run, e, demand, chosen_points)
        for e in run.portfolio.engineers
        if demand.skill in e.skills and (assignment is None or e.id != assignment.engineer_id)
    ]
    candidates.sort(key=lambda c: (_ORDER[c.rule], -(c.pair_points or 0.0), c.engineer_id))
    counts: dict[str, int] = defaultdict(int)
    for c in candidates:
        counts[c.rule] += 1
    qualified = sum(
        1
        for e in run.portfolio.engineers
        if e.skills.get(demand.skill, 0) >= demand.min_proficiency
    )
    weeks = list(demand.weeks(run.portfolio.horizon_weeks))
    role = Role(
        demand_id=demand.id,
        skill=demand.skill,
        min_proficiency=demand.min_proficiency,
        hours=demand.hours,
        weeks=weeks,
        required=demand.required,
        engineer_id=None if assignment is None else assignment.engineer_id,
        terms=terms,
        qualified=qualified,
        reason_counts=dict(counts),
        runners_up=candidates[:SHOWN_CANDIDATES],
    )
    role.reason = _role_reason(run, demand, role, candidates)
    return role


def _role_reason(run: Run, demand: Demand, role: Role, candidates: list[Candidate]) -> str:
    if role.engineer_id is not None:
        return f"served by {role.engineer_id}"
    need = f"{demand.skill} at level {demand.min_proficiency}"
    if not any(demand.skill in e.skills for e in run.portfolio.engineers):
        return f"no engineer anywhere has the skill {demand.skill}"
    if role.qualified == 0:
        best = max(e.skills.get(demand.skill, 0) for e in run.portfolio.engineers)
        return f"no engineer anywhere has {need} (the best has level {best})"
    free = [c for c in candidates if c.rule == "weaker_fit"]
    if free and not demand.required:
        top = max(free, key=lambda c: c.pair_points or 0.0)
        return (
            f"optional, and not worth it: {len(free)} qualified engineers are free, but the best, "
            f"{top.engineer_id}, adds {top.pair_points or 0.0:+g} points of fit and travel "
            f"before any load penalty"
        )
    if free:
        return f"{len(free)} qualified engineers are free for it, e.g. {free[0].engineer_id}"
    busy = [c for c in candidates if c.rule in ("busy", "opportunity_limit")]
    blocked = [c for c in candidates if c.rule in ("capacity", "time_off", "forbid")]
    parts = []
    if busy:
        parts.append(
            f"{len(busy)} are busy on other work, e.g. {busy[0].engineer_id} on "
            f"{_works(busy[0].busy_with)}"
        )
    if blocked:
        parts.append(f"{len(blocked)} cannot take it: {blocked[0].reason}")
    return f"every one of the {role.qualified} engineers with {need} is taken: " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Opportunities


def explain_opportunity(
    run: Run, opportunity_id: str, with_price: bool = True, time_limit: float = 3.0
) -> OpportunityExplanation:
    """Why the opportunity got its engineers or nobody; for an unstaffed one, the price of
    forcing it staffed and what it would take.

    >>> # explain_opportunity(Run.of(portfolio, allocation), "OPP-00042").summary
    """
    opportunity = run.opportunity(opportunity_id)
    roles = [explain_role(run, d) for d in run.roles_of.get(opportunity_id, [])]
    staffed = opportunity_id in run.staffed
    explanation = OpportunityExplanation(
        opportunity_id=opportunity_id,
        staffed=staffed,
        expected_value=round(run.value[opportunity_id], 2),
        tier=opportunity.tier,
        requester=opportunity.requester,
        roles=roles,
        summary="",
    )
    if not roles:
        explanation.reasons = ["it asks for no presales support in this horizon"]
    elif not staffed:
        explanation.reasons = _unstaffed_reasons(roles)
        if with_price:
            explanation.price = price_of_forcing(run, opportunity_id, time_limit)
            explanation.what_it_would_take = what_it_would_take(
                run, opportunity, roles, explanation.price, time_limit
            )
    explanation.summary = _opportunity_summary(run, opportunity, explanation)
    return explanation


def unstaffed_in_words(
    run: Run, most: int = EXPORT_REASONS, candidates: int = EXPORT_CANDIDATES
) -> dict[str, str]:
    """Opportunity id -> why it got nobody, in words, for exports: the binding reason of each
    required role as `explain_opportunity` gives it without a price (no re-solve), for the
    unstaffed opportunities of highest expected value, at most `most` of them and while the
    engineers weighed as candidates stay within `candidates` (so that a large run's export
    stays cheap). Left out: opportunities that cannot be staffed by construction (the result
    lists them with their reason), those beyond the limits, and all of them when the run has
    no allocation.

    >>> # write_plan_xlsx(portfolio, allocation, path, reasons=unstaffed_in_words(run))
    """
    if not run.allocation.status.has_solution:
        return {}
    listed = {u.opportunity_id for u in run.allocation.unstaffable}
    open_ones = [
        o.id
        for o in run.portfolio.opportunities
        if o.id not in run.staffed and o.id not in listed and run.roles_of.get(o.id)
    ]
    open_ones.sort(key=lambda o: -run.value[o])
    having: dict[str, int] = defaultdict(int)
    for e in run.portfolio.engineers:
        for skill in e.skills:
            having[skill] += 1
    reasons: dict[str, str] = {}
    for o in open_ones[:most]:
        candidates -= sum(having[d.skill] for d in run.roles_of[o])
        if candidates < 0:
            break
        reasons[o] = "; ".join(explain_opportunity(run, o, with_price=False).reasons)
    return reasons


def export_reasons(portfolio: Portfolio, allocation: Allocation) -> dict[str, str]:
    """`unstaffed_in_words` for a portfolio and its result (what the CLI, the API and the app
    pass to `io.exports`); compiles nothing when every opportunity is staffed or listed."""
    settled = set(allocation.staffed_opportunities) | {
        u.opportunity_id for u in allocation.unstaffable
    }
    if not allocation.status.has_solution or all(o.id in settled for o in portfolio.opportunities):
        return {}
    return unstaffed_in_words(Run.of(portfolio, allocation))


def _iso_span(horizon_start: str | None, first: int, last: int) -> str:
    """` (2026-W50 to 2026-W51)` with a calendar, else nothing."""
    if not horizon_start:
        return ""
    return f" ({iso_week_of(horizon_start, first)} to {iso_week_of(horizon_start, last)})"


def _unstaffed_reasons(roles: list[Role]) -> list[str]:
    required = [r for r in roles if r.required]
    missing = [r for r in required if not any(c.rule == "weaker_fit" for c in r.runners_up)]
    reasons = [f"role {r.demand_id} ({r.skill}): {r.reason}" for r in missing]
    if missing and len(missing) < len(required):
        names = ", ".join(r.demand_id for r in missing)
        reasons.append(
            f"the team could not be completed because {names} has nobody free; staffing the "
            f"other roles alone would burn capacity and win nothing"
        )
    if not missing:
        reasons.append(
            "every required role has a free qualified engineer, but staffing it would cost "
            "more points elsewhere than it brings (see the price)"
        )
    return reasons


def _opportunity_summary(run: Run, o: Opportunity, e: OpportunityExplanation) -> str:
    crm = f"CRM id {o.external_id}, " if o.external_id and o.external_id != o.id else ""
    account = f"account {o.account}, " if o.account else ""
    industry = o.industry or "industry not given"
    head = (
        f"{o.id} ({crm}{account}tier {o.tier}, {industry}, {o.region}; expected value "
        f"{e.expected_value:,.0f})"
    )
    if not e.roles:
        return f"{head} asks for no presales support in this horizon."
    if e.staffed:
        parts = []
        for role in e.roles:
            if role.engineer_id is None:
                parts.append(f"its optional role {role.demand_id} stays open ({role.reason})")
                continue
            engineer = run.engineers[role.engineer_id]
            level = engineer.skills.get(role.skill, 0)
            alt = role.runners_up[0].reason if role.runners_up else "nobody else has the skill"
            parts.append(
                f"{role.engineer_id} serves {role.demand_id} ({role.skill} level {level}, "
                f"{sum(role.terms.values()):+g} points of fit); next best: {alt}"
            )
        return f"{head} is staffed because its value pays for its team: " + "; ".join(parts) + "."
    text = f"{head} got nobody: " + "; ".join(e.reasons) + "."
    if e.price is not None:
        p = e.price
        if p.feasible is False:
            text += " It cannot be staffed at all under the hard rules."
        elif p.feasible is None:
            text += f" No way to staff it was found by a {p.method}."
        elif p.objective_change > 0:
            text += (
                f" Staffing it would even raise the objective by {p.objective_change:+,.2f} "
                f"points ({p.method}): the run stopped (status {run.allocation.status.value}) "
                f"before its search found this."
            )
        else:
            losing = ", ".join(p.opportunities_losing) or "no other opportunity"
            text += (
                f" Forcing it staffed changes the objective by {p.objective_change:+,.2f} points "
                f"({p.method}{', exact' if p.exact else ''}); {losing} would lose engineers."
            )
    w = e.what_it_would_take
    if w is not None and w.value_at_least is not None:
        text += f" It would be staffed at a deal value of at least {w.value_at_least:,.0f}."
    if w is not None and w.capacity:
        needs = "; ".join(
            f"{n.hours_per_week:g} more hours per week of {n.skill} (level "
            f"{n.min_proficiency}) in weeks {n.weeks[0]}-{n.weeks[-1]}"
            + _iso_span(run.portfolio.horizon_start, n.weeks[0], n.weeks[-1])
            for n in w.capacity
        )
        if w.capacity_validated:
            verdict = "a re-solve with those hours staffs it"
        else:
            instead = ", ".join(w.capacity_used_instead_on) or "nothing"
            verdict = f"not enough alone: a re-solve puts those hours on {instead}"
        text += f" Or: {needs} ({verdict})."
    return text


# ---------------------------------------------------------------------------------------------
# Prices by re-solving


def price_of_forcing(run: Run, opportunity_id: str, time_limit: float = 3.0) -> Price:
    """Re-solve with the opportunity forced staffed; the change of every term and who loses.

    Small problems are re-solved whole (exact when both solves are proven optimal); large
    ones in the neighbourhood of the engineers who could serve it, the rest held fixed: the
    cost found is then an upper bound on the true price.
    """
    started = time.perf_counter()
    problem = run.problem
    o = problem.opportunity_ids.index(opportunity_id)
    forced_mask = problem.opportunity_must_staff.copy()
    forced_mask[o] = True
    forced = dataclasses.replace(problem, opportunity_must_staff=forced_mask)
    if problem.n_pairs <= LNS_PAIRS:
        options = SolveOptions(time_limit=time_limit, workers=2, seed=0)
        result = solve_compiled(forced, options, hint=run.chosen)
        selection = result.chosen if result.status.has_solution else None
        proven_infeasible = result.status is SolveStatus.INFEASIBLE
        exact = (
            result.status is SolveStatus.OPTIMAL and run.allocation.status is SolveStatus.OPTIMAL
        )
        method = "whole allocation re-solved with the opportunity forced staffed"
    else:
        selection = _local_forced(run, o, time_limit)
        proven_infeasible = False
        exact = False
        method = (
            "neighbourhood re-solve (the engineers who could serve it and their work), "
            "the rest held fixed: an upper bound on the cost"
        )
    if selection is None:
        # Proven only when the whole problem was re-solved; a neighbourhood may just be small.
        return Price(
            method=method,
            exact=proven_infeasible,
            feasible=False if proven_infeasible else None,
            seconds=time.perf_counter() - started,
        )
    before = evaluate(problem, run.chosen)
    after = evaluate(problem, selection)
    staffed_before = staffed_opportunities(problem, run.chosen)
    staffed_after = staffed_opportunities(problem, selection)
    losing = [
        problem.opportunity_ids[i] for i in np.flatnonzero(staffed_before & ~staffed_after).tolist()
    ]
    changes = [
        Change(
            engineer_id=problem.engineer_ids[problem.pair_engineer[p]],
            demand_id=problem.demand_ids[problem.pair_demand[p]],
            change="added" if selection[p] else "removed",
        )
        for p in np.flatnonzero(selection != run.chosen).tolist()
    ]
    return Price(
        method=method,
        exact=exact,
        objective_change=(sum(after.values()) - sum(before.values())) / POINT_SCALE,
        term_changes={t: (after[t] - before[t]) / POINT_SCALE for t in TERM_NAMES},
        opportunities_losing=losing,
        changes=changes,
        seconds=time.perf_counter() - started,
    )


def _local_forced(run: Run, o: int, time_limit: float) -> BoolArray | None:
    """Staff opportunity `o` by re-solving only around it: the best candidates of each of its
    roles and the opportunities they work on; the circle widens (12, 48, 192 candidates per
    role) until a way is found or the time is up."""
    from allocator.solve import lns

    problem = run.problem
    index = run.index
    deadline = time.perf_counter() + time_limit
    for width in (12, 48, 192):
        remaining = deadline - time.perf_counter()
        if remaining <= 0.05:
            return None
        group, wanted = lns.forced_circle(problem, index, run.chosen, o, width)
        busy = np.zeros(problem.n_opportunities, dtype=bool)
        sub, pair_map = lns.neighbourhood(
            problem, index, run.chosen, group, np.random.default_rng(0), busy, wanted
        )
        sub = None if sub is None else lns.force_staffed(problem, sub, pair_map, o)
        if sub is None:
            continue
        options = SolveOptions(time_limit=remaining, workers=2, seed=0)
        result = solve_compiled(sub, options, hint=run.chosen[pair_map])
        if result.status.has_solution:
            selection = run.chosen.copy()
            selection[pair_map] = result.chosen
            return selection
    return None


def what_it_would_take(
    run: Run, opportunity: Opportunity, roles: list[Role], price: Price, time_limit: float = 3.0
) -> WhatItTakes:
    """The deal value that would pay for the price, and the extra hours per missing role."""
    policy = run.portfolio.policy
    answer = WhatItTakes()
    per_currency = (
        opportunity.win_probability
        * policy.tier_factors[opportunity.tier]
        * policy.value_weight
        / policy.value_unit
    )
    if price.feasible and price.objective_change > 0:
        answer.value_method = "nothing: staffing it already pays (the run stopped too early)"
    elif price.feasible and per_currency > 0:
        # Forced objective = current - displacement + this opportunity's own points.
        own = run.value[opportunity.id] * policy.value_weight / policy.value_unit
        displacement = -price.objective_change + own
        answer.value_at_least = max(0.0, displacement / per_currency)
        answer.value_method = (
            f"from the price ({price.method}): value x win probability x tier factor must "
            f"cover the {displacement:,.2f} points the rest of the allocation would lose"
        )
    elif price.feasible:
        answer.value_method = "no deal value suffices: its win probability or tier factor is 0"
    answer.capacity = [
        CapacityNeed(
            demand_id=r.demand_id,
            skill=r.skill,
            min_proficiency=r.min_proficiency,
            hours_per_week=r.hours,
            weeks=r.weeks,
        )
        for r in roles
        if r.required and r.engineer_id is None and not _has_free_candidate(r)
    ]
    if answer.capacity and run.problem.n_pairs <= LNS_PAIRS:
        staffed, elsewhere = _validate_capacity(run, opportunity, answer.capacity, time_limit)
        answer.capacity_validated = staffed
        answer.capacity_used_instead_on = elsewhere
        answer.capacity_method = (
            "the hours each blocked role needs, in its weeks, at its skill and level; validated "
            "by re-solving with one extra engineer per role offering exactly those hours"
        )
    elif answer.capacity:
        answer.capacity_method = (
            "the hours each blocked role needs, in its weeks, at its skill and level; not "
            f"re-solved at this size ({run.problem.n_pairs:,} candidate pairs)"
        )
    return answer


def _has_free_candidate(role: Role) -> bool:
    return any(c.rule == "weaker_fit" for c in role.runners_up)


def _validate_capacity(
    run: Run, opportunity: Opportunity, needs: list[CapacityNeed], time_limit: float
) -> tuple[bool, list[str]]:
    """Re-solve with one extra engineer per need (exactly its skill, level, hours and weeks,
    in the opportunity's region). Returns whether the opportunity is then staffed and, if
    not, the opportunities the extra engineers serve instead."""
    horizon = run.portfolio.horizon_weeks
    extra = []
    for k, need in enumerate(needs, start=1):
        off = {w: need.hours_per_week for w in range(1, horizon + 1) if w not in need.weeks}
        extra.append(
            Engineer(
                id=f"EXTRA-{k}-{need.skill}",
                region=opportunity.region,
                skills={need.skill: need.min_proficiency},
                capacity_hours=need.hours_per_week,
                time_off=off,
            )
        )
    changed = run.portfolio.model_copy(update={"engineers": (*run.portfolio.engineers, *extra)})
    result = solve(changed, SolveOptions(time_limit=time_limit, workers=2, seed=0))
    staffed = opportunity.id in result.staffed_opportunities
    ids = {e.id for e in extra}
    elsewhere = sorted(
        {a.opportunity_id for a in result.assignments if a.engineer_id in ids} - {opportunity.id}
    )
    return staffed, elsewhere


# ---------------------------------------------------------------------------------------------
# Contrast, fairness, engineers


def contrast(run: Run, a: str, b: str, time_limit: float = 3.0) -> Contrast:
    """Why did `a` get its engineers and `b` nobody (or both, or neither), side by side."""
    first = explain_opportunity(run, a, time_limit=time_limit)
    second = explain_opportunity(run, b, time_limit=time_limit)

    def who(e: OpportunityExplanation) -> str:
        names = [r.engineer_id for r in e.roles if r.engineer_id]
        return ", ".join(names) if e.staffed and names else "nobody"

    text = (
        f"{a} (tier {first.tier}, expected value {first.expected_value:,.0f}) got {who(first)}; "
        f"{b} (tier {second.tier}, expected value {second.expected_value:,.0f}) got "
        f"{who(second)}. "
    )
    for e in (first, second):
        if not e.staffed and e.reasons:
            text += f"{e.opportunity_id}: {e.reasons[0]}. "
    shared = {r.engineer_id for r in first.roles if r.engineer_id} & {
        c.engineer_id for r in second.roles for c in r.runners_up
    }
    if shared:
        text += (
            f"{', '.join(sorted(shared))} could have served {b} but serves {a}, whose value "
            f"{'is higher' if first.expected_value >= second.expected_value else 'needs them more'}"
            ". "
        )
    text += "Requester and seniority were not consulted."
    return Contrast(a=first, b=second, summary=text.strip())


@dataclass(frozen=True)
class Coverage:
    """What fairness reads of a run, made without compiling it (a `Run` has it all too)."""

    portfolio: Portfolio
    allocation: Allocation
    roles_of: dict[str, list[Demand]]
    value: dict[str, float]
    staffed: set[str]

    @classmethod
    def of(cls, portfolio: Portfolio, allocation: Allocation) -> Coverage:
        return cls(
            portfolio=portfolio,
            allocation=allocation,
            roles_of=portfolio.demands_of(),
            value={o.id: expected_value(o, portfolio.policy) for o in portfolio.opportunities},
            staffed=set(allocation.staffed_opportunities),
        )


def fairness(
    run: Run | Coverage,
    verify: bool = False,
    time_limit: float = 10.0,
    status_quo: set[str] | None = None,
) -> Fairness:
    """Share of requested expected value covered per requester-seniority quartile, region,
    industry and tier, next to the seniority-first status quo on the same portfolio
    (`status_quo`: the opportunities it staffs, when already known; solved here otherwise).
    `verify` re-solves, so it compiles a `Coverage` into a `Run`."""
    if status_quo is None:
        status_quo = set(run_baseline(run.portfolio, "seniority_first").staffed_opportunities)
    base_staffed = status_quo
    asking = [o for o in run.portfolio.opportunities if run.roles_of.get(o.id)]
    known = [o.requester_seniority_years for o in asking if o.requester_seniority_years is not None]
    years = np.array(known, dtype=float)
    cuts = np.quantile(years, [0.25, 0.5, 0.75]) if len(years) else np.zeros(3)

    def quartile(o: Opportunity) -> str:
        if o.requester_seniority_years is None:
            return "seniority not given"  # Never a quartile: an unknown is not the most senior.
        q = int(np.searchsorted(cuts, o.requester_seniority_years, side="right"))
        return ["Q1 (least senior)", "Q2", "Q3", "Q4 (most senior)"][min(q, 3)]

    def shares(key: str) -> list[GroupShare]:
        groups: dict[str, list[Opportunity]] = defaultdict(list)
        for o in asking:
            name = quartile(o) if key == "seniority" else str(getattr(o, key)) or "not given"
            groups[name].append(o)
        rows = []
        for name in sorted(groups):
            members = groups[name]
            requested = sum(run.value[o.id] for o in members)
            covered = sum(run.value[o.id] for o in members if o.id in run.staffed)
            base = sum(run.value[o.id] for o in members if o.id in base_staffed)
            rows.append(
                GroupShare(
                    group=name,
                    opportunities=len(members),
                    requested_value=round(requested, 2),
                    covered_value=round(covered, 2),
                    share=round(covered / requested, 4) if requested else 0.0,
                    baseline_share=round(base / requested, 4) if requested else 0.0,
                )
            )
        return rows

    unchanged = None
    check = (
        "the objective and the rules never read seniority, title or requester (allocator/core/"
        "rules.py); re-run with --verify to re-solve with them permuted"
    )
    if verify:
        compiled = run if isinstance(run, Run) else Run.of(run.portfolio, run.allocation)
        unchanged = _permutation_unchanged(compiled, time_limit)
        check = (
            "re-solved with requester, requester seniority, engineer seniority and title "
            "permuted at random (same seed): assignments "
            + ("identical" if unchanged else "DIFFERENT")
        )
    seniority = shares("seniority")
    low, high = seniority[0], seniority[-1]
    text = (
        (
            f"The optimizer covers {low.share:.0%} of the value requested by the least senior "
            "quarter "
            f"of salespeople and {high.share:.0%} for the most senior; the seniority-first status "
            f"quo would cover {low.baseline_share:.0%} and {high.baseline_share:.0%}. "
            f"{check[0].upper()}{check[1:]}."
        )
        if seniority
        else "No opportunity asks for support."
    )
    return Fairness(
        by_seniority_quartile=seniority,
        by_region=shares("region"),
        by_industry=shares("industry"),
        by_tier=shares("tier"),
        baseline="seniority_first",
        permutation_check=check,
        permutation_unchanged=unchanged,
        summary=text,
    )


def _permutation_unchanged(run: Run, time_limit: float) -> bool:
    rng = np.random.default_rng(7)
    p = run.portfolio
    opp_order = rng.permutation(len(p.opportunities))
    eng_order = rng.permutation(len(p.engineers))
    opportunities = tuple(
        o.model_copy(
            update={
                "requester": p.opportunities[j].requester,
                "requester_seniority_years": p.opportunities[j].requester_seniority_years,
            }
        )
        for o, j in zip(p.opportunities, opp_order.tolist(), strict=True)
    )
    engineers = tuple(
        e.model_copy(
            update={
                "seniority_years": p.engineers[j].seniority_years,
                "title": p.engineers[j].title,
            }
        )
        for e, j in zip(p.engineers, eng_order.tolist(), strict=True)
    )
    options = SolveOptions(time_limit=time_limit, workers=2, seed=0)
    original = solve(p, options)
    permuted = solve(
        p.model_copy(update={"opportunities": opportunities, "engineers": engineers}), options
    )
    return {(a.engineer_id, a.demand_id) for a in original.assignments} == {
        (a.engineer_id, a.demand_id) for a in permuted.assignments
    }


def explain_engineer(run: Run, engineer_id: str) -> EngineerExplanation:
    """Weekly utilization, the opportunities served and the expected value supported."""
    if engineer_id not in run.engineers:
        raise NotFoundError(f"no engineer {engineer_id!r} in this run")
    engineer = run.engineers[engineer_id]
    weeks = []
    for week in run.portfolio.weeks():
        working = engineer_week(engineer, week).worked / HOUR_SCALE
        assigned = run.load.get((engineer_id, week), 0.0)
        committed = committed_in(engineer, week) / HOUR_SCALE
        used = committed + assigned
        weeks.append(
            WeekLoad(
                week=week,
                committed_hours=committed,
                assigned_hours=assigned,
                working_hours=working,
                utilization=round(used / working, 4) if working else 0.0,
            )
        )
    serves = run.work_of(engineer_id)
    supported = sum(w.expected_value for w in serves if w.opportunity_id in run.staffed)
    weighted = 0.0
    horizon = run.portfolio.horizon_weeks
    for w in serves:
        team = [
            run.by_demand[d.id] for d in run.roles_of[w.opportunity_id] if d.id in run.by_demand
        ]
        total = sum(a.hours * len(run.demands[a.demand_id].weeks(horizon)) for a in team)
        mine = sum(
            a.hours * len(run.demands[a.demand_id].weeks(horizon))
            for a in team
            if a.engineer_id == engineer_id
        )
        if total:
            weighted += w.expected_value * mine / total
    peak = max((w.utilization for w in weeks), default=0.0)
    text = (
        f"{engineer_id} ({engineer.region}; skills "
        f"{', '.join(f'{s} {lvl}' for s, lvl in engineer.skills.items())}) serves "
        f"{len(serves)} opportunities ({', '.join(w.opportunity_id for w in serves) or 'none'}), "
        f"supporting {supported:,.0f} of expected value ({weighted:,.0f} by share of team hours); "
        f"peak utilization {peak:.0%} including committed hours."
    )
    return EngineerExplanation(
        engineer_id=engineer_id,
        weeks=weeks,
        serves=serves,
        expected_value_supported=round(supported, 2),
        hours_weighted_value=round(weighted, 2),
        summary=text,
    )


def explain_conflicts(run: Run) -> str:
    """An infeasible run's minimal conflicts in words, each pin and forbid with who set it and
    why; says whether the list is complete (see `describe_conflicts`)."""
    allocation = run.allocation
    sets = allocation.conflict_sets or ([allocation.conflicts] if allocation.conflicts else [])
    if not sets:
        return (
            "The run is not infeasible."
            if allocation.status.has_solution
            else ("No allocation was found, and no set of pins or forbids explains it.")
        )
    pins = {p.label(): p for p in run.portfolio.pins}
    forbids = {f.label(): f for f in run.portfolio.forbids}

    def words(label: str) -> str:
        record = pins.get(label) or forbids.get(label)
        if record is None or not (record.set_by or record.reason):
            return label
        reason = f": {record.reason}" if record.reason else ""
        return f"{label} (set by {record.set_by or 'unknown'}{reason})"

    return describe_conflicts(
        [[words(label) for label in labels] for labels in sets],
        allocation.conflicts_complete,
        allocation.conflicts_minimal,
    )
