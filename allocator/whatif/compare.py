"""Scenarios side by side: the figures of each solved scenario, and what changed from the base.

Service layer: computes from the domain (portfolio + allocation) and the sweep's results; no
formats, no plots (`plots.py`), no I/O. Imports `report`, `sweep` and the domain.

Figures (currency is the portfolio's; hours are presales hours over the horizon):
- expected value covered and requested (value x win probability x tier factor);
- opportunities staffed / asking for support, by customer tier, region and industry;
- utilization by region: hours assigned / hours available of the engineers living there;
- unmet demand by skill x region: hours of every role (required or optional) left unstaffed,
  by the role's skill and the opportunity's region;
- assignment churn against the base: of the base's assignments (engineer, demand), how many
  are kept, given to another engineer, or dropped (the demand is no longer served), and how
  many demands are newly served; `share` = (reassigned + dropped) / base assignments.
The assignment diff lists every demand whose engineer changed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from pydantic import BaseModel, Field

from allocator.io.report import summarize
from allocator.model import Allocation, Portfolio
from allocator.whatif.sweep import SolvedScenario, SweepResult


class Count(BaseModel):
    """Opportunities staffed out of those asking for support."""

    staffed: int
    asking: int


class Utilization(BaseModel):
    """Presales hours assigned and available over the horizon."""

    assigned_hours: float
    available_hours: float

    @property
    def share(self) -> float:
        return self.assigned_hours / self.available_hours if self.available_hours else 0.0


class Figures(BaseModel):
    """The headline figures of one solved scenario (or of the base)."""

    name: str
    status: str
    objective: float | None = Field(description="Points.")
    best_bound: float | None = Field(description="Points; proven upper bound.")
    engineers: int
    assignments: int
    expected_value_covered: float = Field(
        description="Tier-weighted currency: value x win probability x tier factor."
    )
    expected_value_requested: float = Field(
        description="Tier-weighted currency: value x win probability x tier factor."
    )
    staffed_by_tier: dict[str, Count]
    staffed_by_region: dict[str, Count]
    staffed_by_industry: dict[str, Count]
    utilization_by_region: dict[str, Utilization]
    unmet_demand_hours: dict[str, dict[str, float]] = Field(
        description="Skill -> region -> unstaffed demand hours over the horizon."
    )

    @property
    def unmet_hours(self) -> float:
        return sum(sum(by_region.values()) for by_region in self.unmet_demand_hours.values())

    @property
    def staffed(self) -> int:
        return sum(c.staffed for c in self.staffed_by_tier.values())


class AssignmentChange(BaseModel):
    """One demand whose engineer differs between the base and the scenario."""

    demand_id: str
    opportunity_id: str
    skill: str
    base_engineer: str | None
    scenario_engineer: str | None
    change: Literal["added", "dropped", "reassigned"]


class Churn(BaseModel):
    """How much of the base's allocation the scenario keeps."""

    base_assignments: int
    kept: int
    reassigned: int
    dropped: int
    added: int

    @property
    def share(self) -> float:
        """Share of the base's assignments that the scenario changes."""
        return (
            (self.reassigned + self.dropped) / self.base_assignments
            if self.base_assignments
            else 0.0
        )


class Comparison(BaseModel):
    """One scenario against the base."""

    name: str
    notes: list[str]
    hired: list[str]
    removed: list[str]
    opportunities_added: int
    opportunities_removed: int
    figures: Figures
    value_delta: float = Field(description="Currency: expected value covered minus the base's.")
    objective_delta: float | None = Field(description="Points.")
    churn: Churn
    changes: list[AssignmentChange]


class SweepComparison(BaseModel):
    """The base and every scenario, side by side."""

    base: Figures
    scenarios: list[Comparison]
    executor: str
    time_limit: float
    seed: int
    seconds: float

    def get(self, name: str) -> Comparison:
        for comparison in self.scenarios:
            if comparison.name == name:
                return comparison
        raise KeyError(name)


