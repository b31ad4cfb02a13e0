"""Every objective term pinned to its exact value on a tiny portfolio, in the solver's result and
in the checker's recomputation; and CP-SAT's own objective equal to the recomputation."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FAST, demand, engineer, make_portfolio, opportunity

from allocator.core.check import check
from allocator.core.generate import generate
from allocator.model import TERM_NAMES, Allocation, Portfolio, SolveStatus, build_portfolio
from allocator.solve.baselines import run_baseline
from allocator.solver import compile_portfolio, solve, solve_compiled

ZERO = dict.fromkeys(TERM_NAMES, 0.0)


def solve_and_check(portfolio: Portfolio) -> Allocation:
    allocation = solve(portfolio, FAST)
    assert allocation.status is SolveStatus.OPTIMAL, allocation.message
    return allocation


def assert_terms(portfolio: Portfolio, allocation: Allocation, **expected: float) -> None:
    """The solver's terms and the checker's terms both equal `expected` (others 0)."""
    want = {**ZERO, **expected}
    report = check(portfolio, allocation)
    assert report.ok, report.violations
    assert allocation.terms == pytest.approx(want, abs=1e-9)
    assert report.terms == pytest.approx(want, abs=1e-9)
    assert allocation.objective == pytest.approx(sum(want.values()), abs=1e-9)
    assert report.objective == pytest.approx(sum(want.values()), abs=1e-9)


def pairs(allocation: Allocation) -> list[tuple[str, str]]:
    return sorted((a.engineer_id, a.demand_id) for a in allocation.assignments)


def one_pair(
    eng: dict[str, Any] | None = None,
    opp: dict[str, Any] | None = None,
    dem: dict[str, Any] | None = None,
    **fields: Any,
) -> Portfolio:
    """One engineer, one opportunity, one demand (skill a, level 3, 8 h)."""
    return make_portfolio(
        [eng or engineer("E1", {"a": 3})],
        [opp or opportunity("O1")],
        [dem or demand("O1", "a")],
        **fields,
    )


# ---------------------------------------------------------------------------------------------
# expected_value


@pytest.mark.parametrize(("tier", "points"), [("A", 75.0), ("B", 60.0), ("C", 50.0)])
def test_expected_value_tier_factors(tier: str, points: float) -> None:
    # 100 000 x 0.5 x tier factor / 1000 per point.
    p = one_pair(opp=opportunity("O1", value=100_000, win=0.5, tier=tier))
    allocation = solve_and_check(p)
    assert pairs(allocation) == [("E1", "O1/a")]
    assert_terms(p, allocation, expected_value=points)


def test_expected_value_unit_weight_and_custom_tier_factors() -> None:
    # 100 000 x 0.5 x 2.0 x 3 / 500 = 600 points.
    policy = {"value_unit": 500, "value_weight": 3, "tier_factors": {"A": 2.0, "B": 1, "C": 0.25}}
    p = one_pair(opp=opportunity("O1", value=100_000, win=0.5, tier="A"), policy=policy)
    assert_terms(p, solve_and_check(p), expected_value=600.0)
    q = one_pair(opp=opportunity("O1", value=100_000, win=0.5, tier="C"), policy=policy)
    assert_terms(q, solve_and_check(q), expected_value=75.0)


def test_expected_value_rounds_to_a_hundredth_of_a_point() -> None:
    # 12 345 x 0.37 / 1000 = 4.56765 -> 4.57.
    p = one_pair(opp=opportunity("O1", value=12_345, win=0.37, tier="C"))
    assert_terms(p, solve_and_check(p), expected_value=4.57)


def test_expected_value_counts_only_staffed_opportunities() -> None:
    # O2's team lacks role b: its value must not count, though role a alone could be served.
    p = make_portfolio(
        [engineer("E1", {"a": 3}), engineer("E2", {"a": 3}, region="South")],
        [opportunity("O1", value=100_000), opportunity("O2", value=400_000)],
        [demand("O1", "a"), demand("O2", "a"), demand("O2", "b")],
        skills=[{"id": "a"}, {"id": "b"}],
    )
    allocation = solve_and_check(p)
    assert pairs(allocation) == [("E1", "O1/a")]
    assert allocation.staffed_opportunities == ["O1"]
    assert_terms(p, allocation, expected_value=50.0)


# ---------------------------------------------------------------------------------------------
# skill_fit


def test_skill_fit_levels_above_minimum_and_industry() -> None:
    # (5 - 3) x 2 + 3 for knowing the industry = 7.
    p = one_pair(eng=engineer("E1", {"a": 5}, industries=["power"]))
    assert_terms(p, solve_and_check(p), expected_value=50.0, skill_fit=7.0)


def test_skill_fit_custom_weights() -> None:
    # (5 - 2) x 5 + 7 = 22.
    p = one_pair(
        eng=engineer("E1", {"a": 5}, industries=["power", "finance"]),
        dem=demand("O1", "a", level=2),
        policy={"skill_fit_weight": 5, "industry_fit_weight": 7},
    )
    assert_terms(p, solve_and_check(p), expected_value=50.0, skill_fit=22.0)


def test_skill_fit_other_industry_earns_nothing() -> None:
    p = one_pair(eng=engineer("E1", {"a": 4}, industries=["finance"]))
    assert_terms(p, solve_and_check(p), expected_value=50.0, skill_fit=2.0)


def test_skill_fit_sums_over_assignments() -> None:
    # E1 on a: (4 - 3) x 2 + 3 = 5; E2 on b: (5 - 2) x 2 = 6.
    p = make_portfolio(
        [engineer("E1", {"a": 4}, industries=["power"]), engineer("E2", {"b": 5})],
        [opportunity("O1")],
        [demand("O1", "a"), demand("O1", "b", level=2)],
    )
    allocation = solve_and_check(p)
    assert pairs(allocation) == [("E1", "O1/a"), ("E2", "O1/b")]
    assert_terms(p, allocation, expected_value=50.0, skill_fit=11.0)


# ---------------------------------------------------------------------------------------------
# region_match


def test_region_match_travel_penalty() -> None:
    p = one_pair(eng=engineer("E1", {"a": 3}, region="South"))
    assert_terms(p, solve_and_check(p), expected_value=50.0, region_match=-5.0)


def test_region_match_custom_penalty_per_assignment() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3}, region="South"), engineer("E2", {"b": 3}, region="West")],
        [opportunity("O1", region="West")],
        [demand("O1", "a"), demand("O1", "b")],
        policy={"travel_penalty": 11},
    )
    allocation = solve_and_check(p)
    assert pairs(allocation) == [("E1", "O1/a"), ("E2", "O1/b")]
    assert_terms(p, allocation, expected_value=50.0, region_match=-11.0)


def test_travel_decides_between_engineers() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5}, region="South"), engineer("E2", {"a": 4})],
        [opportunity("O1")],
        [demand("O1", "a")],
    )
    allocation = solve_and_check(p)
    assert pairs(allocation) == [("E2", "O1/a")]  # 2 points beat 4 - 5.
    assert_terms(p, allocation, expected_value=50.0, skill_fit=2.0)


# ---------------------------------------------------------------------------------------------
# continuity


def prev(e: str, o: str, d: str = "") -> dict[str, str]:
    return {"engineer_id": e, "opportunity_id": o, "demand_id": d}


TWO = [engineer("E1", {"a": 3}), engineer("E2", {"a": 5})]


def test_continuity_kept_beats_better_fit() -> None:
    # Without history E2 (+4) serves; moving E1 off costs 20 > 4, so E1 keeps it.
    p = make_portfolio(TWO, [opportunity("O1")], [demand("O1", "a")])
    assert pairs(solve_and_check(p)) == [("E2", "O1/a")]
    q = make_portfolio(TWO, [opportunity("O1")], [demand("O1", "a")], previous=[prev("E1", "O1")])
    allocation = solve_and_check(q)
    assert pairs(allocation) == [("E1", "O1/a")]
    assert_terms(q, allocation, expected_value=50.0)


def test_continuity_moved_when_cheaper() -> None:
    q = make_portfolio(
        TWO,
        [opportunity("O1")],
        [demand("O1", "a")],
        previous=[prev("E1", "O1")],
        policy={"continuity_penalty": 3},
    )
    allocation = solve_and_check(q)
    assert pairs(allocation) == [("E2", "O1/a")]
    assert_terms(q, allocation, expected_value=50.0, skill_fit=4.0, continuity=-3.0)


def test_continuity_moved_by_a_forbid() -> None:
    q = make_portfolio(
        TWO,
        [opportunity("O1")],
        [demand("O1", "a")],
        previous=[prev("E1", "O1")],
        forbids=[{"engineer_id": "E1", "opportunity_id": "O1"}],
    )
    allocation = solve_and_check(q)
    assert pairs(allocation) == [("E2", "O1/a")]
    assert_terms(q, allocation, expected_value=50.0, skill_fit=4.0, continuity=-20.0)


def test_continuity_of_an_opportunity_left_unstaffed() -> None:
    # Worth nothing, and E1 travels: keeping E1 would be -5 vs losing continuity -20.
    q = make_portfolio(
        [engineer("E1", {"a": 3}, region="South")],
        [opportunity("O1", value=0), opportunity("O2", value=0)],
        [demand("O1", "a"), demand("O2", "a")],
        previous=[prev("E1", "O1"), prev("E1", "O2", "O2/a")],
        policy={"continuity_penalty": 4},
    )
    allocation = solve_and_check(q)
    assert pairs(allocation) == []
    assert_terms(q, allocation, continuity=-8.0)


def test_continuity_by_opportunity_vs_by_demand() -> None:
    # A pin puts E1 on role b of O1. A previous assignment to O1 is kept; one to O1/a is not.
    engineers = [engineer("E1", {"a": 5, "b": 5}), engineer("E2", {"a": 3})]
    demands = [demand("O1", "a"), demand("O1", "b")]
    pins = [{"engineer_id": "E1", "opportunity_id": "O1", "demand_id": "O1/b"}]
    by_opportunity = make_portfolio(
        engineers, [opportunity("O1")], demands, pins=pins, previous=[prev("E1", "O1")]
    )
    allocation = solve_and_check(by_opportunity)
    assert pairs(allocation) == [("E1", "O1/b"), ("E2", "O1/a")]
    assert_terms(by_opportunity, allocation, expected_value=50.0, skill_fit=4.0)

    by_demand = make_portfolio(
        engineers, [opportunity("O1")], demands, pins=pins, previous=[prev("E1", "O1", "O1/a")]
    )
    allocation = solve_and_check(by_demand)
    assert pairs(allocation) == [("E1", "O1/b"), ("E2", "O1/a")]
    assert_terms(by_demand, allocation, expected_value=50.0, skill_fit=4.0, continuity=-20.0)


def test_continuity_by_demand_keeps_the_role() -> None:
    # E1 fits a better (+4) than b (0); history on O1/b with penalty 20 keeps E1 on b.
    engineers = [engineer("E1", {"a": 5, "b": 3}), engineer("E2", {"a": 3, "b": 3})]
    demands = [demand("O1", "a"), demand("O1", "b")]
    p = make_portfolio(engineers, [opportunity("O1")], demands)
    assert pairs(solve_and_check(p)) == [("E1", "O1/a"), ("E2", "O1/b")]
    q = make_portfolio(engineers, [opportunity("O1")], demands, previous=[prev("E1", "O1", "O1/b")])
    allocation = solve_and_check(q)
    assert pairs(allocation) == [("E1", "O1/b"), ("E2", "O1/a")]
    assert_terms(q, allocation, expected_value=50.0)


def test_continuity_duplicate_previous_counts_once() -> None:
    q = make_portfolio(
        TWO,
        [opportunity("O1")],
        [demand("O1", "a")],
        previous=[prev("E1", "O1"), prev("E1", "O1")],
        forbids=[{"engineer_id": "E1", "opportunity_id": "O1"}],
    )
    allocation = solve_and_check(q)
    assert_terms(q, allocation, expected_value=50.0, skill_fit=4.0, continuity=-20.0)


# ---------------------------------------------------------------------------------------------
# load_balance


def load_portfolio(**policy: Any) -> Portfolio:
    """E1: 40 h, 10 committed, 8 h off in week 2, serves 20 h in weeks 1-2. E2: 20 h, 18
    committed, no assignment (its skill is not asked for)."""
    return make_portfolio(
        [
            engineer("E1", {"a": 3}, committed_hours=10, time_off={2: 8}),
            engineer("E2", {"z": 3}, capacity_hours=20, committed_hours=18),
        ],
        [opportunity("O1")],
        [demand("O1", "a", hours=20, start_week=1, end_week=2)],
        horizon_weeks=2,
        policy=policy,
    )


def test_load_above_target_with_committed_hours_and_time_off() -> None:
    # E1 week 1: 10 + 20 = 30 <= floor(0.85 x 40) = 34 -> 0.
    # E1 week 2: 30 - 0.85 x 32 = 30 - 27.2 = 2.8 h over.
    # E2 weeks 1, 2: 18 committed - 0.85 x 20 = 1 h over each -> 2.
    p = load_portfolio()
    allocation = solve_and_check(p)
    assert pairs(allocation) == [("E1", "O1/a")]
    assert_terms(p, allocation, expected_value=50.0, load_balance=-4.8)


def test_load_penalty_and_target_settings() -> None:
    p = load_portfolio(load_penalty=3)
    assert_terms(p, solve_and_check(p), expected_value=50.0, load_balance=-14.4)
    # Target 0.5: E1 30 - 20 = 10 and 30 - 16 = 14; E2 18 - 10 = 8 twice. 40 h in all.
    q = load_portfolio(utilization_target=0.5)
    assert_terms(q, solve_and_check(q), expected_value=50.0, load_balance=-40.0)


def test_load_of_committed_hours_counts_without_assignments() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3}, capacity_hours=10, committed_hours=9.5)],
        [opportunity("O1")],
        [demand("O1", "a", hours=1)],  # Does not fit: 0.5 h free.
    )
    allocation = solve_and_check(p)
    assert pairs(allocation) == []
    assert_terms(p, allocation, load_balance=-1.0)  # 9.5 - 8.5


def test_load_decides_between_engineers() -> None:
    # E1 fits better (+2) but is near the target: 30 + 8 - 34 = 4 h over costs 4 points.
    engineers = [engineer("E1", {"a": 4}, committed_hours=30), engineer("E2", {"a": 3})]
    p = make_portfolio(engineers, [opportunity("O1")], [demand("O1", "a", hours=8)])
    allocation = solve_and_check(p)
    assert pairs(allocation) == [("E2", "O1/a")]
    assert_terms(p, allocation, expected_value=50.0)
    q = make_portfolio(
        engineers,
        [opportunity("O1")],
        [demand("O1", "a", hours=8)],
        policy={"load_penalty": 0},
    )
    allocation = solve_and_check(q)
    assert pairs(allocation) == [("E1", "O1/a")]
    assert_terms(q, allocation, expected_value=50.0, skill_fit=2.0)


def test_all_terms_together() -> None:
    p = make_portfolio(
        [
            engineer("E1", {"a": 5}, industries=["power"], committed_hours=20),
            engineer("E2", {"b": 4}, region="South"),
        ],
        [opportunity("O1", value=200_000, win=0.3, tier="B")],
        [demand("O1", "a", hours=16), demand("O1", "b", hours=8, required=False)],
        previous=[prev("E2", "O1", "O1/a")],
    )
    # Value 200 000 x 0.3 x 1.2 / 1000 = 72. E1: (5-3)x2 + 3 = 7; E2: (4-3)x2 = 2, -5 travel.
    # E2 on optional b scores 2 - 5 < 0: left out. E2 lacks a: continuity -20.
    # E1 load 20 + 16 - 34 = 2 h over.
    allocation = solve_and_check(p)
    assert pairs(allocation) == [("E1", "O1/a")]
    assert_terms(
        p, allocation, expected_value=72.0, skill_fit=7.0, continuity=-20.0, load_balance=-2.0
    )


# ---------------------------------------------------------------------------------------------
# CP-SAT's own objective equals the recomputation at optimality


def with_history_and_pins(seed: int) -> Portfolio:
    """generate(8, 20, seed) plus previous assignments (by opportunity and by demand, some of
    them impossible now) and two pins taken from a feasible baseline allocation."""
    base = generate(8, 20, seed=seed)
    fcfs = run_baseline(base, "first_come_first_served")
    assert fcfs.status is SolveStatus.FEASIBLE and check(base, fcfs).ok
    chosen = [(a.engineer_id, a.opportunity_id, a.demand_id) for a in fcfs.assignments]
    assert len(chosen) >= 4
    engineers = [e.id for e in base.engineers]
    opportunities = base.demands_of()
    previous = [
        {"engineer_id": e, "opportunity_id": o, "demand_id": ""} for e, o, _ in chosen[1::3]
    ]
    previous += [
        {"engineer_id": e, "opportunity_id": o, "demand_id": d} for e, o, d in chosen[2::3]
    ]
    for k, (o, roles) in enumerate(list(opportunities.items())[:6]):
        if roles:
            previous.append(
                {
                    "engineer_id": engineers[k % len(engineers)],
                    "opportunity_id": o,
                    "demand_id": roles[-1].id,
                }
            )
    pins = [{"engineer_id": e, "opportunity_id": o, "demand_id": d} for e, o, d in chosen[:2]]
    pins[1]["demand_id"] = ""
    data = base.model_dump()
    data.update(previous=previous, pins=pins)
    return build_portfolio(data)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_solver_objective_equals_recomputation(seed: int) -> None:
    p = with_history_and_pins(seed)
    core = solve_compiled(compile_portfolio(p), FAST)
    assert core.status is SolveStatus.OPTIMAL
    assert core.solver_objective == core.objective
    assert core.best_bound == core.objective
    allocation = solve(p, FAST)
    report = check(p, allocation)
    assert report.ok, report.violations
    assert allocation.objective == pytest.approx(report.objective, abs=0.01)
    # The portfolio exercises the terms this guards.
    assert allocation.terms["continuity"] < 0
    assert allocation.terms["load_balance"] < 0
    assert allocation.terms["region_match"] <= 0
    assert allocation.terms["skill_fit"] > 0


@pytest.mark.parametrize("seed", [4, 5])
def test_solver_objective_equals_recomputation_without_extras(seed: int) -> None:
    core = solve_compiled(compile_portfolio(generate(8, 20, seed=seed)), FAST)
    assert core.status is SolveStatus.OPTIMAL
    assert core.solver_objective == core.objective
