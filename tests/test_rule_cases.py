"""Every hard rule of `allocator.core.rules.HARD_RULES`, parametrised over the list itself: a
rule added without a case here fails. For each rule, the smallest portfolio that shows it, an
allocation that breaks exactly that rule (the checker names it, and nothing else) and the same
allocation with the violation taken out (the checker passes it); and the solver's allocation of
that portfolio passes the checker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from conftest import FAST, demand, engineer, make_portfolio, opportunity
from test_rules import broken

from allocator.core.check import check
from allocator.core.rules import HARD_RULES
from allocator.model import Portfolio
from allocator.solver import solve


@dataclass(frozen=True)
class Case:
    portfolio: Portfolio
    breaking: tuple[tuple[str, str], ...]
    keeping: tuple[tuple[str, str], ...]


def _pin(e: str, o: str, d: str = "") -> dict[str, Any]:
    return {"engineer_id": e, "opportunity_id": o, "demand_id": d}


def _cases() -> dict[str, Case]:
    two_a = [engineer("E1", {"a": 5}), engineer("E2", {"a": 5})]
    return {
        "single_engineer": Case(
            make_portfolio(
                [engineer("E1", {"a": 4}), engineer("E2", {"a": 5})],
                [opportunity("O1")],
                [demand("O1", "a")],
            ),
            (("E1", "O1/a"), ("E2", "O1/a")),
            (("E2", "O1/a"),),
        ),
        "proficiency": Case(
            make_portfolio(
                [engineer("E1", {"a": 2}), engineer("E2", {"a": 3})],
                [opportunity("O1"), opportunity("O2")],
                [demand("O1", "a"), demand("O2", "a")],
            ),
            (("E2", "O1/a"), ("E1", "O2/a")),
            (("E2", "O1/a"),),
        ),
        "capacity": Case(
            make_portfolio(
                [engineer("E1", {"a": 5}, committed_hours=30)],
                [opportunity("O1")],
                [demand("O1", "a", hours=10.01)],
            ),
            (("E1", "O1/a"),),
            (),
        ),
        "one_role_per_opportunity": Case(
            make_portfolio(
                [engineer("E1", {"a": 5, "b": 5})],
                [opportunity("O1")],
                [demand("O1", "a"), demand("O1", "b", required=False)],
            ),
            (("E1", "O1/a"), ("E1", "O1/b")),
            (("E1", "O1/a"),),
        ),
        "opportunity_limit": Case(
            make_portfolio(
                [engineer("E1", {"a": 5})],
                [opportunity("O1"), opportunity("O2"), opportunity("O3")],
                [demand(o, "a", hours=4) for o in ("O1", "O2", "O3")],
                policy={"max_opportunities_per_engineer": 2},
            ),
            (("E1", "O1/a"), ("E1", "O2/a"), ("E1", "O3/a")),
            (("E1", "O1/a"), ("E1", "O2/a")),
        ),
        "pin": Case(
            make_portfolio(
                two_a, [opportunity("O1")], [demand("O1", "a")], pins=[_pin("E1", "O1")]
            ),
            (("E2", "O1/a"),),
            (("E1", "O1/a"),),
        ),
        "forbid": Case(
            make_portfolio(
                two_a,
                [opportunity("O1")],
                [demand("O1", "a")],
                forbids=[{"engineer_id": "E1", "opportunity_id": "O1"}],
            ),
            (("E1", "O1/a"),),
            (("E2", "O1/a"),),
        ),
        "team_completeness": Case(
            make_portfolio(
                [engineer("E1", {"a": 5}), engineer("E2", {"b": 5}, committed_hours=40)],
                [opportunity("O1")],
                [demand("O1", "a"), demand("O1", "b", hours=0)],
            ),
            (("E1", "O1/a"),),
            (("E1", "O1/a"), ("E2", "O1/b")),
        ),
        "optional_needs_team": Case(
            make_portfolio(
                [engineer("E1", {"b": 5}), engineer("E2", {"a": 2})],
                [opportunity("O1")],
                [demand("O1", "a"), demand("O1", "b", required=False)],
            ),
            (("E1", "O1/b"),),
            (),
        ),
    }


CASES = _cases()


@pytest.mark.parametrize("rule", HARD_RULES, ids=lambda rule: rule.key)
def test_the_checker_names_exactly_the_broken_rule(rule: Any) -> None:
    case = CASES.get(rule.key)
    if case is None:
        pytest.fail(f"hard rule {rule.key!r} has no case in tests/test_rule_cases.py")
    assert broken(case.portfolio, *case.breaking) == [rule.key]
    assert broken(case.portfolio, *case.keeping) == []


@pytest.mark.parametrize("rule", HARD_RULES, ids=lambda rule: rule.key)
def test_the_solver_never_breaks_the_rule(rule: Any) -> None:
    case = CASES.get(rule.key)
    if case is None:
        pytest.fail(f"hard rule {rule.key!r} has no case in tests/test_rule_cases.py")
    allocation = solve(case.portfolio, FAST)
    assert allocation.status.has_solution, allocation.message
    report = check(case.portfolio, allocation)
    assert report.ok, report.violations


def test_every_case_is_a_hard_rule() -> None:
    assert set(CASES) <= {rule.key for rule in HARD_RULES}
