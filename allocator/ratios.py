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

>>> start, stop = parse_ratio("1:6"), parse_ratio("1:2")  # doctest: +SKIP
>>> curve = ratio_sweep(portfolio, start, stop, steps=9, region="East")  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import BaseModel, Field

from allocator.compare import figures
from allocator.errors import InputIssue, InvalidInputError
from allocator.model import Portfolio
from allocator.scenarios import (
    Profile,
    Ratio,
    Scenario,
    SetRatio,
    check_scenario,
    default_profile,
    ratio_steps,
    staffing,
)
from allocator.sweep import Executor, Progress, SweepOptions, run_sweep


class RatioPoint(BaseModel):
    """One headcount of the scope and what it covers."""

    presales: int = Field(description="Presales engineers in the scope.")
    ratio: str = Field(description="Presales to sales at this headcount, like 1:2.5.")
    requested: list[str] = Field(description="The requested ratios that give this headcount.")
    current: bool = Field(description="True for the base portfolio's own headcount.")
    hired: int
    released: int
    status: str
    expected_value_covered: float = Field(description="Currency.")
    objective: float | None = Field(description="Points.")
    staffed: int = Field(description="Opportunities staffed (all tiers).")
    marginal_value: float | None = Field(
        description="Currency per engineer: change in value covered since the previous point, "
        "divided by the engineers added since then."
    )


class RatioCurve(BaseModel):
    """Value covered against presales headcount in one region or industry."""

    scope: str
    sales: int = Field(description="Distinct salespeople with opportunities in the scope.")
    current_presales: int
    profile: dict[str, Any] = Field(description="Who is hired when the ratio needs more.")
    points: list[RatioPoint]
    release_rule: str = (
        "fewest hours assigned in the base run first, then fewest hours available, then id"
    )
    time_limit: float
    seed: int
    executor: str
    seconds: float


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


def ratio_sweep(
    portfolio: Portfolio,
    start: Ratio,
    stop: Ratio,
    steps: int,
    region: str | None = None,
    industry: str | None = None,
    profile: Profile | None = None,
    options: SweepOptions = SweepOptions(),
    every_engineer: bool = False,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> RatioCurve:
    """Solve the scope at each ratio from `start` to `stop` (`steps` of them); see module doc."""
    if (region is None) == (industry is None):
        raise InvalidInputError(
            [InputIssue("ratio sweep", "region", "give a region or an industry")]
        )
    if not 2 <= steps <= 200:
        raise InvalidInputError([InputIssue("ratio sweep", "steps", "must be 2..200", steps)])
    _check_scope(portfolio, region, industry, profile)
    now = staffing(portfolio.engineers, portfolio.opportunities, region, industry)
    hire = profile or default_profile(portfolio, region, industry)
    requested: dict[int, list[str]] = {}
    for ratio in ratio_steps(start, stop, steps):
        requested.setdefault(ratio.target(now.sales), []).append(str(ratio))
    counts = set(requested)
    if every_engineer:
        counts = set(range(min(counts | {now.presales}), max(counts | {now.presales}) + 1))
    counts.discard(now.presales)
    ordered = sorted(counts)
    scenarios = [
        Scenario(
            name=f"{n} presales",
            edits=(
                SetRatio(
                    region=region,
                    industry=industry,
                    ratio=f"{n}:{now.sales}",
                    profile=hire,
                ),
            ),
        )
        for n in ordered
    ]
    result = run_sweep(portfolio, scenarios, options, progress, executor)
    solved = {n: s for n, s in zip(ordered, result.scenarios, strict=True)}
    points: list[RatioPoint] = []
    for n in sorted(counts | {now.presales}):
        current = n == now.presales
        run = result.base if current else solved[n]
        figs = figures(run.name, run.portfolio, run.allocation)
        points.append(
            RatioPoint(
                presales=n,
                ratio=f"1:{now.sales / n:.3g}" if n else f"0:{now.sales}",
                requested=requested.get(n, []),
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
        scope=now.scope,
        sales=now.sales,
        current_presales=now.presales,
        profile=hire.model_dump(),
        points=points,
        time_limit=options.time_limit,
        seed=options.seed,
        executor=result.executor,
        seconds=round(result.seconds, 2),
    )
