"""A generated history: weekly runs solved by the real solver, noisy actuals, drawn outcomes.

For `weeks` ISO weeks from `start_week`, each week:

1. the pipeline is the base portfolio less the opportunities decided in earlier weeks, with
   the actuals taken in (`feedback.feed_actuals`: overruns count as committed, work in
   progress is kept as previous assignments);
2. it is solved (`allocator.solver.solve`, `time_limit` seconds, reproducible, one seed);
3. each engineer reports the week (with probability `1 - missing_rate`; otherwise their
   timesheet is missing): each planned assignment's hours times the engineer's own pace (a
   lognormal factor drawn once, sigma 0.15) times weekly noise (lognormal, sigma `noise`),
   rounded to half hours; with probability `unplanned_rate` also 2-8 unplanned hours on
   another open opportunity of their region.

Each opportunity gets a decision week, uniform over 1.4 x `weeks` weeks (those after the last
week stay `open`). A decided one is won with probability
`clip(win_probability x bias factors x (1 + support_lift if it got presales hours), 0, 1)`;
the bias factors (`Bias`: dimension -> level -> factor, dimensions `stage`, `industry`,
`tier`, `region`) are what calibration must recover. Won deals get 80-110 % of their value;
of the rest three in four are lost, one in four ends with no decision. Deterministic for a
given seed (the solver runs reproducibly).

`write_history` / `load_history` keep it as a folder: `portfolio/` (CSV), `runs/<week>.json`
(one result per weekly run), `actuals.csv`, `outcomes.csv`, `history.json` (the settings).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from allocator.errors import InputIssue, InvalidInputError
from allocator.insight.feedback import feed_actuals
from allocator.insight.records import (
    Actual,
    Outcome,
    OutcomeKind,
    PlannedRun,
    actuals_frame,
    load_actuals,
    load_outcomes,
    outcomes_frame,
    week_after,
    week_monday,
)
from allocator.io.formats import (
    load_allocation,
    load_portfolio,
    write_allocation,
    write_portfolio_csv,
)
from allocator.model import Opportunity, Portfolio
from allocator.solver import SolveOptions, solve

Bias = Mapping[str, Mapping[str, float]]
"""Dimension (stage, industry, tier, region) -> level -> factor on the win probability."""
DIMENSIONS = ("stage", "industry", "tier", "region")


@dataclass(frozen=True)
class History:
    """A portfolio, the weekly runs planned on it, the hours spent and the outcomes."""

    portfolio: Portfolio
    runs: list[PlannedRun]
    actuals: list[Actual]
    outcomes: list[Outcome]
    settings: dict[str, Any] = field(default_factory=dict)


def parse_bias(items: Sequence[str]) -> dict[str, dict[str, float]]:
    """`stage=proposal:0.5` items into a `Bias`.

    >>> parse_bias(["stage=proposal:0.5", "tier=A:1.2"])
    {'stage': {'proposal': 0.5}, 'tier': {'A': 1.2}}
    """
    bias: dict[str, dict[str, float]] = {}
    for item in items:
        dimension, _, rest = item.partition("=")
        level, _, factor = rest.rpartition(":")
        try:
            value = float(factor)
            if dimension not in DIMENSIONS or not level or value < 0:
                raise ValueError
        except ValueError:
            message = f"must be DIMENSION=LEVEL:FACTOR, dimension one of {', '.join(DIMENSIONS)}"
            raise InvalidInputError([InputIssue("--bias", "", message, item)]) from None
        bias.setdefault(dimension, {})[level] = value
    return bias


def true_win_probability(
    opportunity: Opportunity, bias: Bias, supported: bool, lift: float
) -> float:
    """The probability outcomes are drawn with: the assumed one times the planted factors."""
    p = opportunity.win_probability
    for dimension, levels in bias.items():
        p *= levels.get(str(getattr(opportunity, dimension)), 1.0)
    if supported:
        p *= 1 + lift
    return min(1.0, max(0.0, p))


def _without(portfolio: Portfolio, gone: set[str]) -> Portfolio:
    if not gone:
        return portfolio
    data = portfolio.model_dump()
    data["opportunities"] = [o for o in data["opportunities"] if o["id"] not in gone]
    for name in ("demands", "pins", "forbids", "previous"):
        data[name] = [r for r in data[name] if r["opportunity_id"] not in gone]
    return Portfolio.model_validate(data)


def generate_history(
    portfolio: Portfolio,
    weeks: int = 6,
    start_week: str = "2026-W36",
    time_limit: float = 2.0,
    seed: int = 0,
    bias: Bias | None = None,
    support_lift: float = 0.0,
    noise: float = 0.25,
    missing_rate: float = 0.05,
    unplanned_rate: float = 0.05,
) -> History:
    """A history of `weeks` weekly runs on `portfolio` (see the module doc)."""
    week_monday(start_week)
    rng = np.random.default_rng(seed)
    bias = bias or {}
    decided_in = decision_weeks(portfolio, weeks, rng)
    pace = {e.id: float(rng.lognormal(0.0, 0.15)) for e in portfolio.engineers}
    runs: list[PlannedRun] = []
    actuals: list[Actual] = []
    for index in range(weeks):
        week = week_after(start_week, index)
        gone = {o for o, d in decided_in.items() if d < index}
        current = _without(portfolio, gone)
        fed = feed_actuals(current, runs, actuals, week).portfolio
        allocation = solve(fed, SolveOptions(time_limit=time_limit, seed=seed))
        runs.append(PlannedRun(week, allocation, fed.horizon_weeks))
        actuals += _week_actuals(
            fed, runs[-1], week, rng, pace, noise, missing_rate, unplanned_rate
        )
    supported = {a.opportunity_id for a in actuals if a.hours > 0}
    outcomes = draw_outcomes(
        portfolio, decided_in, supported, weeks, start_week, bias, support_lift, rng
    )
    settings = {
        "weeks": weeks,
        "start_week": start_week,
        "time_limit": time_limit,
        "seed": seed,
        "bias": {k: dict(v) for k, v in bias.items()},
        "support_lift": support_lift,
        "noise": noise,
        "missing_rate": missing_rate,
        "unplanned_rate": unplanned_rate,
    }
    return History(portfolio, runs, actuals, outcomes, settings)


def decision_weeks(portfolio: Portfolio, weeks: int, rng: np.random.Generator) -> dict[str, int]:
    """Opportunity id -> the week index (0-based) it is decided in; >= `weeks` stays open."""
    return {o.id: int(rng.integers(0, max(1, round(weeks * 1.4)))) for o in portfolio.opportunities}


def draw_outcomes(
    portfolio: Portfolio,
    decided_in: Mapping[str, int],
    supported: set[str],
    weeks: int,
    start_week: str,
    bias: Bias,
    support_lift: float,
    rng: np.random.Generator,
) -> list[Outcome]:
    """Each opportunity's outcome, drawn from its true win probability (see the module doc)."""
    last_day = week_monday(week_after(start_week, weeks - 1)) + timedelta(days=4)
    outcomes = []
    for o in portfolio.opportunities:
        d = decided_in[o.id]
        if d >= weeks:
            outcomes.append(Outcome(opportunity_id=o.id, outcome=OutcomeKind.OPEN, date=last_day))
            continue
        day = week_monday(week_after(start_week, d)) + timedelta(days=int(rng.integers(0, 5)))
        p = true_win_probability(o, bias, o.id in supported, support_lift)
        if rng.random() < p:
            value = round(o.value * float(rng.uniform(0.8, 1.1)), -2)
            outcomes.append(
                Outcome(opportunity_id=o.id, outcome=OutcomeKind.WON, value=value, date=day)
            )
        else:
            kind = OutcomeKind.LOST if rng.random() < 0.75 else OutcomeKind.NO_DECISION
            outcomes.append(Outcome(opportunity_id=o.id, outcome=kind, date=day))
    return outcomes


