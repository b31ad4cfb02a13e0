"""Investment evaluation: presales hours and cost against outcomes, per group, with intervals.

Per opportunity: its actual presales hours (reported timesheets only), their cost (hours x
the engineer's cost rate, or their level's rate; hours without a known rate are counted
apart, not priced at 0), its outcome and the value won. An opportunity is **supported** when
it got actual presales hours (> 0). Only **decided** opportunities (won, lost, no decision)
enter a rate; open ones and those without an outcome are counted and left out.

Per group (the whole pipeline, and each stage, industry, region, tier and opportunity):

- `win_rate_supported` / `win_rate_unsupported`: won / decided among the opportunities with
  / without presales hours, Wilson 95 % interval, n = decided opportunities in that set;
- `won_value_per_hour`: value won / presales hours, over the decided supported
  opportunities (a lost deal's hours count: they were invested), percentile bootstrap over
  those opportunities;
- `hours_per_won_deal` and `cost_per_won_deal`: presales hours (cost) / deals won, over the
  same set, bootstrap;
- `missing_weeks`: planned engineer-weeks on the group's opportunities with no timesheet:
  their hours are unknown and are not in the sums.

A row of a handful of opportunities has a wide interval; read the interval, not the value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from allocator.insight.records import (
    CLOSED,
    Actual,
    Outcome,
    OutcomeKind,
    PlannedRun,
    engineer_cost,
    last_week,
    period,
    planned_hours,
    reported_weeks,
)
from allocator.insight.stats import BOOTSTRAP, WILSON, Estimate, ratio_of_sums, wilson
from allocator.model import Portfolio

GROUPINGS = ("all", "stage", "industry", "region", "tier", "opportunity")


@dataclass(frozen=True)
class OpportunityFacts:
    """What one opportunity received and returned."""

    id: str
    levels: dict[str, str]
    value: float
    win_probability: float
    hours: float
    cost: float
    hours_unpriced: float
    missing_weeks: int
    outcome: OutcomeKind | None
    won_value: float

    @property
    def supported(self) -> bool:
        return self.hours > 0

    @property
    def decided(self) -> bool:
        return self.outcome in CLOSED

    @property
    def won(self) -> bool:
        return self.outcome is OutcomeKind.WON


def opportunity_facts(
    portfolio: Portfolio,
    actuals: Sequence[Actual],
    outcomes: Sequence[Outcome],
    runs: Sequence[PlannedRun] = (),
    level_rates: Mapping[str, float] | None = None,
) -> list[OpportunityFacts]:
    """One `OpportunityFacts` per opportunity of the portfolio, in its order."""
    rates = engineer_cost(portfolio, level_rates)
    hours: dict[str, float] = defaultdict(float)
    cost: dict[str, float] = defaultdict(float)
    unpriced: dict[str, float] = defaultdict(float)
    for a in actuals:
        hours[a.opportunity_id] += a.hours
        rate = rates.get(a.engineer_id)
        if rate is None:
            unpriced[a.opportunity_id] += a.hours
        else:
            cost[a.opportunity_id] += a.hours * rate
    reported = reported_weeks(actuals)
    missing: dict[str, int] = defaultdict(int)
    for (engineer, opportunity, week), planned in planned_hours(runs, last_week(actuals)).items():
        if planned > 0 and (engineer, week) not in reported:
            missing[opportunity] += 1
    result = {o.opportunity_id: o for o in outcomes}
    facts = []
    for o in portfolio.opportunities:
        outcome = result.get(o.id)
        facts.append(
            OpportunityFacts(
                id=o.id,
                levels={
                    "all": "all",
                    "stage": o.stage,
                    "industry": o.industry,
                    "region": o.region,
                    "tier": o.tier,
                    "opportunity": o.id,
                },
                value=o.value,
                win_probability=o.win_probability,
                hours=hours[o.id],
                cost=cost[o.id],
                hours_unpriced=unpriced[o.id],
                missing_weeks=missing[o.id],
                outcome=None if outcome is None else outcome.outcome,
                won_value=(outcome.value or 0.0)
                if outcome and outcome.outcome is OutcomeKind.WON
                else 0.0,
            )
        )
    return facts


class InvestmentRow(BaseModel):
    """One group's presales investment and what it returned."""

    grouping: str = Field(description="all, stage, industry, region, tier or opportunity.")
    level: str = Field(description="The group's value of that dimension.")
    opportunities: int = Field(description="Opportunities in the group.")
    decided: int = Field(description="With a decided outcome (won, lost, no decision).")
    open_or_unknown: int = Field(description="Still open, or with no outcome recorded.")
    supported: int = Field(description="With actual presales hours.")
    won: int = Field(description="Won.")
    hours: float = Field(description="Actual presales hours (reported timesheets).")
    cost: float = Field(description="Cost of those hours at known rates (currency).")
    hours_unpriced: float = Field(description="Hours with no known cost rate (not in cost).")
    missing_weeks: int = Field(description="Planned engineer-weeks with no timesheet.")
    value_won: float = Field(description="Value won (currency), all decided opportunities.")
    win_rate_supported: Estimate
    win_rate_unsupported: Estimate
    won_value_per_hour: Estimate = Field(description="Currency per presales hour.")
    hours_per_won_deal: Estimate = Field(description="Presales hours per deal won.")
    cost_per_won_deal: Estimate = Field(description="Currency per deal won.")


