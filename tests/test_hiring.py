"""Hiring recommendations against brute force: on tiny portfolios every allocation is
enumerated and checked by the independent checker (no solver), so the best hire is known."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from conftest import demand, engineer, make_portfolio, opportunity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator.core.check import check
from allocator.model import Allocation, Assignment, Portfolio, SolveStatus, build_portfolio
from allocator.whatif.hiring import HiringRecommendation, candidate_profiles, recommend_hires
from allocator.whatif.scenarios import AddEngineers, Profile, Scenario, apply_scenario
from allocator.whatif.sweep import SweepOptions

SERIAL = SweepOptions(time_limit=5.0, executor="serial")
VALUE_ONLY = {
    "value_unit": 1000,  # Set, not derived from each random portfolio.
    "skill_fit_weight": 0,
    "industry_fit_weight": 0,
    "travel_penalty": 0,
    "continuity_penalty": 0,
    "load_penalty": 0,
}
"""Objective = expected value covered (points = currency / 1000): the brute force and the
recommendation rank by the same number, with no ties broken by other terms."""


def brute_force_optimum(p: Portfolio) -> float:
    """The best objective over every allocation the independent checker accepts."""
    options = [
        [None, *(e.id for e in p.engineers if e.skills.get(d.skill, 0) >= d.min_proficiency)]
        for d in p.demands
    ]
    best = 0.0
    for choice in itertools.product(*options):
        assignments = [
            Assignment(engineer_id=e, opportunity_id=d.opportunity_id, demand_id=d.id)
            for d, e in zip(p.demands, choice, strict=True)
            if e is not None
        ]
        allocation = Allocation(status=SolveStatus.FEASIBLE, assignments=assignments)
        report = check(p, allocation)
        # The allocation lists no terms or staffed opportunities: only the hard rules count.
        if all(v.rule in ("objective", "unknown") for v in report.violations):
            best = max(best, report.objective)
    return best


def brute_force_gains(p: Portfolio) -> dict[tuple[str, str], float]:
    """(skill, region) -> optimum with one more engineer of the candidate profile - optimum."""
    base = brute_force_optimum(p)
    gains = {}
    for profile in candidate_profiles(p):
        scenario = Scenario(name="+1", edits=(AddEngineers(profile=profile),))
        more = brute_force_optimum(apply_scenario(p, scenario).portfolio)
        gains[profile.main_skill(), profile.region] = round(more - base, 2)
    return gains


def assert_top_pick_is_a_brute_force_best(
    recommendation: HiringRecommendation, gains: dict[tuple[str, str], float]
) -> None:
    assert all(c.exact for c in recommendation.ranking)
    found = {(c.skill, c.region): c.objective_delta for c in recommendation.ranking}
    assert found == gains  # Every candidate's marginal value, not only the top one.
    top = recommendation.ranking[0]
    assert top.objective_delta == max(gains.values())
    assert gains[top.skill, top.region] == max(gains.values())
    assert top.value_delta == pytest.approx(1000 * top.objective_delta)


def test_the_best_hire_is_the_one_brute_force_finds_on_a_small_case() -> None:
    # South has a valuable team that needs a network engineer nobody has at level 4.
    p = make_portfolio(
        [
            engineer("E1", {"arch": 4}, "North"),
            engineer("E2", {"arch": 4, "net": 3}, "South", capacity_hours=16),
        ],
        [
            opportunity("O1", value=300_000, region="North"),
            opportunity("O2", value=500_000, region="South"),
            opportunity("O3", value=100_000, region="South"),
        ],
        [
            demand("O1", "arch", 16, id="O1/arch"),
            demand("O2", "arch", 16, id="O2/arch"),
            demand("O2", "net", 16, level=4, id="O2/net"),
            demand("O3", "net", 8, id="O3/net"),
        ],
        skills=[{"id": "arch"}, {"id": "net"}],
        policy=VALUE_ONLY,
    )
    gains = brute_force_gains(p)
    recommendation = recommend_hires(p, budget=1, options=SERIAL)
    assert_top_pick_is_a_brute_force_best(recommendation, gains)
    # Candidates: the (skill, region) pairs in demand. A level-4 network engineer lets E2 take
    # O2's architect role and the hire its network role: O2 (250 points) is staffed too.
    assert gains == {("arch", "North"): 0.0, ("arch", "South"): 0.0, ("net", "South"): 250.0}
    assert (recommendation.ranking[0].skill, recommendation.ranking[0].region) == ("net", "South")


@st.composite
def tiny_portfolios(draw: st.DrawFn) -> Portfolio:
    engineers = [
        {
            "id": f"E{i + 1}",
            "region": draw(st.sampled_from(("North", "South"))),
            "skills": draw(
                st.dictionaries(st.sampled_from(("a", "b")), st.integers(2, 5), min_size=1)
            ),
            "capacity_hours": draw(st.sampled_from((16, 24, 40))),
        }
        for i in range(draw(st.integers(1, 3)))
    ]
    opportunities: list[dict[str, Any]] = []
    demands: list[dict[str, Any]] = []
    while len(demands) < 4:
        j = len(opportunities) + 1
        opportunities.append(
            {
                "id": f"O{j}",
                "region": draw(st.sampled_from(("North", "South"))),
                "industry": "power",
                "tier": draw(st.sampled_from("ABC")),
                "value": 1000 * draw(st.integers(10, 500)),
                "win_probability": draw(st.sampled_from((0.2, 0.5, 1.0))),
            }
        )
        for k in range(draw(st.integers(1, min(2, 4 - len(demands))))):
            demands.append(
                {
                    "id": f"O{j}/{k}",
                    "opportunity_id": f"O{j}",
                    "skill": draw(st.sampled_from(("a", "b"))),
                    "min_proficiency": draw(st.integers(2, 5)),
                    "hours": draw(st.sampled_from((8, 16, 24))),
                    "required": k == 0 or draw(st.booleans()),
                }
            )
    return build_portfolio(
        {
            "skills": [{"id": "a"}, {"id": "b"}],
            "engineers": engineers,
            "opportunities": opportunities,
            "demands": demands,
            "policy": VALUE_ONLY,
        }
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tiny_portfolios())
def test_top_pick_matches_brute_force_on_random_tiny_portfolios(p: Portfolio) -> None:
    recommendation = recommend_hires(p, budget=1, options=SERIAL)
    gains = brute_force_gains(p)
    if max(gains.values()) <= 0:
        assert recommendation.plan == []
        assert recommendation.stopped == "round 1: no single hire adds value or objective"
        return
    assert_top_pick_is_a_brute_force_best(recommendation, gains)
    assert recommendation.plan[0].skill == recommendation.ranking[0].skill


def test_the_greedy_plan_re_solves_after_each_pick() -> None:
    # Two valuable single-role opportunities for skill b at level 5 that nobody has; each
    # hire (40 h) can serve only one of them (24 h each).
    p = make_portfolio(
        [engineer("E1", {"a": 4}, "North")],
        [
            opportunity("O1", value=400_000, region="North"),
            opportunity("O2", value=200_000, region="South"),
            opportunity("O3", value=50_000, region="North"),
        ],
        [
            demand("O1", "b", 24, level=4, id="O1/b"),
            demand("O2", "b", 24, level=4, id="O2/b"),
            demand("O3", "a", 8, id="O3/a"),
        ],
        skills=[{"id": "a"}, {"id": "b"}],
        policy=VALUE_ONLY,
    )
    recommendation = recommend_hires(p, budget=3, options=SERIAL)
    assert [(pick.skill, pick.value_delta) for pick in recommendation.plan] == [
        ("b", 200_000.0),  # O1 (400,000 x 0.5)
        ("b", 100_000.0),  # then O2: only visible after re-solving with the first hire
    ]
    assert recommendation.stopped == "round 3: no single hire adds value or objective"
    assert recommendation.plan[1].expected_value_covered == 25_000 + 200_000 + 100_000
    # Brute force for the second round: the portfolio with the first pick.
    first = recommendation.plan[0]
    hired = Scenario(
        name="pick 1",
        edits=(AddEngineers(profile=Profile(skills={first.skill: 4}, region=first.region)),),
    )
    gains = brute_force_gains(apply_scenario(p, hired).portfolio)
    assert max(gains.values()) == recommendation.plan[1].value_delta / 1000
    assert "re-solve" in recommendation.method
    assert recommendation.precision == "exact: every solve was proven optimal"
