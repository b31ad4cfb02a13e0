"""Hiring recommendations: which one engineer adds the most covered value, and a K-hire plan.

Service layer: builds `add_engineers` scenarios, solves them with the sweep and ranks them; no
formats, no plots. Imports `scenarios`, `sweep`, `compare` and the domain.

Candidates: one profile per (skill, region) that appears in demand (the role's skill, the
opportunity's region): that skill at `level` (default 4, enough for the generator's
demands), home region the region, no industries, `capacity_hours` a week (default 40).

Method: **re-solve**. For each candidate the portfolio with one more engineer of that
profile is solved with the same seed and budget as the base, both warm-started from the
base's allocation (`sweep.py`); the candidate's marginal value is its expected value covered
minus the base's (currency), and the same for the objective (points). When both solves are
proven optimal the figures are exact (`exact`); otherwise the objective difference is only
known to lie within [`objective_low`, `objective_high`], from each solve's proven bound.
Candidates are ranked by marginal value covered, then objective, then skill and region.

The K-hire plan is greedy: pick the best candidate, add that engineer, re-solve every
candidate against the new portfolio, pick again; it stops early when no candidate adds
value or objective.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pydantic import BaseModel, Field

from allocator.errors import InputIssue, InvalidInputError
from allocator.model import Portfolio
from allocator.whatif.compare import figures
from allocator.whatif.scenarios import AddEngineers, Profile, Scenario
from allocator.whatif.sweep import (
    Executor,
    Progress,
    SolvedScenario,
    SolveTask,
    SweepOptions,
    open_executor,
    solve_from,
)

METHOD = (
    "re-solve: each candidate hire is added to the portfolio and solved with the same seed "
    "and budget as the base, both warm-started from the base allocation; marginal value = "
    "difference in expected value covered (currency) and in objective (points)"
)


class HireCandidate(BaseModel):
    """One more engineer of a (skill, region) profile, and what it adds."""

    skill: str
    region: str
    level: int
    capacity_hours: float
    value_delta: float = Field(description="Currency: expected value covered minus the base's.")
    objective_delta: float = Field(description="Points.")
    objective_low: float | None = Field(description="Points: proven lower end of the delta.")
    objective_high: float | None = Field(description="Points: proven upper end of the delta.")
    staffed_delta: int = Field(description="Opportunities staffed minus the base's.")
    exact: bool = Field(description="Both solves proven optimal: the deltas are exact.")
    status: str


class HirePick(BaseModel):
    """One step of the greedy plan."""

    round: int
    skill: str
    region: str
    value_delta: float = Field(description="Currency added by this hire.")
    expected_value_covered: float = Field(description="Currency, after this hire.")
    objective: float | None = Field(description="Points, after this hire.")
    exact: bool


class HiringRecommendation(BaseModel):
    """The ranking of single hires on the base, and the greedy plan for the budget."""

    method: str = METHOD
    precision: str
    base_value_covered: float = Field(description="Currency.")
    base_objective: float | None = Field(description="Points.")
    ranking: list[HireCandidate]
    plan: list[HirePick]
    budget: int
    stopped: str = Field("", description="Why the plan ended before the budget, if it did.")
    time_limit: float
    seed: int
    executor: str
    seconds: float


def candidate_profiles(
    portfolio: Portfolio, level: int = 4, capacity_hours: float = 40.0
) -> list[Profile]:
    """One profile per (skill, region) in demand, sorted by skill then region."""
    region_of = {o.id: o.region for o in portfolio.opportunities}
    pairs = sorted({(d.skill, region_of[d.opportunity_id]) for d in portfolio.demands})
    return [
        Profile(skills={skill: level}, region=region, capacity_hours=capacity_hours)
        for skill, region in pairs
    ]


def _name(profile: Profile) -> str:
    return f"+1 {profile.main_skill()} in {profile.region}"


def rank_candidates(
    base: SolvedScenario, solved: Sequence[SolvedScenario], profiles: Sequence[Profile]
) -> list[HireCandidate]:
    """Each candidate's deltas against `base`, best first (see module doc)."""
    reference = figures("base", base.portfolio, base.allocation)
    b = base.allocation
    candidates = []
    for profile, run in zip(profiles, solved, strict=True):
        figs = figures(run.name, run.portfolio, run.allocation)
        a = run.allocation
        objective = (a.objective or 0.0) - (reference.objective or 0.0)
        low = high = None
        if a.best_bound is not None and b.best_bound is not None:
            low = round((a.objective or 0.0) - b.best_bound, 2)
            high = round(a.best_bound - (b.objective or 0.0), 2)
        candidates.append(
            HireCandidate(
                skill=profile.main_skill(),
                region=profile.region,
                level=profile.skills[profile.main_skill()],
                capacity_hours=profile.capacity_hours,
                value_delta=figs.expected_value_covered - reference.expected_value_covered,
                objective_delta=round(objective, 2),
                objective_low=low,
                objective_high=high,
                staffed_delta=figs.staffed - reference.staffed,
                exact=a.status.value == "optimal" and b.status.value == "optimal",
                status=a.status.value,
            )
        )
    candidates.sort(key=lambda c: (-c.value_delta, -c.objective_delta, c.skill, c.region))
    return candidates