class InvestmentReport(BaseModel):
    """Presales investment against outcomes, per group (see `allocator.insight.investment`)."""

    period: str
    method: str
    rows: list[InvestmentRow]


def investment_row(grouping: str, level: str, facts: Sequence[OpportunityFacts]) -> InvestmentRow:
    """The figures of one group of opportunities (see the module doc)."""
    decided = [f for f in facts if f.decided]
    with_hours = [f for f in decided if f.supported]
    without = [f for f in decided if not f.supported]
    won = [1.0 if f.won else 0.0 for f in with_hours]
    return InvestmentRow(
        grouping=grouping,
        level=level,
        opportunities=len(facts),
        decided=len(decided),
        open_or_unknown=len(facts) - len(decided),
        supported=sum(f.supported for f in facts),
        won=sum(f.won for f in facts),
        hours=round(sum(f.hours for f in facts), 2),
        cost=round(sum(f.cost for f in facts), 2),
        hours_unpriced=round(sum(f.hours_unpriced for f in facts), 2),
        missing_weeks=sum(f.missing_weeks for f in facts),
        value_won=sum(f.won_value for f in decided),
        win_rate_supported=wilson(sum(f.won for f in with_hours), len(with_hours)),
        win_rate_unsupported=wilson(sum(f.won for f in without), len(without)),
        won_value_per_hour=ratio_of_sums(
            [f.won_value for f in with_hours], [f.hours for f in with_hours]
        ),
        hours_per_won_deal=ratio_of_sums([f.hours for f in with_hours], won),
        cost_per_won_deal=ratio_of_sums([f.cost for f in with_hours], won),
    )


def investment_report(
    portfolio: Portfolio,
    actuals: Sequence[Actual],
    outcomes: Sequence[Outcome],
    runs: Sequence[PlannedRun] = (),
    level_rates: Mapping[str, float] | None = None,
    groupings: Sequence[str] = GROUPINGS,
) -> InvestmentReport:
    """Rows for each grouping asked (`GROUPINGS`), groups in sorted order."""
    facts = opportunity_facts(portfolio, actuals, outcomes, runs, level_rates)
    rows = []
    for grouping in groupings:
        groups: dict[str, list[OpportunityFacts]] = defaultdict(list)
        for f in facts:
            groups[f.levels[grouping]].append(f)
        rows += [investment_row(grouping, level, groups[level]) for level in sorted(groups)]
    method = (
        "Supported = the opportunity got actual presales hours. Rates count decided "
        "opportunities only (won, lost, no decision). Win rates: " + WILSON + ". Won value "
        "per hour, hours and cost per won deal: ratios of sums over the decided supported "
        "opportunities, " + BOOTSTRAP + ". Missing timesheets are counted, not read as 0 h."
    )
    return InvestmentReport(period=period(actuals, outcomes), method=method, rows=rows)
