"""The arithmetic of the rules, defined once in `allocator.core.rules`, pinned down on small
hand-computed cases, and shown to be what the compiler, the checker and the explanations use:
each test fails if one of them computes a rule its own way."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import demand, engineer, make_portfolio, opportunity

from allocator.core import rules
from allocator.core.check import free_by_week
from allocator.core.generate import generate
from allocator.core.rules import (
    engineer_week,
    free_hours,
    load_target,
    proficient,
    value_points,
    worked_hours,
)
from allocator.model import Engineer, Opportunity, Policy, Portfolio, centi_hours
from allocator.solve.compiled import compile_portfolio


@pytest.mark.parametrize(
    ("capacity", "committed", "off", "free"),
    [
        (4000, 0, 0, 4000),
        (4000, 800, 0, 3200),
        (4000, 800, 1600, 1600),
        (4000, 800, 3200, 0),  # exactly used up
        (4000, 800, 4000, 0),  # time off above what is left: 0, not -800
        (0, 0, 0, 0),
    ],
)
def test_free_hours_is_capacity_minus_committed_minus_time_off_never_below_zero(
    capacity: int, committed: int, off: int, free: int
) -> None:
    assert free_hours(capacity, committed, off) == free
    # The same rule element-wise on arrays, as the compiler calls it.
    got = free_hours(np.array([capacity]), np.array([committed]), np.array([off]))
    assert got.tolist() == [free]


def test_worked_hours_and_the_load_target_are_exact() -> None:
    assert worked_hours(4000, 4400) == 0
    assert worked_hours(4000, 800) == 3200
    assert load_target(4000, 0.85) == 3400
    assert load_target(4000, 0.7499999999999) == 2999  # not the float product's 3000
    assert load_target(0, 0.85) == 0


def test_proficiency_is_level_at_least_minimum() -> None:
    assert proficient(3, 3) and proficient(5, 3) and not proficient(2, 3)
    assert not proficient(0, 1)  # without the skill
    assert proficient(np.array([1, 3, 4]), 3).tolist() == [False, True, True]


def test_value_points_round_half_up_from_the_written_decimals() -> None:
    def points(value: float, tier: str) -> int:
        o = Opportunity.model_validate(opportunity("O1", value=value, win=0.5, tier=tier))
        return value_points(o, Policy(value_unit=1000))

    assert points(1005, "C") == 50  # 50.25 -> 50
    assert points(1010, "C") == 51  # 50.5 -> 51
    assert points(1000, "A") == 75  # tier factor 1.5


def test_engineer_week_reads_time_off_of_that_week_only() -> None:
    e = Engineer.model_validate(
        engineer("E1", {"arch": 4}, capacity_hours=40, committed_hours=8, time_off={2: 36})
    )
    assert engineer_week(e, 1) == (3200, 4000)
    assert engineer_week(e, 2) == (0, 400)


def _odd_portfolio() -> Portfolio:
    """Time off above capacity, committed hours (every week's and one week's own), fractional
    hours: every edge of the rules."""
    engineers = [
        engineer("E1", {"arch": 4}, capacity_hours=40, committed_hours=8, time_off={2: 36}),
        engineer(
            "E2",
            {"arch": 2},
            capacity_hours=20.5,
            committed_hours=0,
            commitments={2: 8.25},
            time_off={1: 30},
        ),
        engineer("E3", {"arch": 5}, capacity_hours=12.25, committed_hours=12.25),
    ]
    opportunities = [opportunity("O1"), opportunity("O2")]
    demands = [
        demand("O1", "arch", hours=12.25, level=2),
        demand("O2", "arch", hours=0, level=3),
    ]
    return make_portfolio(engineers, opportunities, demands, horizon_weeks=2)


def test_the_compiler_builds_exactly_the_pairs_the_rules_allow() -> None:
    for portfolio in (_odd_portfolio(), generate(30, 90, seed=4)):
        problem = compile_portfolio(portfolio)
        got = {
            (problem.engineer_ids[e], problem.demand_ids[d])
            for e, d in zip(
                problem.pair_engineer.tolist(), problem.pair_demand.tolist(), strict=True
            )
        }
        expected = set()
        blocked_opportunities = set()
        for d in portfolio.demands:
            able = {
                e.id
                for e in portfolio.engineers
                if proficient(rules.level_in(e, d), d.min_proficiency)
                and all(
                    centi_hours(d.hours) <= engineer_week(e, w).free
                    for w in d.weeks(portfolio.horizon_weeks)
                )
            }
            if d.required and not able:
                blocked_opportunities.add(d.opportunity_id)
            expected |= {(e, d.id) for e in able}
        demand_of = {d.id: d for d in portfolio.demands}
        expected = {
            (e, d) for e, d in expected if demand_of[d].opportunity_id not in blocked_opportunities
        }
        assert got == expected


def test_the_compiler_and_the_checker_share_the_capacity_and_load_figures() -> None:
    portfolio = _odd_portfolio()
    problem = compile_portfolio(portfolio)
    free = free_by_week(portfolio)
    for i, e in enumerate(portfolio.engineers):
        for w in portfolio.weeks():
            assert problem.engineer_available[i, w - 1] == free[e.id, w] == engineer_week(e, w).free
            target = load_target(engineer_week(e, w).worked, portfolio.policy.utilization_target)
            assert problem.engineer_load_slack[i, w - 1] == target - rules.committed_in(e, w)
    assert free["E2", 1] == 0 and free["E2", 2] == 1225  # 20.5 - 8.25 h in week 2 only
