"""Each engineer's contribution, shown whole: the same view for the engineer and the manager.

No single score. Per engineer, over the weeks a run planned or the engineer reported:

- hours by opportunity: planned and actual, the opportunity's value, outcome and value won;
- planned against actual: the planned hours of the weeks they reported next to the actual
  hours, so that a missing timesheet does not read as under-delivery; the weeks without a
  timesheet are listed by name;
- value supported: the deal value of the opportunities they spent hours on (the full deal
  value each: a deal is supported by a team, so these do not add up across engineers), and of
  those decided, the ones won and the value won;
- utilization: actual presales hours / contracted hours (capacity minus time off is not known
  per ISO week, so capacity) over the weeks reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, Field

from allocator.insight.records import (
    CLOSED,
    Actual,
    Outcome,
    OutcomeKind,
    PlannedRun,
    last_week,
    period,
    planned_hours,
    reported_weeks,
    week_monday,
)
from allocator.model import Portfolio

METHOD = (
    "Hours come from the timesheets (actuals) and the accepted runs (plan). Planned against "
    "actual compares only the weeks the engineer reported; weeks with a plan and no "
    "timesheet are listed as missing, never counted as 0 h. Value supported is the full "
    "deal value of each opportunity the engineer spent hours on (teams share deals, so it "
    "does not add up across engineers); value won is the value of those won. Utilization is "
    "actual presales hours over contracted hours in the weeks reported. No single score: "
    "read the figures together."
)


class OpportunityHours(BaseModel):
    """An engineer's hours on one opportunity, and what became of it."""

    opportunity_id: str
    planned: float = Field(description="Hours planned over the planned weeks.")
    actual: float = Field(description="Hours reported over the reported weeks.")
    value: float = Field(description="Deal value (currency).")
    outcome: str = Field(description="won, lost, no_decision, open, or unknown.")
    value_won: float | None = Field(description="Value won (currency) when won.")


class Contribution(BaseModel):
    """One engineer's contribution (see `allocator.insight.contribution`)."""

    engineer_id: str
    name: str
    region: str
    weeks_planned: int = Field(description="ISO weeks with planned hours for the engineer.")
    weeks_reported: int = Field(description="ISO weeks with a timesheet.")
    missing_weeks: list[str] = Field(description="Weeks with planned hours and no timesheet.")
    planned_hours: float = Field(description="Planned hours, every planned week.")
    planned_hours_reported_weeks: float = Field(description="Planned hours in the weeks reported.")
    actual_hours: float = Field(description="Actual hours, every reported week.")
    over_plan_hours: float = Field(description="actual - planned, in the weeks reported.")
    utilization: float | None = Field(
        description="Actual hours / contracted hours over the weeks reported; null with none."
    )
    opportunities_supported: int = Field(description="With actual hours.")
    value_supported: float = Field(description="Deal value of those (currency).")
    decided: int = Field(description="Of those, decided.")
    won: int = Field(description="Of those, won.")
    value_won: float = Field(description="Value won of those (currency).")
    by_opportunity: list[OpportunityHours]


class ContributionReport(BaseModel):
    period: str
    method: str
    engineers: list[Contribution]


def contribution_report(
    portfolio: Portfolio,
    actuals: Sequence[Actual],
    outcomes: Sequence[Outcome],
    runs: Sequence[PlannedRun] = (),
    engineer_ids: Sequence[str] | None = None,
) -> ContributionReport:
    """One `Contribution` per engineer (or per engineer asked), in the portfolio's order."""
    opportunities = portfolio.opportunity_by_id()
    result = {o.opportunity_id: o for o in outcomes}
    planned = planned_hours(runs, last_week(actuals))
    reported = reported_weeks(actuals)
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    weeks_with_plan: dict[str, set[str]] = defaultdict(set)
    planned_reported: dict[str, float] = defaultdict(float)
    for (engineer, opportunity, week), hours in planned.items():
        per[engineer][opportunity][0] += hours
        if hours > 0:
            weeks_with_plan[engineer].add(week)
        if (engineer, week) in reported:
            planned_reported[engineer] += hours
    for a in actuals:
        per[a.engineer_id][a.opportunity_id][1] += a.hours
    asked = set(engineer_ids) if engineer_ids is not None else None
    rows = []
    for e in portfolio.engineers:
        if asked is not None and e.id not in asked:
            continue
        mine_reported = sorted({w for (x, w) in reported if x == e.id}, key=week_monday)
        missing = sorted(
            (w for w in weeks_with_plan[e.id] if (e.id, w) not in reported), key=week_monday
        )
        lines = []
        for opportunity, (plan, actual) in sorted(per[e.id].items()):
            o = opportunities.get(opportunity)
            outcome = result.get(opportunity)
            lines.append(
                OpportunityHours(
                    opportunity_id=opportunity,
                    planned=round(plan, 2),
                    actual=round(actual, 2),
                    value=o.value if o else 0.0,
                    outcome=outcome.outcome.value if outcome else "unknown",
                    value_won=outcome.value
                    if outcome and outcome.outcome is OutcomeKind.WON
                    else None,
                )
            )
        supported = [line for line in lines if line.actual > 0]
        actual_total = sum(line.actual for line in lines)
        contracted = e.capacity_hours * len(mine_reported)
        rows.append(
            Contribution(
                engineer_id=e.id,
                name=e.name,
                region=e.region,
                weeks_planned=len(weeks_with_plan[e.id]),
                weeks_reported=len(mine_reported),
                missing_weeks=missing,
                planned_hours=round(sum(line.planned for line in lines), 2),
                planned_hours_reported_weeks=round(planned_reported[e.id], 2),
                actual_hours=round(actual_total, 2),
                over_plan_hours=round(actual_total - planned_reported[e.id], 2),
                utilization=actual_total / contracted if contracted else None,
                opportunities_supported=len(supported),
                value_supported=sum(line.value for line in supported),
                decided=sum(line.outcome in {k.value for k in CLOSED} for line in supported),
                won=sum(line.outcome == OutcomeKind.WON.value for line in supported),
                value_won=sum(line.value_won or 0.0 for line in supported),
                by_opportunity=lines,
            )
        )
    return ContributionReport(period=period(actuals, outcomes), method=METHOD, engineers=rows)