def figures(name: str, portfolio: Portfolio, allocation: Allocation) -> Figures:
    """The figures of `allocation` on `portfolio` (see module doc)."""
    summary = summarize(portfolio, allocation)
    staffed = set(allocation.staffed_opportunities)
    asking = {d.opportunity_id for d in portfolio.demands}
    by_region: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_industry: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in portfolio.opportunities:
        if o.id not in asking:
            continue
        for counts, key in ((by_region, o.region), (by_industry, o.industry)):
            counts[key][1] += 1
            counts[key][0] += o.id in staffed
    served = {a.demand_id for a in allocation.assignments}
    region_of = {o.id: o.region for o in portfolio.opportunities}
    unmet: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for d in portfolio.demands:
        if d.id not in served:
            hours = d.hours * len(d.weeks(portfolio.horizon_weeks))
            unmet[d.skill][region_of[d.opportunity_id]] += hours
    return Figures(
        name=name,
        status=summary.status,
        objective=summary.objective,
        best_bound=summary.best_bound,
        engineers=len(portfolio.engineers),
        assignments=summary.assignments,
        expected_value_covered=summary.expected_value_covered,
        expected_value_requested=summary.expected_value_requested,
        staffed_by_tier={
            t: Count(staffed=s, asking=n) for t, (s, n) in summary.staffed_by_tier.items()
        },
        staffed_by_region=_counts(by_region),
        staffed_by_industry=_counts(by_industry),
        utilization_by_region={
            r: Utilization(assigned_hours=a, available_hours=v)
            for r, (a, v) in summary.utilization_by_region.items()
        },
        unmet_demand_hours={
            skill: dict(sorted(regions.items())) for skill, regions in sorted(unmet.items())
        },
    )


def _counts(counts: dict[str, list[int]]) -> dict[str, Count]:
    return {k: Count(staffed=s, asking=n) for k, (s, n) in sorted(counts.items())}


def assignment_diff(base: Allocation, scenario: Allocation) -> tuple[Churn, list[AssignmentChange]]:
    """Churn and the per-demand changes from `base` to `scenario` (demands by id)."""
    before = {a.demand_id: a for a in base.assignments}
    after = {a.demand_id: a for a in scenario.assignments}
    changes = []
    kept = reassigned = dropped = added = 0
    for demand_id in sorted(set(before) | set(after)):
        b, s = before.get(demand_id), after.get(demand_id)
        if b is not None and s is not None and b.engineer_id == s.engineer_id:
            kept += 1
            continue
        change: Literal["added", "dropped", "reassigned"]
        if b is None:
            change, added = "added", added + 1
        elif s is None:
            change, dropped = "dropped", dropped + 1
        else:
            change, reassigned = "reassigned", reassigned + 1
        either = s if s is not None else b
        assert either is not None
        changes.append(
            AssignmentChange(
                demand_id=demand_id,
                opportunity_id=either.opportunity_id,
                skill=either.skill,
                base_engineer=b.engineer_id if b is not None else None,
                scenario_engineer=s.engineer_id if s is not None else None,
                change=change,
            )
        )
    churn = Churn(
        base_assignments=len(before), kept=kept, reassigned=reassigned, dropped=dropped, added=added
    )
    return churn, changes


def compare(
    base: SolvedScenario, scenario: SolvedScenario, base_figures: Figures | None = None
) -> Comparison:
    """`scenario` against `base`: its figures, the deltas, churn and the assignment diff."""
    reference = base_figures or figures("base", base.portfolio, base.allocation)
    mine = figures(scenario.name, scenario.portfolio, scenario.allocation)
    churn, changes = assignment_diff(base.allocation, scenario.allocation)
    objective_delta = None
    if mine.objective is not None and reference.objective is not None:
        objective_delta = round(mine.objective - reference.objective, 2)
    applied = scenario.applied
    return Comparison(
        name=scenario.name,
        notes=list(applied.notes),
        hired=list(applied.hired),
        removed=list(applied.removed),
        opportunities_added=len(applied.opportunities_added),
        opportunities_removed=len(applied.opportunities_removed),
        figures=mine,
        value_delta=mine.expected_value_covered - reference.expected_value_covered,
        objective_delta=objective_delta,
        churn=churn,
        changes=changes,
    )


def compare_sweep(result: SweepResult, names: list[str] | None = None) -> SweepComparison:
    """Every scenario of `result` (or those named) against its base."""
    base = figures("base", result.base.portfolio, result.base.allocation)
    chosen = result.scenarios if names is None else [result.by_name(n) for n in names]
    return SweepComparison(
        base=base,
        scenarios=[compare(result.base, s, base) for s in chosen],
        executor=result.executor,
        time_limit=result.options.time_limit,
        seed=result.options.seed,
        seconds=round(result.seconds, 2),
    )
