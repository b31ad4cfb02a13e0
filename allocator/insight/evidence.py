"""Staffing ratios from evidence: headcounts and what a presales hour covered, per region and
industry, next to the ratio sweep's marginal value.

Per region (engineers by home region) and per industry (engineers who list it), with the
headcounts of `whatif.scenarios.staffing` (sales = distinct requesters):

- the measured ratio presales:sales (`1:2.5`), which a sweep can start from
  (`allocator sweep ratio --from 1:2.5`);
- actual presales hours on the scope's opportunities (reported timesheets), the deal value
  of the opportunities that got hours (covered value), covered value per presales hour and
  won value per presales hour (decided opportunities), each a ratio of sums with its
  percentile bootstrap interval over the opportunities;
- when a ratio sweep of the scope is given (`whatif.ratios.RatioCurve`), the marginal value
  of the next engineer after today's headcount (currency per engineer, expected value);
  `sweep_from_evidence` runs that sweep from the measured headcount.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from allocator.errors import InputIssue, InvalidInputError
from allocator.insight.records import CLOSED, Actual, Outcome, OutcomeKind, period
from allocator.insight.stats import BOOTSTRAP, Estimate, ratio_of_sums
from allocator.model import Portfolio
from allocator.whatif.ratios import RatioCurve, RatioSweepSpec, ratio_sweep
from allocator.whatif.scenarios import staffing
from allocator.whatif.sweep import SweepOptions


class EvidenceRow(BaseModel):
    """One region's or industry's measured staffing and return."""

    scope: str = Field(description="`region East` or `industry finance`.")
    presales: int
    sales: int
    ratio: str = Field(description="Measured presales:sales, like 1:2.5.")
    sweep_from: str = Field(
        description="The same, exact (`3:7`): a ratio sweep's `from` that gives today's headcount."
    )
    opportunities: int
    hours: float = Field(description="Actual presales hours on the scope's opportunities.")
    covered_value: float = Field(description="Deal value of those that got hours (currency).")
    covered_value_per_hour: Estimate = Field(description="Currency per presales hour.")
    won_value_per_hour: Estimate = Field(description="Currency won per presales hour, decided.")
    sweep_marginal_value: float | None = Field(
        description="From a ratio sweep: expected value the next engineer adds (currency); "
        "null when no sweep of the scope was given."
    )


class EvidenceReport(BaseModel):
    period: str
    method: str
    rows: list[EvidenceRow]


def _next_marginal(curve: RatioCurve) -> float | None:
    later = [p for p in curve.points if p.presales > curve.current_presales]
    return later[0].marginal_value if later else None


def evidence_report(
    portfolio: Portfolio,
    actuals: Sequence[Actual],
    outcomes: Sequence[Outcome],
    sweeps: Mapping[str, RatioCurve] | None = None,
) -> EvidenceReport:
    """Rows for every region and industry of the portfolio's opportunities."""
    hours: dict[str, float] = defaultdict(float)
    for a in actuals:
        hours[a.opportunity_id] += a.hours
    result = {o.opportunity_id: o for o in outcomes}
    rows = []
    for dimension in ("region", "industry"):
        for level in sorted({str(getattr(o, dimension)) for o in portfolio.opportunities}):
            mine = [o for o in portfolio.opportunities if getattr(o, dimension) == level]
            kwargs = {dimension: level}
            staff = staffing(portfolio.engineers, portfolio.opportunities, **kwargs)
            decided = [
                o
                for o in mine
                if o.id in result and result[o.id].outcome in CLOSED and hours[o.id] > 0
            ]
            won = [
                (result[o.id].value or 0.0) if result[o.id].outcome is OutcomeKind.WON else 0.0
                for o in decided
            ]
            curve = (sweeps or {}).get(staff.scope)
            rows.append(
                EvidenceRow(
                    scope=staff.scope,
                    presales=staff.presales,
                    sales=staff.sales,
                    ratio=staff.ratio(),
                    sweep_from=f"{staff.presales}:{staff.sales}",
                    opportunities=len(mine),
                    hours=round(sum(hours[o.id] for o in mine), 2),
                    covered_value=sum(o.value for o in mine if hours[o.id] > 0),
                    covered_value_per_hour=ratio_of_sums(
                        [o.value if hours[o.id] > 0 else 0.0 for o in mine],
                        [hours[o.id] for o in mine],
                    ),
                    won_value_per_hour=ratio_of_sums(won, [hours[o.id] for o in decided]),
                    sweep_marginal_value=None if curve is None else _next_marginal(curve),
                )
            )
    method = (
        "Presales = engineers by home region (region) or who list the industry (industry); "
        "sales = distinct requesters of the scope's opportunities. Value per hour: ratios of "
        "sums over the scope's opportunities, " + BOOTSTRAP + ". The sweep's marginal value "
        "is the expected value the next engineer adds in a re-solve (allocator sweep ratio)."
    )
    return EvidenceReport(period=period(actuals, outcomes), method=method, rows=rows)


def sweep_from_evidence(
    portfolio: Portfolio,
    region: str | None = None,
    industry: str | None = None,
    extra: int = 2,
    options: SweepOptions | None = None,
) -> RatioCurve:
    """The ratio sweep of a region (or industry) started from its measured headcount: today's
    presales:sales (written exactly, `3:7`), then one more engineer at a time up to `extra`
    more, each re-solved (`whatif.ratios.ratio_sweep`, every engineer its own point).
    InvalidInputError when the scope has no presales or no sales to start from."""
    staff = staffing(portfolio.engineers, portfolio.opportunities, region, industry)
    if staff.presales == 0 or staff.sales == 0:
        where = "--sweep-region" if region is not None else "--sweep-industry"
        message = "has no presales engineers or no salespeople to measure a ratio from"
        raise InvalidInputError([InputIssue(where, "", message, region or industry)])
    spec = RatioSweepSpec.model_validate(
        {
            "region": region,
            "industry": industry,
            "from": f"{staff.presales}:{staff.sales}",  # Exact: 1:2.33 may round up a head.
            "to": f"{staff.presales + extra}:{staff.sales}",
            "steps": extra + 1,
            "every_engineer": True,
        }
    )
    return ratio_sweep(portfolio, spec, options or SweepOptions(time_limit=2.0, processes=1))
