"""Presales-to-sales ratio sweeps: covered value as a region's (or industry's) ratio changes.

Service layer: builds `set_ratio` scenarios (`scenarios.py`), solves them with the sweep
(`sweep.py`) and reads the curve; no formats, no plots. Imports `scenarios`, `sweep`,
`compare` and the domain.

Each requested ratio becomes a presales headcount (`ceil(sales x presales / sales)`, sales =
distinct salespeople in the scope); ratios that give the same headcount share one solve, and
the current headcount is the base itself. The curve has one point per headcount, in
increasing order; each point's marginal value is the change in expected value covered per
engineer added since the previous point (the average over the engineers added in that step;
`every_engineer=True` solves every headcount in between, so that each engineer gets their own).

>>> spec = RatioSweepSpec.model_validate({"region": "East", "from": "1:6", "to": "1:2"})
>>> spec.steps
9
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from allocator.core.limits import Limits, growth_issue
from allocator.errors import InputIssue, InvalidInputError
from allocator.model import Portfolio
from allocator.whatif.compare import figures
from allocator.whatif.scenarios import (
    Profile,
    Scenario,
    SetRatio,
    Staffing,
    check_scenario,
    default_profile,
    fit_profile,
    parse_ratio,
    ratio_steps,
    staffing,
)
from allocator.whatif.sweep import Executor, Progress, SweepOptions, SweepResult, run_sweep


class RatioPoint(BaseModel):
    """One headcount of the scope and what it covers."""

    presales: int = Field(description="Presales engineers in the scope.")
    ratio: str = Field(description="Presales to sales at this headcount, like 1:2.5.")
    requested: list[str] = Field(description="The requested ratios that give this headcount.")
    current: bool = Field(description="True for the base portfolio's own headcount.")
    hired: int = Field(description="Engineers hired to reach this headcount.")
    released: int = Field(description="Engineers released to reach it (release rule).")
    status: str = Field(description="Solver status of this headcount's solve.")
    expected_value_covered: float = Field(
        description="Tier-weighted currency: value x win probability x tier factor."
    )
    objective: float | None = Field(description="Points.")
    staffed: int = Field(description="Opportunities staffed (all tiers).")
    marginal_value: float | None = Field(
        description="Currency per engineer: change in value covered since the previous point, "
        "divided by the engineers added since then."
    )


class RatioCurve(BaseModel):
    """Value covered against presales headcount in one region or industry."""

    scope: str = Field(description="`region East` or `industry finance`.")
    sales: int = Field(
        description="Salespeople in the scope: the real headcount when the sweep gave it, "
        "else the distinct requesters of its opportunities."
    )
    sales_source: str = Field(
        "requesters", description="`given` (the real headcount) or `requesters`."
    )
    current_presales: int = Field(description="Presales engineers in the scope today.")
    profile: dict[str, Any] = Field(description="Who is hired when the ratio needs more.")
    points: list[RatioPoint] = Field(description="One point per headcount, increasing.")
    release_rule: str = Field(
        "fewest hours assigned in the base run first, then fewest hours available, then id",
        description="Who goes first when the ratio needs fewer engineers.",
    )
    time_limit: float = Field(description="Seconds of search per solve.")
    seed: int = Field(description="Random seed of every solve.")
    executor: str = Field(description="Where the solves ran: local, ray or serial.")
    seconds: float = Field(description="Wall seconds of the sweep.")


def _check_scope(
    portfolio: Portfolio, region: str | None, industry: str | None, profile: Profile | None
) -> None:
    """Unknown region or industry, no salespeople, a bad profile: named errors."""
    edit = SetRatio(region=region, industry=industry, ratio="1:1", profile=profile)
    check_scenario(portfolio, Scenario(name="ratio sweep", edits=(edit,)))


def hire_profile(
    portfolio: Portfolio,
    region: str | None = None,
    industry: str | None = None,
    skill: str | None = None,
    level: int = 4,
    capacity_hours: float = 40.0,
    home: str | None = None,
) -> Profile:
    """The hires of a ratio sweep: `default_profile` of the scope, with any of skill, level,
    weekly capacity and home region given instead."""
    _check_scope(portfolio, region, industry, None)
    derived = default_profile(portfolio, region, industry, level)
    profile = Profile(
        skills={skill or derived.main_skill(): level},
        region=home or derived.region,
        industries=derived.industries,
        capacity_hours=capacity_hours,
    )
    _check_scope(portfolio, region, industry, profile)
    return profile


class RatioSweepSpec(BaseModel):
    """A ratio sweep as requested: the scope, the ratios, and who is hired."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    region: str | None = Field(None, description="The region whose ratio changes.")
    industry: str | None = Field(None, description="Or the industry.")
    start: str = Field("1:6", alias="from", description="First ratio, presales:sales.")
    stop: str = Field("1:2", alias="to", description="Last ratio, presales:sales.")
    steps: int = Field(9, ge=2, le=200, description="Ratios from `from` to `to`.")
    profile: Profile | None = Field(
        None, description="Who is hired; default: the scope's most demanded skill at level 4."
    )
    every_engineer: bool = Field(
        False, description="Solve every headcount in between, not only the steps."
    )
    sales: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="The scope's real sales headcount (from HR); default: the distinct "
        "requesters of its opportunities, who may be fewer.",
    )

    @field_validator("start", "stop")
    @classmethod
    def _ratio(cls, text: str) -> str:
        parse_ratio(text)
        return text