def recommend_hires(
    portfolio: Portfolio,
    budget: int = 1,
    options: SweepOptions = SweepOptions(),
    level: int = 4,
    capacity_hours: float = 40.0,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> HiringRecommendation:
    """Rank single hires and plan `budget` hires greedily (see module doc).

    >>> recommend_hires(generate(20, 60, seed=1), budget=2).plan[0].skill  # doctest: +SKIP
    'presales_consultant'
    """
    if not 1 <= budget <= 50:
        raise InvalidInputError([InputIssue("hiring", "budget", "must be 1..50", budget)])
    if not 1 <= level <= 5:
        raise InvalidInputError([InputIssue("hiring", "level", "must be 1..5", level)])
    if not 0 < capacity_hours <= 168:
        raise InvalidInputError(
            [InputIssue("hiring", "capacity_hours", "must be > 0 and <= 168", capacity_hours)]
        )
    profiles = candidate_profiles(portfolio, level, capacity_hours)
    if not profiles:
        raise InvalidInputError([InputIssue("hiring", "", "the portfolio has no demand")])
    started = time.perf_counter()
    if executor is None:
        with open_executor(options) as opened:
            return _recommend(portfolio, budget, options, profiles, progress, opened, started)
    return _recommend(portfolio, budget, options, profiles, progress, executor, started)


def _recommend(
    portfolio: Portfolio,
    budget: int,
    options: SweepOptions,
    profiles: list[Profile],
    progress: Progress | None,
    executor: Executor,
    started: float,
) -> HiringRecommendation:
    per_round = len(profiles) + 1
    total = 1 + budget * per_round
    done = [0]

    def step(k: int, _: int, name: str) -> None:
        if progress is not None:
            progress(done[0] + k, total, name)

    cold_task = SolveTask("base (from scratch)", portfolio, (), options.solve_options())
    current_run = executor.run([cold_task], step)[0]
    done[0] += 1
    current = portfolio
    by_name = {_name(p): p for p in profiles}
    ranking: list[HireCandidate] = []
    plan: list[HirePick] = []
    stopped = ""
    base_figures = None
    exact_everywhere = True
    for round_number in range(1, budget + 1):
        scenarios = [
            Scenario(name=name, edits=(AddEngineers(profile=p, count=1),))
            for name, p in by_name.items()
        ]
        result = solve_from(current, current_run, scenarios, options, executor, step)
        done[0] += per_round
        ranked = rank_candidates(result.base, result.scenarios, list(by_name.values()))
        exact_everywhere &= all(c.exact for c in ranked)
        if round_number == 1:
            ranking = ranked
            base_figures = figures("base", result.base.portfolio, result.base.allocation)
        best = ranked[0]
        if best.value_delta <= 0 and best.objective_delta <= 0:
            stopped = f"round {round_number}: no single hire adds value or objective"
            break
        chosen = result.by_name(f"+1 {best.skill} in {best.region}")
        after = figures(chosen.name, chosen.portfolio, chosen.allocation)
        plan.append(
            HirePick(
                round=round_number,
                skill=best.skill,
                region=best.region,
                value_delta=best.value_delta,
                expected_value_covered=after.expected_value_covered,
                objective=after.objective,
                exact=best.exact,
            )
        )
        current, current_run = chosen.portfolio, chosen.allocation
    assert base_figures is not None
    precision = (
        "exact: every solve was proven optimal"
        if exact_everywhere
        else "heuristic where `exact` is false: solves stopped at the time limit; the "
        "objective delta lies within [objective_low, objective_high]"
    )
    return HiringRecommendation(
        precision=precision,
        base_value_covered=base_figures.expected_value_covered,
        base_objective=base_figures.objective,
        ranking=ranking,
        plan=plan,
        budget=budget,
        stopped=stopped,
        time_limit=options.time_limit,
        seed=options.seed,
        executor=executor.name,
        seconds=round(time.perf_counter() - started, 2),
    )
