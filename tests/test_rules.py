"""Every hard rule: (a) the solver respects it where it binds, on the smallest portfolio that
shows it; (b) the checker flags a hand-made allocation that breaks it, with the rule's key, and
passes the same allocation once the violation is taken out."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FAST, demand, engineer, make_portfolio, opportunity

from allocator.core.check import check
from allocator.core.rules import HARD_RULES
from allocator.model import Allocation, Assignment, Portfolio, SolveStatus
from allocator.solver import solve

# ---------------------------------------------------------------------------------------------
# Helpers


def solved_pairs(portfolio: Portfolio) -> list[tuple[str, str]]:
    """Solve to optimality, insist the checker agrees, return sorted (engineer, demand) pairs."""
    allocation = solve(portfolio, FAST)
    assert allocation.status is SolveStatus.OPTIMAL, allocation.message
    report = check(portfolio, allocation)
    assert report.ok, report.violations
    return sorted((a.engineer_id, a.demand_id) for a in allocation.assignments)


def hand_made(portfolio: Portfolio, *pairs: tuple[str, str]) -> Allocation:
    """An allocation of (engineer, demand) pairs, reported consistently (staffed list, terms),
    so that the checker can only object to the hard rules."""
    demands = portfolio.demand_by_id()
    assignments = [
        Assignment(
            engineer_id=e,
            opportunity_id=demands[d].opportunity_id,
            demand_id=d,
            skill=demands[d].skill,
            hours=demands[d].hours,
            start_week=demands[d].weeks(portfolio.horizon_weeks)[0],
            end_week=demands[d].weeks(portfolio.horizon_weeks)[-1],
        )
        for e, d in pairs
    ]
    served = {d for _, d in pairs}
    staffed = [
        o
        for o, roles in portfolio.demands_of().items()
        if any(r.required for r in roles) and all(r.id in served for r in roles if r.required)
    ]
    draft = Allocation(
        status=SolveStatus.FEASIBLE, assignments=assignments, staffed_opportunities=staffed
    )
    recomputed = check(portfolio, draft)
    return draft.model_copy(update={"terms": recomputed.terms, "objective": recomputed.objective})


def broken(portfolio: Portfolio, *pairs: tuple[str, str]) -> list[str]:
    """The rule keys the checker reports for a hand-made allocation, sorted."""
    return sorted(v.rule for v in check(portfolio, hand_made(portfolio, *pairs)).violations)


def pin(e: str, o: str, d: str = "") -> dict[str, Any]:
    return {"engineer_id": e, "opportunity_id": o, "demand_id": d}


def test_every_hard_rule_is_covered_here() -> None:
    keys = {rule.key for rule in HARD_RULES}
    assert keys == {
        "single_engineer",
        "proficiency",
        "capacity",
        "one_role_per_opportunity",
        "opportunity_limit",
        "pin",
        "forbid",
        "team_completeness",
        "optional_needs_team",
    }


# ---------------------------------------------------------------------------------------------
# single_engineer


def test_solver_single_engineer_per_demand() -> None:
    # Both engineers would add skill-fit points; only the better one may serve.
    p = make_portfolio(
        [engineer("E1", {"a": 4}), engineer("E2", {"a": 5})],
        [opportunity("O1")],
        [demand("O1", "a")],
    )
    assert solved_pairs(p) == [("E2", "O1/a")]


def test_checker_single_engineer() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 4}), engineer("E2", {"a": 5})],
        [opportunity("O1")],
        [demand("O1", "a")],
    )
    assert broken(p, ("E1", "O1/a"), ("E2", "O1/a")) == ["single_engineer"]
    assert broken(p, ("E2", "O1/a")) == []


# ---------------------------------------------------------------------------------------------
# proficiency


def test_solver_proficiency_minimum() -> None:
    # E1 would score better (same region: -2 fit vs -5 travel) but is below the minimum.
    p = make_portfolio(
        [engineer("E1", {"a": 2}), engineer("E2", {"a": 3}, region="South")],
        [opportunity("O1")],
        [demand("O1", "a", level=3)],
    )
    assert solved_pairs(p) == [("E2", "O1/a")]


def test_checker_proficiency() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 2}), engineer("E2", {"a": 3})],
        [opportunity("O1"), opportunity("O2")],
        [demand("O1", "a"), demand("O2", "a")],
    )
    assert broken(p, ("E2", "O1/a"), ("E1", "O2/a")) == ["proficiency"]
    assert broken(p, ("E2", "O1/a")) == []
    # An engineer without the skill at all counts as level 0.
    q = make_portfolio(
        [engineer("E1", {"b": 5})],
        [opportunity("O1")],
        [demand("O1", "a", level=1)],
        skills=[{"id": "a"}, {"id": "b"}],
    )
    assert broken(q, ("E1", "O1/a")) == ["proficiency"]


# ---------------------------------------------------------------------------------------------
# capacity (capacity, committed hours, time off)


def test_solver_weekly_capacity() -> None:
    # E1 fits one 24 h demand, not two; E1 prefers O2 (industry), so O1 goes to E2.
    p = make_portfolio(
        [
            engineer("E1", {"a": 5}, industries=["finance"]),
            engineer("E2", {"a": 3}, region="South"),
        ],
        [opportunity("O1"), opportunity("O2", industry="finance")],
        [demand("O1", "a", hours=24), demand("O2", "a", hours=24)],
        policy={"load_penalty": 0},  # Only the rule keeps E1 from taking both.
    )
    assert solved_pairs(p) == [("E1", "O2/a"), ("E2", "O1/a")]


def test_solver_committed_hours_reduce_capacity() -> None:
    # E1: 40 h - 20 h committed = 20 h free: fits the 20 h demand exactly, not the 24 h one.
    p = make_portfolio(
        [
            engineer("E1", {"a": 5}, committed_hours=20),
            engineer("E2", {"a": 3}, region="South"),
        ],
        [opportunity("O1"), opportunity("O2")],
        [demand("O1", "a", hours=24), demand("O2", "a", hours=20)],
        policy={"load_penalty": 0},
    )
    assert solved_pairs(p) == [("E1", "O2/a"), ("E2", "O1/a")]


def test_solver_time_off_makes_a_week_too_short() -> None:
    # E1 has 30 h off in week 2 (10 h free): O1 needs 16 h in weeks 1-2, O2 only in week 1.
    p = make_portfolio(
        [
            engineer("E1", {"a": 5}, time_off={2: 30}),
            engineer("E2", {"a": 3}, region="South"),
        ],
        [opportunity("O1"), opportunity("O2")],
        [
            demand("O1", "a", hours=16, start_week=1, end_week=2),
            demand("O2", "a", hours=16, start_week=1, end_week=1),
        ],
        horizon_weeks=2,
        policy={"load_penalty": 0},
    )
    assert solved_pairs(p) == [("E1", "O2/a"), ("E2", "O1/a")]


def test_checker_capacity_with_time_off_and_committed_hours() -> None:
    # E1 week 1: 40 - 8 committed = 32 h free; week 2: 40 - 8 - 8 off = 24 h free.
    p = make_portfolio(
        [engineer("E1", {"a": 5}, committed_hours=8, time_off={2: 8}), engineer("E2", {"a": 5})],
        [opportunity("O1"), opportunity("O2")],
        [demand("O1", "a", hours=16), demand("O2", "a", hours=16)],
        horizon_weeks=2,
    )
    report = check(p, hand_made(p, ("E1", "O1/a"), ("E1", "O2/a")))
    assert [v.rule for v in report.violations] == ["capacity"]
    assert "week 2" in report.violations[0].message  # Week 1 (32 h) holds; week 2 does not.
    assert broken(p, ("E1", "O1/a"), ("E2", "O2/a")) == []


def test_checker_capacity_committed_hours_alone() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5}, committed_hours=30)],
        [opportunity("O1")],
        [demand("O1", "a", hours=10.01)],
    )
    assert broken(p, ("E1", "O1/a")) == ["capacity"]
    q = make_portfolio(
        [engineer("E1", {"a": 5}, committed_hours=30)],
        [opportunity("O1")],
        [demand("O1", "a", hours=10)],
    )
    assert broken(q, ("E1", "O1/a")) == []


# ---------------------------------------------------------------------------------------------
# one_role_per_opportunity


def test_solver_one_role_per_opportunity() -> None:
    # E1 is the best fit for both roles of O1 but may take only one.
    p = make_portfolio(
        [engineer("E1", {"a": 5, "b": 5}), engineer("E2", {"b": 3}, region="South")],
        [opportunity("O1")],
        [demand("O1", "a"), demand("O1", "b")],
    )
    assert solved_pairs(p) == [("E1", "O1/a"), ("E2", "O1/b")]


def test_checker_one_role_per_opportunity() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5, "b": 5})],
        [opportunity("O1")],
        [demand("O1", "a"), demand("O1", "b", required=False)],
    )
    assert broken(p, ("E1", "O1/a"), ("E1", "O1/b")) == ["one_role_per_opportunity"]
    assert broken(p, ("E1", "O1/a")) == []


# ---------------------------------------------------------------------------------------------
# opportunity_limit


def test_solver_opportunity_limit() -> None:
    # E1 would take all three (fit 2 each, home region); the limit is 2. E2 loses least on O3
    # (travel -5, industry +3), so O3 is the one that goes to E2.
    p = make_portfolio(
        [
            engineer("E1", {"a": 4}),
            engineer("E2", {"a": 4}, region="South", industries=["finance"]),
        ],
        [opportunity("O1"), opportunity("O2"), opportunity("O3", industry="finance")],
        [demand("O1", "a"), demand("O2", "a"), demand("O3", "a")],
        policy={"max_opportunities_per_engineer": 2},
    )
    assert solved_pairs(p) == [("E1", "O1/a"), ("E1", "O2/a"), ("E2", "O3/a")]


def test_solver_opportunity_limit_leaves_the_least_valuable_unstaffed() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3})],
        [opportunity("O1", value=300_000), opportunity("O2", value=10_000)],
        [demand("O1", "a", hours=4), demand("O2", "a", hours=4)],
        policy={"max_opportunities_per_engineer": 1},
    )
    assert solved_pairs(p) == [("E1", "O1/a")]


def test_checker_opportunity_limit() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5})],
        [opportunity("O1"), opportunity("O2"), opportunity("O3")],
        [demand("O1", "a", hours=4), demand("O2", "a", hours=4), demand("O3", "a", hours=4)],
        policy={"max_opportunities_per_engineer": 2},
    )
    assert broken(p, ("E1", "O1/a"), ("E1", "O2/a"), ("E1", "O3/a")) == ["opportunity_limit"]
    assert broken(p, ("E1", "O1/a"), ("E1", "O2/a")) == []


# ---------------------------------------------------------------------------------------------
# pin


def test_solver_pin_forces_a_worse_engineer() -> None:
    engineers = [engineer("E1", {"a": 5}), engineer("E2", {"a": 3}, region="South")]
    p = make_portfolio(engineers, [opportunity("O1")], [demand("O1", "a")])
    assert solved_pairs(p) == [("E1", "O1/a")]
    pinned = make_portfolio(
        engineers, [opportunity("O1")], [demand("O1", "a")], pins=[pin("E2", "O1")]
    )
    assert solved_pairs(pinned) == [("E2", "O1/a")]


def test_solver_pin_staffs_an_opportunity_the_objective_would_leave() -> None:
    # Worthless deal, cross-region engineer: -5 points, staffed only because it is pinned.
    engineers = [engineer("E1", {"a": 3}, region="South")]
    p = make_portfolio(engineers, [opportunity("O1", value=0)], [demand("O1", "a")])
    assert solved_pairs(p) == []
    pinned = make_portfolio(
        engineers, [opportunity("O1", value=0)], [demand("O1", "a")], pins=[pin("E1", "O1")]
    )
    allocation = solve(pinned, FAST)
    assert [(a.engineer_id, a.demand_id) for a in allocation.assignments] == [("E1", "O1/a")]
    assert allocation.objective == pytest.approx(-5.0)


def test_solver_pin_on_an_optional_demand_brings_its_team() -> None:
    # E1 on the optional role costs 5 points of travel; the pin forces it, and with it the team.
    engineers = [engineer("E1", {"b": 3}, region="South"), engineer("E2", {"a": 3})]
    demands = [demand("O1", "a"), demand("O1", "b", required=False)]
    p = make_portfolio(engineers, [opportunity("O1")], demands)
    assert solved_pairs(p) == [("E2", "O1/a")]
    pinned = make_portfolio(engineers, [opportunity("O1")], demands, pins=[pin("E1", "O1", "O1/b")])
    assert solved_pairs(pinned) == [("E1", "O1/b"), ("E2", "O1/a")]


def test_solver_demand_pin_chooses_the_role() -> None:
    # E1 fits role a better (+4 vs 0); a pin on role b moves E1 there, and E2 takes a.
    engineers = [engineer("E1", {"a": 5, "b": 3}), engineer("E2", {"a": 3, "b": 5})]
    demands = [demand("O1", "a"), demand("O1", "b")]
    p = make_portfolio(engineers, [opportunity("O1")], demands)
    assert solved_pairs(p) == [("E1", "O1/a"), ("E2", "O1/b")]
    pinned = make_portfolio(engineers, [opportunity("O1")], demands, pins=[pin("E1", "O1", "O1/b")])
    assert solved_pairs(pinned) == [("E1", "O1/b"), ("E2", "O1/a")]


def test_checker_pin() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5}), engineer("E2", {"a": 5})],
        [opportunity("O1")],
        [demand("O1", "a")],
        pins=[pin("E1", "O1")],
    )
    assert broken(p) == ["pin"]
    assert broken(p, ("E2", "O1/a")) == ["pin"]
    assert broken(p, ("E1", "O1/a")) == []
    unpinned = make_portfolio(
        [engineer("E1", {"a": 5}), engineer("E2", {"a": 5})],
        [opportunity("O1")],
        [demand("O1", "a")],
    )
    assert broken(unpinned, ("E2", "O1/a")) == []


def test_checker_demand_pin_needs_that_demand() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5, "b": 5}), engineer("E2", {"a": 5, "b": 5})],
        [opportunity("O1")],
        [demand("O1", "a"), demand("O1", "b")],
        pins=[pin("E1", "O1", "O1/b")],
    )
    assert broken(p, ("E1", "O1/a"), ("E2", "O1/b")) == ["pin"]
    assert broken(p, ("E2", "O1/a"), ("E1", "O1/b")) == []


# ---------------------------------------------------------------------------------------------
# forbid


def test_solver_forbid_on_opportunity() -> None:
    engineers = [engineer("E1", {"a": 5}), engineer("E2", {"a": 3}, region="South")]
    p = make_portfolio(
        engineers,
        [opportunity("O1")],
        [demand("O1", "a")],
        forbids=[{"engineer_id": "E1", "opportunity_id": "O1"}],
    )
    assert solved_pairs(p) == [("E2", "O1/a")]


def test_solver_forbid_on_demand_only_rules_out_that_role() -> None:
    engineers = [engineer("E1", {"a": 5, "b": 3}), engineer("E2", {"a": 3, "b": 5})]
    demands = [demand("O1", "a"), demand("O1", "b")]
    forbids = [{"engineer_id": "E1", "opportunity_id": "O1", "demand_id": "O1/a"}]
    p = make_portfolio(engineers, [opportunity("O1")], demands, forbids=forbids)
    assert solved_pairs(p) == [("E1", "O1/b"), ("E2", "O1/a")]


def test_checker_forbid() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5, "b": 5}), engineer("E2", {"a": 5, "b": 5})],
        [opportunity("O1"), opportunity("O2")],
        [demand("O1", "a"), demand("O1", "b", required=False), demand("O2", "a")],
        forbids=[
            {"engineer_id": "E1", "opportunity_id": "O1"},
            {"engineer_id": "E2", "opportunity_id": "O1", "demand_id": "O1/b"},
        ],
    )
    assert broken(p, ("E1", "O1/a"), ("E2", "O2/a")) == ["forbid"]
    assert broken(p, ("E2", "O1/a"), ("E1", "O2/a")) == []  # E2 is forbidden O1/b only.
    assert broken(p, ("E1", "O1/a"), ("E2", "O1/b")) == ["forbid", "forbid"]
    assert broken(p, ("E2", "O2/a")) == []


# ---------------------------------------------------------------------------------------------
# team_completeness


def test_solver_team_that_cannot_be_completed_is_left_unstaffed() -> None:
    # Nobody has role b at level 3; E1 alone on role a would add +4 skill fit, but may not.
    p = make_portfolio(
        [engineer("E1", {"a": 5}), engineer("E2", {"b": 2})],
        [opportunity("O1")],
        [demand("O1", "a"), demand("O1", "b")],
    )
    assert solved_pairs(p) == []


def test_solver_team_blocked_by_one_role_rule_frees_the_engineer() -> None:
    # E1 is the only engineer with a and b: O1 needs both roles, so O1 stays empty and E1
    # serves O2 instead (worth less than O1 would be).
    p = make_portfolio(
        [engineer("E1", {"a": 5, "b": 5})],
        [opportunity("O1", value=900_000), opportunity("O2", value=10_000)],
        [demand("O1", "a"), demand("O1", "b"), demand("O2", "a")],
    )
    assert solved_pairs(p) == [("E1", "O2/a")]


def test_solver_team_blocked_by_capacity_and_forbid() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5}), engineer("E2", {"b": 5}, capacity_hours=10)],
        [opportunity("O1"), opportunity("O2")],
        [
            demand("O1", "a"),
            demand("O1", "b", hours=12),  # E2 has only 10 h.
            demand("O2", "a"),
            demand("O2", "b", hours=4),
        ],
        forbids=[{"engineer_id": "E1", "opportunity_id": "O2"}],
    )
    assert solved_pairs(p) == []


def test_checker_team_completeness() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5}), engineer("E2", {"b": 5})],
        [opportunity("O1"), opportunity("O2")],
        [demand("O1", "a"), demand("O1", "b"), demand("O2", "a")],
    )
    report = check(p, hand_made(p, ("E1", "O1/a")))
    assert [v.rule for v in report.violations] == ["team_completeness"]
    assert "O1/b" in report.violations[0].message
    assert broken(p, ("E1", "O2/a")) == []
    assert broken(p, ("E1", "O1/a"), ("E2", "O1/b")) == []


# ---------------------------------------------------------------------------------------------
# optional_needs_team


def test_solver_optional_role_needs_the_team() -> None:
    # E1 on optional b would add +4; the required role a has no qualified engineer.
    p = make_portfolio(
        [engineer("E1", {"b": 5})],
        [opportunity("O1")],
        [demand("O1", "a"), demand("O1", "b", required=False)],
        skills=[{"id": "a"}, {"id": "b"}],
    )
    assert solved_pairs(p) == []
    q = make_portfolio(
        [engineer("E1", {"b": 5}), engineer("E2", {"a": 3})],
        [opportunity("O1")],
        [demand("O1", "a"), demand("O1", "b", required=False)],
    )
    assert solved_pairs(q) == [("E1", "O1/b"), ("E2", "O1/a")]


def test_solver_optional_role_with_negative_score_is_left_out() -> None:
    p = make_portfolio(
        [engineer("E1", {"b": 3}, region="South"), engineer("E2", {"a": 3})],
        [opportunity("O1")],
        [demand("O1", "a"), demand("O1", "b", required=False)],
    )
    assert solved_pairs(p) == [("E2", "O1/a")]


def test_checker_optional_needs_team() -> None:
    p = make_portfolio(
        [engineer("E1", {"b": 5}), engineer("E2", {"a": 3})],
        [opportunity("O1")],
        [demand("O1", "a"), demand("O1", "b", required=False)],
    )
    assert broken(p, ("E1", "O1/b")) == ["optional_needs_team"]
    assert broken(p) == []
    assert broken(p, ("E1", "O1/b"), ("E2", "O1/a")) == []