def _week_actuals(
    portfolio: Portfolio,
    run: PlannedRun,
    week: str,
    rng: np.random.Generator,
    pace: Mapping[str, float],
    noise: float,
    missing_rate: float,
    unplanned_rate: float,
) -> list[Actual]:
    """What each engineer reports for the run's first week."""
    planned: dict[str, dict[str, float]] = {}
    for a in run.allocation.assignments:
        if a.start_week <= 1 <= a.end_week:
            mine = planned.setdefault(a.engineer_id, {})
            mine[a.opportunity_id] = mine.get(a.opportunity_id, 0.0) + a.hours
    by_region: dict[str, list[str]] = {}
    for o in portfolio.opportunities:
        by_region.setdefault(o.region, []).append(o.id)
    found = []
    for e in portfolio.engineers:
        if rng.random() < missing_rate:
            continue
        hours = {
            o: round(h * pace[e.id] * float(rng.lognormal(0.0, noise)) * 2) / 2
            for o, h in planned.get(e.id, {}).items()
        }
        others = [o for o in by_region.get(e.region, []) if o not in hours]
        if others and rng.random() < unplanned_rate:
            hours[str(rng.choice(others))] = float(rng.integers(4, 17)) / 2
        found += [
            Actual(engineer_id=e.id, opportunity_id=o, week=week, hours=min(h, 168.0))
            for o, h in sorted(hours.items())
        ]
    return found


def write_history(history: History, folder: str | Path) -> Path:
    """Write `history` as a folder (see the module doc)."""
    root = Path(folder)
    (root / "runs").mkdir(parents=True, exist_ok=True)
    write_portfolio_csv(history.portfolio, root / "portfolio")
    for run in history.runs:
        write_allocation(run.allocation, root / "runs" / f"{run.week}.json")
    actuals_frame(history.actuals).to_csv(root / "actuals.csv", index=False)
    outcomes_frame(history.outcomes).to_csv(root / "outcomes.csv", index=False)
    (root / "history.json").write_text(json.dumps(history.settings, indent=2) + "\n")
    return root


def load_history(folder: str | Path) -> History:
    """A history folder: `portfolio/`, `runs/<ISO week>.json`, `actuals.csv`, `outcomes.csv`
    (the runs and the two files may be absent: then there are none)."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError([InputIssue(str(root), "", "is not a history folder")])
    portfolio = load_portfolio(root / "portfolio")
    runs = []
    for path in sorted((root / "runs").glob("*.json")):
        try:
            week_monday(path.stem)
        except ValueError as error:
            raise InvalidInputError(
                [InputIssue(f"runs/{path.name}", "", f"file name {error}")]
            ) from None
        runs.append(PlannedRun(path.stem, load_allocation(path), portfolio.horizon_weeks))
    actuals = load_actuals(root / "actuals.csv") if (root / "actuals.csv").exists() else []
    outcomes = load_outcomes(root / "outcomes.csv") if (root / "outcomes.csv").exists() else []
    settings_path = root / "history.json"
    settings = json.loads(settings_path.read_text()) if settings_path.exists() else {}
    return History(portfolio, runs, actuals, outcomes, settings)
