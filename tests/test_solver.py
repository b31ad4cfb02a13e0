"""The solver as a whole: reproducibility, blindness to recorded-only fields, infeasibility with
minimal named conflicts, edge cases, statuses and bounds, the greedy fallback, and baselines."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

import pytest
from conftest import FAST, demand, engineer, make_portfolio, opportunity

from allocator.core.check import check
from allocator.core.generate import generate
from allocator.model import Allocation, Portfolio, SolveStatus
from allocator.solve.baselines import BASELINES, run_baseline
from allocator.solver import SolveOptions, solve


def pairs(allocation: Allocation) -> list[tuple[str, str]]:
    return sorted((a.engineer_id, a.demand_id) for a in allocation.assignments)


def pin(e: str, o: str, d: str = "") -> dict[str, str]:
    return {"engineer_id": e, "opportunity_id": o, "demand_id": d}


# ---------------------------------------------------------------------------------------------
# Reproducibility and blindness to recorded-only fields

REPRO = SolveOptions(time_limit=10, workers=2, seed=5)
"""Ends on its proof of optimality in about 2 s; the 10 s leave room on a loaded machine, where
a run the wall clock cut short would not be reproducible."""


@cache
def repro_portfolio() -> Portfolio:
    return generate(40, 120, seed=2)


@cache
def repro_first() -> Allocation:
    return solve(repro_portfolio(), REPRO)


def test_same_input_and_seed_give_the_same_assignments() -> None:
    p = repro_portfolio()
    runs = [repro_first(), solve(p, REPRO), solve(p, REPRO)]
    first = runs[0]
    assert first.status.has_solution and len(first.assignments) > 50
    assert check(p, first).ok
    for other in runs[1:]:
        assert other.status is first.status
        assert other.assignments == first.assignments
        assert other.objective == first.objective
        assert other.terms == first.terms


def permuted(p: Portfolio) -> Portfolio:
    """Seniority and title rotated among engineers; requester and their seniority rotated
    among opportunities. Nothing else changes."""
    engineers, opportunities = p.engineers, p.opportunities
    n, m = len(engineers), len(opportunities)
    new_engineers = tuple(
        e.model_copy(
            update={
                "seniority_years": engineers[(i + 1) % n].seniority_years,
                "title": engineers[(i + 1) % n].title,
            }
        )
        for i, e in enumerate(engineers)
    )
    new_opportunities = tuple(
        o.model_copy(
            update={
                "requester": opportunities[(j + 3) % m].requester,
                "requester_seniority_years": opportunities[(j + 3) % m].requester_seniority_years,
            }
        )
        for j, o in enumerate(opportunities)
    )
    return p.model_copy(update={"engineers": new_engineers, "opportunities": new_opportunities})


def test_seniority_title_and_requester_do_not_change_the_allocation() -> None:
    p = repro_portfolio()
    q = permuted(p)
    assert [e.seniority_years for e in q.engineers] != [e.seniority_years for e in p.engineers]
    assert [e.title for e in q.engineers] != [e.title for e in p.engineers]
    assert [o.requester for o in q.opportunities] != [o.requester for o in p.opportunities]
    # The permutation matters to a rule that reads these fields ...
    assert pairs(run_baseline(q, "seniority_first")) != pairs(run_baseline(p, "seniority_first"))
    # ... and not to the optimiser.
    first, other = repro_first(), solve(q, REPRO)
    assert other.assignments == first.assignments
    assert other.objective == first.objective


# ---------------------------------------------------------------------------------------------
# Infeasibility: conflicts named exactly, and minimal


def assert_infeasible(portfolio: Portfolio, conflicts: list[str]) -> Allocation:
    allocation = solve(portfolio, FAST)
    assert allocation.status is SolveStatus.INFEASIBLE
    assert sorted(allocation.conflicts) == sorted(conflicts)
    assert len(allocation.conflicts) == len(set(allocation.conflicts))
    assert allocation.assignments == []
    assert allocation.objective is None and allocation.best_bound is None
    assert allocation.gap is None and allocation.terms == {}
    for conflict in conflicts:
        assert conflict in allocation.message
    return allocation


def assert_feasible(portfolio: Portfolio) -> None:
    allocation = solve(portfolio, FAST)
    assert allocation.status is SolveStatus.OPTIMAL, allocation.message
    assert check(portfolio, allocation).ok


def build(**parts: Any) -> Portfolio:
    return make_portfolio(parts.pop("engineers"), parts.pop("opportunities"), **parts)


def test_pin_and_forbid_on_the_same_pair() -> None:
    parts: dict[str, Any] = {
        "engineers": [engineer("E1", {"a": 3}), engineer("E2", {"a": 3})],
        "opportunities": [opportunity("O1")],
        "demands": [demand("O1", "a")],
        "pins": [pin("E1", "O1")],
        "forbids": [{"engineer_id": "E1", "opportunity_id": "O1", "reason": "conflict"}],
    }
    assert_infeasible(build(**parts), ["pin E1 -> O1", "forbid E1 -> O1"])
    assert_feasible(build(**{**parts, "pins": []}))
    assert_feasible(build(**{**parts, "forbids": []}))


def test_three_pins_overloading_one_engineer() -> None:
    # 3 x 16 h > 40 h; any two fit. A fourth pin elsewhere is not part of the conflict.
    parts: dict[str, Any] = {
        "engineers": [engineer("E1", {"a": 3}), engineer("E2", {"a": 3})],
        "opportunities": [opportunity(f"O{i}") for i in range(1, 5)],
        "demands": [demand(f"O{i}", "a", hours=16) for i in range(1, 5)],
        "pins": [pin("E1", "O1"), pin("E1", "O2", "O2/a"), pin("E1", "O3"), pin("E2", "O4")],
    }
    assert_infeasible(build(**parts), ["pin E1 -> O1", "pin E1 -> O2/a", "pin E1 -> O3"])
    for drop in range(3):
        pins = [p for k, p in enumerate(parts["pins"]) if k != drop]
        assert_feasible(build(**{**parts, "pins": pins}))


def test_pin_on_optional_demand_whose_required_team_mate_cannot_be_staffed() -> None:
    # Nobody has skill a: O1 can never be staffed, so its optional role b cannot be either.
    parts: dict[str, Any] = {
        "engineers": [engineer("E1", {"b": 3}), engineer("E2", {"c": 3})],
        "opportunities": [opportunity("O1")],
        "demands": [demand("O1", "a"), demand("O1", "b", required=False), demand("O1", "c")],
        "pins": [pin("E1", "O1", "O1/b")],
        "skills": [{"id": "a"}, {"id": "b"}, {"id": "c"}],
    }
    assert_infeasible(build(**parts), ["pin E1 -> O1/b", "required demand O1/a"])
    assert_feasible(build(**{**parts, "pins": []}))
    a_optional = [
        {**d, "required": d["skill"] != "a" and d.get("required", True)} for d in parts["demands"]
    ]
    assert_feasible(build(**{**parts, "demands": a_optional}))


def test_conflict_of_pin_forbid_and_required_demand() -> None:
    # The pin on optional O1/b needs the team; the only candidate for O1/a is forbidden.
    parts: dict[str, Any] = {
        "engineers": [engineer("E1", {"b": 3}), engineer("E2", {"a": 3}), engineer("E3", {"c": 3})],
        "opportunities": [opportunity("O1")],
        "demands": [demand("O1", "a"), demand("O1", "b", required=False), demand("O1", "c")],
        "pins": [pin("E1", "O1", "O1/b")],
        "forbids": [{"engineer_id": "E2", "opportunity_id": "O1", "demand_id": "O1/a"}],
    }
    assert_infeasible(
        build(**parts), ["pin E1 -> O1/b", "forbid E2 -> O1/a", "required demand O1/a"]
    )
    assert_feasible(build(**{**parts, "pins": []}))
    assert_feasible(build(**{**parts, "forbids": []}))
    a_optional = [
        {**d, "required": d["skill"] != "a" and d.get("required", True)} for d in parts["demands"]
    ]
    assert_feasible(build(**{**parts, "demands": a_optional}))


def test_pins_beyond_the_opportunity_limit() -> None:
    parts: dict[str, Any] = {
        "engineers": [engineer("E1", {"a": 3})],
        "opportunities": [opportunity("O1"), opportunity("O2"), opportunity("O3")],
        "demands": [demand("O1", "a"), demand("O2", "a"), demand("O3", "a")],
        "pins": [pin("E1", "O1"), pin("E1", "O2")],
        "policy": {"max_opportunities_per_engineer": 1},
    }
    assert_infeasible(build(**parts), ["pin E1 -> O1", "pin E1 -> O2"])
    assert_feasible(build(**{**parts, "pins": parts["pins"][:1]}))
    assert_feasible(build(**{**parts, "pins": parts["pins"][1:]}))


def test_pinned_team_needs_the_hours_of_another_pinned_engineer() -> None:
    # Pinning E1 to O1 needs O1/b staffed; only E2 can, but E2 is pinned to O2 (30 + 30 > 40).
    parts: dict[str, Any] = {
        "engineers": [engineer("E1", {"a": 3}), engineer("E2", {"b": 3})],
        "opportunities": [opportunity("O1"), opportunity("O2")],
        "demands": [demand("O1", "a"), demand("O1", "b", hours=30), demand("O2", "b", hours=30)],
        "pins": [pin("E1", "O1"), pin("E2", "O2")],
    }
    assert_infeasible(build(**parts), ["pin E1 -> O1", "pin E2 -> O2", "required demand O1/b"])
    assert_feasible(build(**{**parts, "pins": parts["pins"][:1]}))
    assert_feasible(build(**{**parts, "pins": parts["pins"][1:]}))
    b_optional = [
        {**d, "required": d["opportunity_id"] != "O1" or d["skill"] != "b"}
        for d in parts["demands"]
    ]
    assert_feasible(build(**{**parts, "demands": b_optional}))


def test_two_pins_on_one_demand() -> None:
    parts: dict[str, Any] = {
        "engineers": [engineer("E1", {"a": 3}), engineer("E2", {"a": 3})],
        "opportunities": [opportunity("O1"), opportunity("O2")],
        "demands": [demand("O1", "a"), demand("O2", "a")],
        "pins": [pin("E1", "O1", "O1/a"), pin("E1", "O2"), pin("E2", "O1")],
    }
    assert_infeasible(build(**parts), ["pin E1 -> O1/a", "pin E2 -> O1"])
    assert_feasible(build(**{**parts, "pins": parts["pins"][:2]}))
    assert_feasible(build(**{**parts, "pins": parts["pins"][1:]}))


def test_pin_on_engineer_lacking_the_skill() -> None:
    parts: dict[str, Any] = {
        "engineers": [engineer("E1", {"a": 3}), engineer("E2", {"b": 5})],
        "opportunities": [opportunity("O1")],
        "demands": [demand("O1", "a")],
        "pins": [pin("E2", "O1")],
    }
    assert_infeasible(build(**parts), ["pin E2 -> O1"])
    assert_feasible(build(**{**parts, "pins": [pin("E1", "O1")]}))


def test_pin_on_engineer_below_the_level_or_without_the_hours() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 2}), engineer("E2", {"a": 5}, time_off={1: 35})],
        [opportunity("O1"), opportunity("O2")],
        [demand("O1", "a", level=3), demand("O2", "a", hours=8)],
        pins=[pin("E1", "O1"), pin("E2", "O2")],
    )
    allocation = solve(p, FAST)
    assert allocation.status is SolveStatus.INFEASIBLE
    # Each pin is impossible on its own; either one is a minimal conflict.
    assert allocation.conflicts in (["pin E1 -> O1"], ["pin E2 -> O2"])


def test_infeasible_only_with_pins() -> None:
    # Forbids alone never make a problem infeasible: the empty allocation is always allowed.
    p = make_portfolio(
        [engineer("E1", {"a": 3})],
        [opportunity("O1")],
        [demand("O1", "a")],
        forbids=[{"engineer_id": "E1", "opportunity_id": "O1"}],
    )
    allocation = solve(p, FAST)
    assert allocation.status is SolveStatus.OPTIMAL
    assert allocation.assignments == [] and allocation.conflicts == []


# ---------------------------------------------------------------------------------------------
# Edge cases: nothing to do


def test_empty_portfolio() -> None:
    allocation = solve(Portfolio(), FAST)
    assert allocation.status is SolveStatus.OPTIMAL
    assert allocation.objective == 0.0 and allocation.assignments == []


def test_engineers_without_skills_and_no_demands() -> None:
    p = make_portfolio([engineer("E1", {})], [opportunity("O1")], [])
    allocation = solve(p, FAST)
    assert allocation.status is SolveStatus.OPTIMAL and allocation.assignments == []


@pytest.mark.parametrize(
    "portfolio",
    [
        pytest.param(lambda: make_portfolio([engineer("E1", {"a": 3})], [], []), id="no-opps"),
        pytest.param(
            lambda: make_portfolio([engineer("E1", {"a": 3})], [opportunity("O1")], []),
            id="no-demands",
        ),
        pytest.param(
            lambda: make_portfolio(
                [], [opportunity("O1")], [demand("O1", "a")], skills=[{"id": "a"}]
            ),
            id="no-engineers",
        ),
        pytest.param(
            lambda: make_portfolio(
                [engineer("E1", {"a": 2})], [opportunity("O1")], [demand("O1", "a", level=3)]
            ),
            id="level-too-low",
        ),
        pytest.param(
            lambda: make_portfolio(
                [engineer("E1", {"b": 5})],
                [opportunity("O1")],
                [demand("O1", "a")],
                skills=[{"id": "a"}, {"id": "b"}],
            ),
            id="skill-missing",
        ),
        pytest.param(
            lambda: make_portfolio(
                [engineer("E1", {"a": 5}, capacity_hours=4)],
                [opportunity("O1")],
                [demand("O1", "a", hours=8)],
            ),
            id="no-hours",
        ),
    ],
)
def test_no_eligible_pair(portfolio: Any) -> None:
    p = portfolio()
    allocation = solve(p, FAST)
    assert allocation.status is SolveStatus.OPTIMAL
    assert allocation.assignments == [] and allocation.staffed_opportunities == []
    assert allocation.objective == 0.0 and allocation.gap == 0.0
    assert check(p, allocation).ok
    for name in BASELINES:
        baseline = run_baseline(p, name)
        assert baseline.status is SolveStatus.FEASIBLE and baseline.assignments == []


# ---------------------------------------------------------------------------------------------
# Statuses, bounds and gap


def test_status_values() -> None:
    assert [s.value for s in SolveStatus] == [
        "optimal",
        "feasible",
        "infeasible",
        "invalid",
        "unknown",
    ]
    assert [s for s in SolveStatus if s.has_solution] == [
        SolveStatus.OPTIMAL,
        SolveStatus.FEASIBLE,
    ]
    assert SolveStatus("optimal") is SolveStatus.OPTIMAL


def test_gap_is_zero_when_optimal() -> None:
    p = generate(8, 20, seed=1)
    allocation = solve(p, FAST)
    assert allocation.status is SolveStatus.OPTIMAL
    assert allocation.best_bound == allocation.objective
    assert allocation.gap == 0.0
    assert check(p, allocation).ok


def test_gap_matches_bound_and_objective() -> None:
    allocation = repro_first()
    assert allocation.status.has_solution
    assert allocation.best_bound is not None and allocation.objective is not None
    assert allocation.best_bound >= allocation.objective
    gap = (allocation.best_bound - allocation.objective) / max(1.0, abs(allocation.best_bound))
    assert allocation.gap == pytest.approx(gap, abs=1e-12)
    if allocation.status is SolveStatus.OPTIMAL:
        assert allocation.gap == 0.0


def test_tiny_time_limit_claims_no_bound_it_has_not_proven() -> None:
    p = generate(15, 40, seed=3)
    optimum = solve(p, FAST)
    assert optimum.status is SolveStatus.OPTIMAL and optimum.objective is not None
    quick = solve(p, SolveOptions(time_limit=0.0001, workers=1))
    assert quick.status.has_solution and check(p, quick).ok
    assert quick.objective is not None
    if quick.status is SolveStatus.OPTIMAL:
        assert quick.objective == pytest.approx(optimum.objective, abs=0.01)
    # A proven upper bound may not lie below the optimum.
    assert quick.best_bound is None or quick.best_bound >= optimum.objective - 0.01


def test_greedy_fallback_under_a_tiny_time_limit() -> None:
    p = generate(200, 800, seed=1)
    allocation = solve(p, SolveOptions(time_limit=0.01, workers=2, use_greedy_hint=True))
    assert allocation.status is SolveStatus.FEASIBLE
    assert len(allocation.assignments) > 100
    report = check(p, allocation)
    assert report.ok, report.violations[:5]
    assert allocation.objective == pytest.approx(report.objective, abs=0.01)


# ---------------------------------------------------------------------------------------------
# Baselines


def baseline_portfolio(**fields: Any) -> Portfolio:
    """Two opportunities, three engineers; each engineer fits one 30 h role.

    O1 is listed first but requested later, by the more senior salesperson; O2 was requested
    first. E2 is the most senior engineer, then E3, then E1; E3 fits best (level 4), E2 worst
    (it would travel)."""
    return make_portfolio(
        [
            engineer("E1", {"a": 3}, seniority_years=2, title="Associate"),
            engineer("E2", {"a": 3}, "South", seniority_years=20, title="Distinguished"),
            engineer("E3", {"a": 4}, seniority_years=10, title="Principal"),
        ],
        [
            opportunity(
                "O1",
                value=100_000,
                requester="Senior",
                requester_seniority_years=15,
                requested_at=datetime(2026, 1, 5, 10, 0),
            ),
            opportunity(
                "O2",
                value=200_000,
                requester="Junior",
                requester_seniority_years=1,
                requested_at=datetime(2026, 1, 5, 9, 0),
            ),
        ],
        [demand("O1", "a", hours=30), demand("O2", "a", hours=30)],
        **fields,
    )


def checked_baseline(p: Portfolio, name: str) -> Allocation:
    allocation = run_baseline(p, name)
    assert allocation.status is SolveStatus.FEASIBLE
    assert allocation.solver.name == name
    assert allocation.best_bound is None and allocation.gap is None
    report = check(p, allocation)
    assert report.ok, report.violations
    assert allocation.objective == pytest.approx(report.objective, abs=0.01)
    return allocation


def test_seniority_first() -> None:
    # Most senior requester (O1) first, served by the most senior engineer (E2); then O2 by
    # the most senior engineer left (E3).
    p = baseline_portfolio()
    assert pairs(checked_baseline(p, "seniority_first")) == [("E2", "O1/a"), ("E3", "O2/a")]


def test_seniority_first_with_one_engineer_serves_the_senior_requester() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3}, capacity_hours=30)],
        [
            opportunity("O1", value=900_000, requester_seniority_years=2),
            opportunity("O2", value=10_000, requester_seniority_years=12),
        ],
        [demand("O1", "a", hours=30), demand("O2", "a", hours=30)],
    )
    assert pairs(checked_baseline(p, "seniority_first")) == [("E1", "O2/a")]
    assert pairs(solve(p, FAST)) == [("E1", "O1/a")]


def test_first_come_first_served_follows_requested_at() -> None:
    # O2 was requested first: it gets the first engineer in the list (E1); O1 then E2.
    p = baseline_portfolio()
    assert pairs(checked_baseline(p, "first_come_first_served")) == [
        ("E1", "O2/a"),
        ("E2", "O1/a"),
    ]


def test_first_come_first_served_unknown_times_come_last() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3}, capacity_hours=30)],
        [
            opportunity("O1", value=900_000),
            opportunity("O2", value=10_000, requested_at=datetime(2026, 1, 5, 9, 0)),
        ],
        [demand("O1", "a", hours=30), demand("O2", "a", hours=30)],
    )
    assert pairs(checked_baseline(p, "first_come_first_served")) == [("E1", "O2/a")]


def test_value_density() -> None:
    # O2 has the higher value per hour: it takes the best fitting engineer (E3); O1 the best
    # fitting one left (E1; E2 would travel).
    p = baseline_portfolio()
    assert pairs(checked_baseline(p, "value_density")) == [("E1", "O1/a"), ("E3", "O2/a")]


def test_value_density_prefers_value_per_required_hour() -> None:
    # O1 is worth more in total but needs 4x the hours: O2 goes first and takes E1.
    p = make_portfolio(
        [engineer("E1", {"a": 3}, capacity_hours=30)],
        [opportunity("O1", value=300_000), opportunity("O2", value=100_000)],
        [
            demand("O1", "a", hours=24, start_week=1, end_week=2),
            demand("O2", "a", hours=12, start_week=1, end_week=1),
        ],
        horizon_weeks=2,
    )
    assert pairs(checked_baseline(p, "value_density")) == [("E1", "O2/a")]


def test_baselines_release_incomplete_teams_and_place_pins() -> None:
    # Pinned first: E2 on O2, which leaves E2 no hours for O1/b. Every baseline tries O1
    # first (list order, or the highest value density), gives O1/a to E1, cannot complete the
    # team, and must release E1 again: otherwise E1 (10 h left) could not serve O3 (16 h).
    p = make_portfolio(
        [engineer("E1", {"a": 5}), engineer("E2", {"a": 3, "b": 3}, region="South")],
        [opportunity("O1", value=900_000), opportunity("O2"), opportunity("O3")],
        [
            demand("O1", "a", hours=30),
            demand("O1", "b", hours=30),
            demand("O2", "a", hours=30),
            demand("O3", "a", hours=16),
        ],
        pins=[pin("E2", "O2")],
        forbids=[{"engineer_id": "E1", "opportunity_id": "O2"}],
    )
    for name in BASELINES:
        assert pairs(checked_baseline(p, name)) == [("E1", "O3/a"), ("E2", "O2/a")], name


def test_unknown_baseline() -> None:
    with pytest.raises(KeyError, match="unknown baseline"):
        run_baseline(baseline_portfolio(), "coin_toss")


@pytest.mark.parametrize("name", list(BASELINES))
def test_baseline_pin_on_optional_demand_keeps_the_rules(name: str) -> None:
    # Feasible: E2 on O1/a, E1 on the pinned O1/b. Every baseline serves O0 first (densest,
    # earliest, most senior requester) with E2, and O1's team can then not be completed.
    p = make_portfolio(
        [engineer("E1", {"b": 3}), engineer("E2", {"a": 3})],
        [
            opportunity(
                "O0",
                value=1_000_000,
                requester_seniority_years=9,
                requested_at=datetime(2026, 1, 5, 8, 0),
            ),
            opportunity("O1", value=100_000, requested_at=datetime(2026, 1, 5, 9, 0)),
        ],
        [
            demand("O0", "a", hours=30),
            demand("O1", "a", hours=30),
            demand("O1", "b", required=False),
        ],
        pins=[pin("E1", "O1", "O1/b")],
    )
    assert pairs(solve(p, FAST)) == [("E1", "O1/b"), ("E2", "O1/a")]
    allocation = run_baseline(p, name)
    if allocation.status is SolveStatus.FEASIBLE:
        report = check(p, allocation)
        assert report.ok, report.violations
    else:
        assert allocation.status is SolveStatus.UNKNOWN and allocation.assignments == []


def test_a_result_names_the_or_tools_version_it_was_solved_with() -> None:
    import ortools

    assert solve(generate(5, 10, seed=1), FAST).solver.version == ortools.__version__


@pytest.mark.slow
def test_the_status_quo_is_computed_without_loading_a_solver() -> None:
    """A baseline's allocation (the fairness view's status quo, in the server) needs neither
    OR-Tools nor HiGHS (it used to load OR-Tools only to name its version)."""
    import subprocess
    import sys

    code = (
        "import sys; from allocator.core.generate import generate; "
        "from allocator.solve.baselines import BASELINES, run_baseline; "
        "[run_baseline(generate(10, 30, seed=1), name) for name in BASELINES]; "
        "loaded = [m for m in ('ortools', 'highspy') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