@dataclass(frozen=True)
class RatioPlan:
    """The headcounts a ratio sweep solves, and the scenarios that reach them."""

    scope: str
    sales: int
    current_presales: int
    profile: Profile
    requested: dict[int, list[str]]
    """Headcount -> the requested ratios that give it."""
    counts: list[int]
    """Headcounts to solve, increasing, without today's (the base)."""
    region: str | None
    industry: str | None
    sales_given: bool = False
    """True when the spec gave the real sales headcount."""

    def scenarios(self) -> list[Scenario]:
        """One `set_ratio` scenario per headcount, named `<n> presales`."""
        return [
            Scenario(
                name=f"{n} presales",
                edits=(
                    SetRatio(
                        region=self.region,
                        industry=self.industry,
                        ratio=f"{n}:{self.sales}",
                        profile=self.profile,
                        sales=self.sales if self.sales_given else None,
                    ),
                ),
            )
            for n in self.counts
        ]


def plan_ratio_sweep(
    portfolio: Portfolio, spec: RatioSweepSpec, limits: Limits | None = None
) -> RatioPlan:
    """The headcounts and scenarios of `spec` on `portfolio`; named errors for a bad scope or
    a headcount that would pass the engineers limit (found before any scenario is made)."""
    region, industry = spec.region, spec.industry
    if (region is None) == (industry is None):
        raise InvalidInputError(
            [InputIssue("ratio sweep", "region", "give a region or an industry")]
        )
    _check_scope(portfolio, region, industry, spec.profile)
    now = staffing(portfolio.engineers, portfolio.opportunities, region, industry)
    if spec.sales is not None:
        now = Staffing(now.scope, now.presales, spec.sales)
    hire = spec.profile or default_profile(portfolio, region, industry)
    hire, problem = fit_profile(hire, region, industry)
    if problem:
        raise InvalidInputError([InputIssue("ratio sweep", "profile.region", problem, hire.region)])
    requested: dict[int, list[str]] = {}
    ratios = ratio_steps(parse_ratio(spec.start), parse_ratio(spec.stop), spec.steps)
    for ratio in ratios:
        requested.setdefault(ratio.target(now.sales), []).append(str(ratio))
    counts = set(requested)
    too_many = growth_issue(
        "ratio sweep",
        "to",
        "engineers",
        len(portfolio.engineers),
        max(counts) - now.presales,
        (limits or Limits()).engineers,
    )
    if too_many is not None:
        raise InvalidInputError([too_many])
    if spec.every_engineer:
        counts = set(range(min(counts | {now.presales}), max(counts | {now.presales}) + 1))
    counts.discard(now.presales)
    return RatioPlan(
        now.scope,
        now.sales,
        now.presales,
        hire,
        requested,
        sorted(counts),
        region,
        industry,
        sales_given=spec.sales is not None,
    )


def ratio_curve(plan: RatioPlan, result: SweepResult) -> RatioCurve:
    """The curve of a sweep of `plan.scenarios()` (in that order) against its base."""
    solved = dict(zip(plan.counts, result.scenarios, strict=True))
    points: list[RatioPoint] = []
    for n in sorted([*plan.counts, plan.current_presales]):
        current = n == plan.current_presales
        run = result.base if current else solved[n]
        figs = figures(run.name, run.portfolio, run.allocation)
        points.append(
            RatioPoint(
                presales=n,
                ratio=f"1:{plan.sales / n:.3g}" if n else f"0:{plan.sales}",
                requested=plan.requested.get(n, []),
                current=current,
                hired=len(run.applied.hired),
                released=len(run.applied.removed),
                status=figs.status,
                expected_value_covered=figs.expected_value_covered,
                objective=figs.objective,
                staffed=figs.staffed,
                marginal_value=None,
            )
        )
    for previous, point in itertools.pairwise(points):
        added = point.presales - previous.presales
        point.marginal_value = (
            point.expected_value_covered - previous.expected_value_covered
        ) / added
    return RatioCurve(
        scope=plan.scope,
        sales=plan.sales,
        sales_source="given" if plan.sales_given else "requesters",
        current_presales=plan.current_presales,
        profile=plan.profile.model_dump(),
        points=points,
        time_limit=result.options.time_limit,
        seed=result.options.seed,
        executor=result.executor,
        seconds=round(result.seconds, 2),
    )


def ratio_sweep(
    portfolio: Portfolio,
    spec: RatioSweepSpec,
    options: SweepOptions = SweepOptions(),
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> RatioCurve:
    """Solve the scope at each ratio of `spec`; see module doc.

    >>> spec = RatioSweepSpec(region="East", start="1:6", stop="1:2", steps=9)  # doctest: +SKIP
    >>> ratio_sweep(portfolio, spec).points[0].presales  # doctest: +SKIP
    """
    plan = plan_ratio_sweep(portfolio, spec)
    result = run_sweep(portfolio, plan.scenarios(), options, progress, executor)
    return ratio_curve(plan, result)
