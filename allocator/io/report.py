"""Plain figures about one allocation: value covered, staffing by tier, utilization by region.

Service layer: computes from the domain (portfolio + allocation), formats nothing. The CLI
prints these figures as tables; the API returns them as JSON.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from allocator.core.rules import hours_free
from allocator.model import Allocation, Portfolio, expected_value


@dataclass(frozen=True)
class Summary:
    """The headline figures of a run."""

    status: str
    objective: float | None
    best_bound: float | None
    gap: float | None
    terms: dict[str, float]
    expected_value_covered: float
    """Tier-weighted currency: sum of value x win probability x tier factor over staffed
    opportunities (what the objective counts)."""
    expected_value_requested: float
    """Tier-weighted currency: the same sum over every opportunity that asks for support."""
    staffed_by_tier: dict[str, tuple[int, int]]
    """Tier -> (staffed, asking for support)."""
    utilization_by_region: dict[str, tuple[float, float]]
    """Region -> (hours assigned, hours available) over the horizon."""
    assignments: int
    message: str = ""
    conflicts: list[str] = field(default_factory=list)
    value_covered: float = 0.0
    """Currency: value x win probability over staffed opportunities, without tier factors."""
    value_requested: float = 0.0
    """Currency: the same over every opportunity that asks for support."""
    unstaffable: int = 0
    """Opportunities no allocation can staff (listed in the result with their reason)."""


def summarize(portfolio: Portfolio, allocation: Allocation) -> Summary:
    """The headline figures of `allocation` on `portfolio`."""
    staffed = set(allocation.staffed_opportunities)
    asking = {d.opportunity_id for d in portfolio.demands}
    covered = requested = plain_covered = plain_requested = 0.0
    by_tier: dict[str, list[int]] = {tier: [0, 0] for tier in ("A", "B", "C")}
    for o in portfolio.opportunities:
        if o.id not in asking:
            continue
        ev = expected_value(o, portfolio.policy)
        requested += ev
        plain_requested += o.value * o.win_probability
        by_tier[o.tier][1] += 1
        if o.id in staffed:
            covered += ev
            plain_covered += o.value * o.win_probability
            by_tier[o.tier][0] += 1
    weeks = portfolio.weeks()
    region_of = {e.id: e.region for e in portfolio.engineers}
    available: dict[str, float] = defaultdict(float)
    for e in portfolio.engineers:
        available[e.region] += hours_free(e, weeks)
    assigned: dict[str, float] = defaultdict(float)
    for a in allocation.assignments:
        assigned[region_of.get(a.engineer_id, "?")] += a.hours * (a.end_week - a.start_week + 1)
    regions = sorted(set(available) | set(assigned))
    return Summary(
        status=allocation.status.value,
        objective=allocation.objective,
        best_bound=allocation.best_bound,
        gap=allocation.gap,
        terms=dict(allocation.terms),
        expected_value_covered=covered,
        expected_value_requested=requested,
        staffed_by_tier={tier: (s, t) for tier, (s, t) in by_tier.items()},
        utilization_by_region={r: (assigned[r], available[r]) for r in regions},
        assignments=len(allocation.assignments),
        message=allocation.message,
        conflicts=list(allocation.conflicts),
        value_covered=plain_covered,
        value_requested=plain_requested,
        unstaffable=len(allocation.unstaffable),
    )
