"""Issue 10, case by case: the checker and the conflict explanation tell the whole truth.

- `allocator check` accepts a correct infeasible result (no "pin not honoured" against the
  empty list) and judges its conflict sets: existing items, infeasible on their own, minimal,
  complete when they say so;
- every conflict is named when a run is infeasible for more than one reason;
- the edges of the rules: time off above capacity, 0-hour demands without free hours,
  duplicate previous rows, and figures exact in integer arithmetic (a utilization target of
  0.7499999999999, an expected value ending in half a hundredth);
- baselines honour pins and forbids on a feasible pinned 50 x 200 portfolio.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, demand, engineer, make_portfolio, opportunity
from typer.testing import CliRunner

import allocator.core.check as checker
from allocator.cli.main import app
from allocator.core.check import check
from allocator.core.generate import generate
from allocator.explain.explanations import Run, explain_conflicts
from allocator.model import Allocation, Pin, Portfolio, SolveStatus
from allocator.solve import heuristics
from allocator.solve.baselines import BASELINES, run_baseline
from allocator.solve.compiled import compile_portfolio
from allocator.solve.conflicts import describe_conflicts
from allocator.solver import SolveOptions, solve


def violations(p: Portfolio, allocation: Allocation, **changes: Any) -> list[str]:
    changed = allocation.model_copy(update=changes) if changes else allocation
    return [str(v) for v in check(p, changed).violations]


# ---------------------------------------------------------------------------------------------
# Infeasible results and their conflicts


def two_reasons() -> Portfolio:
    """O2 is pinned to E2, who is forbidden there, and O2/x needs a skill nobody has."""
    return make_portfolio(
        [engineer("E1", {"a": 3}), engineer("E2", {"a": 3})],
        [opportunity("O1"), opportunity("O2")],
        [demand("O1", "a"), demand("O2", "a"), demand("O2", "x")],
        skills=[{"id": "a"}, {"id": "x"}],
        pins=[{"engineer_id": "E2", "opportunity_id": "O2"}],
        forbids=[{"engineer_id": "E2", "opportunity_id": "O2"}],
    )


def test_an_infeasible_run_names_every_minimal_conflict() -> None:
    p = two_reasons()
    allocation = solve(p, FAST)
    assert allocation.status is SolveStatus.INFEASIBLE
    assert allocation.conflict_sets == [
        ["pin E2 -> O2", "forbid E2 -> O2"],
        ["pin E2 -> O2", "required demand O2/x"],
    ]
    assert allocation.conflicts == allocation.conflict_sets[0]
    assert allocation.conflicts_complete
    assert allocation.message == (
        "The hard rules cannot all hold, for 2 reasons: (1) pin E2 -> O2; forbid E2 -> O2, and "
        "also (2) pin E2 -> O2; required demand O2/x. No set can hold on its own, and removing "
        "any one item of a set lets the rest of it hold; the run becomes feasible once at least "
        "one item of every set is removed."
    )
    assert explain_conflicts(Run.of(p, allocation)).startswith(
        "The hard rules cannot all hold, for 2 reasons: (1) pin E2 -> O2; forbid E2 -> O2, and "
    )
    # What the words promise: removing the forbid alone does not help, the pin does.
    assert solve(p.model_copy(update={"forbids": ()}), FAST).status is SolveStatus.INFEASIBLE
    assert solve(p.model_copy(update={"pins": ()}), FAST).status is SolveStatus.OPTIMAL


def test_the_checker_accepts_a_correct_infeasible_result() -> None:
    p = two_reasons()
    allocation = solve(p, FAST)
    assert violations(p, allocation) == []


def test_solve_then_check_exits_0_on_an_infeasible_portfolio(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(two_reasons().model_dump_json())
    runner = CliRunner()
    portfolio, result = str(tmp_path / "p.json"), str(tmp_path / "r.json")
    solved = runner.invoke(app, ["solve", portfolio, "--out", result])
    assert solved.exit_code == 0, solved.stdout
    checked = runner.invoke(app, ["check", portfolio, result])
    assert checked.exit_code == 0, checked.stdout
    assert json.loads(Path(result).read_text())["status"] == "infeasible"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"conflict_sets": [["pin E2 -> O2", "forbid E2 -> O2"]]},
            "Conflict not proven: the conflicts are said to be complete, but removing forbid "
            "E2 -> O2 leaves the run infeasible",
        ),
        (
            {
                "conflicts": ["pin E2 -> O2", "forbid E2 -> O2", "required demand O1/a"],
                "conflict_sets": [["pin E2 -> O2", "forbid E2 -> O2", "required demand O1/a"]],
                "conflicts_complete": False,
            },
            "Conflict not proven: conflict set 1 (pin E2 -> O2; forbid E2 -> O2; required "
            "demand O1/a) is not minimal: without required demand O1/a it still cannot hold",
        ),
        (
            {
                "conflicts": ["forbid E2 -> O2"],
                "conflict_sets": [["forbid E2 -> O2"]],
                "conflicts_complete": False,
            },
            "Conflict not proven: conflict set 1 (forbid E2 -> O2) can all hold at once",
        ),
        (
            {"conflicts": ["pin E1 -> O2"], "conflict_sets": [["pin E1 -> O2"]]},
            "Conflict not proven: 'pin E1 -> O2' names no pin, forbid or required demand",
        ),
        (
            {"conflicts": ["required demand O2/a"]},
            "Conflict not proven: conflicts is not the first of conflict_sets",
        ),
        (
            {"conflicts": [], "conflict_sets": [], "conflicts_complete": False},
            "Conflict not proven: status infeasible, but no conflict is named",
        ),
        ({"objective": 0.0}, "Malformed result: status infeasible but objective is 0.0"),
    ],
)
def test_the_checker_rejects_a_wrong_conflict_claim(changes: dict[str, Any], expected: str) -> None:
    p = two_reasons()
    assert violations(p, solve(p, FAST), **changes) == [expected]


def test_infeasible_is_wrong_without_pins() -> None:
    p = two_reasons().model_copy(update={"pins": ()})
    claim = Allocation(status=SolveStatus.INFEASIBLE, conflicts=["forbid E2 -> O2"])
    assert violations(p, claim) == [
        "Conflict not proven: status infeasible, but the portfolio has no pins: the empty "
        "allocation holds every hard rule"
    ]


def test_a_conflict_of_identical_pins_is_named_once() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3})],
        [opportunity("O1")],
        [demand("O1", "a")],
        pins=[{"engineer_id": "E1", "opportunity_id": "O1"}] * 2,
        forbids=[{"engineer_id": "E1", "opportunity_id": "O1"}],
    )
    allocation = solve(p, FAST)
    assert allocation.conflict_sets == [["pin E1 -> O1", "forbid E1 -> O1"]]
    assert allocation.conflicts_complete and violations(p, allocation) == []


def test_lifting_one_of_two_forbids_of_a_pair_does_not_free_it() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3})],
        [opportunity("O1")],
        [demand("O1", "a")],
        pins=[{"engineer_id": "E1", "opportunity_id": "O1"}],
        forbids=[
            {"engineer_id": "E1", "opportunity_id": "O1"},
            {"engineer_id": "E1", "opportunity_id": "O1", "demand_id": "O1/a"},
        ],
    )
    allocation = solve(p, FAST)
    # Either forbid keeps E1 off O1/a: two conflicts, each lifted only with its own pin.
    assert allocation.conflict_sets == [
        ["pin E1 -> O1", "forbid E1 -> O1"],
        ["pin E1 -> O1", "forbid E1 -> O1/a"],
    ]
    assert allocation.conflicts_complete and violations(p, allocation) == []


# ---------------------------------------------------------------------------------------------
# Results the checker used to accept


def solved() -> tuple[Portfolio, Allocation]:
    p = make_portfolio(
        [engineer("E1", {"a": 4}), engineer("E2", {"b": 3})],
        [opportunity("O1"), opportunity("O2", value=1)],
        [demand("O1", "a"), demand("O2", "b", hours=60)],
    )
    allocation = solve(p, FAST)
    assert allocation.status is SolveStatus.OPTIMAL and violations(p, allocation) == []
    return p, allocation


def test_a_term_off_by_one_hundredth() -> None:
    p, a = solved()
    terms = {**a.terms, "skill_fit": a.terms["skill_fit"] + 0.01}
    assert violations(p, a, terms=terms)[0].startswith(
        "Figure misreported: term skill_fit is reported as 2.01, recomputed 2.00"
    )


def test_an_objective_that_is_not_the_sum_of_its_terms() -> None:
    p, a = solved()
    assert a.objective is not None
    assert "Figure misreported: objective 1.0 is not the sum of its terms" in violations(
        p, a, objective=1.0, best_bound=1.0
    )


def test_an_extra_term_key() -> None:
    p, a = solved()
    assert violations(p, a, terms={**a.terms, "bonus": 0.0}) == [
        "Figure misreported: unknown term keys ['bonus']"
    ]


def test_optimal_with_a_bound_below_the_objective() -> None:
    p, a = solved()
    assert a.objective is not None
    bound = round(a.objective - 1, 2)
    found = violations(p, a, best_bound=bound)
    assert found[0].startswith("Figure misreported: status optimal needs best bound = objective")
    assert f"Figure misreported: best bound {bound} is below the objective {a.objective}" in found


def test_staffed_without_an_assignment() -> None:
    p, a = solved()
    assert violations(p, a, staffed_opportunities=["O1", "O2"]) == [
        "Malformed result: staffed_opportunities lists ['O2'] not staffed, omits []"
    ]


# ---------------------------------------------------------------------------------------------
# The rules at their edges, and exact figures


def test_time_off_above_capacity_floors_free_and_worked_hours_at_0() -> None:
    # 40 h capacity, 8 h committed, 50 h off: 0 h free, 0 h worked, so the target is 0 and the
    # 8 committed hours are all above it (the README's max(0, ...)).
    p = make_portfolio(
        [engineer("E1", {"a": 3}, committed_hours=8, time_off={1: 50})],
        [opportunity("O1")],
        [demand("O1", "a", hours=1)],
    )
    problem = compile_portfolio(p)
    assert problem.engineer_available.tolist() == [[0]]
    assert problem.engineer_load_slack.tolist() == [[-800]]
    allocation = solve(p, FAST)
    assert allocation.assignments == []  # 1 h does not fit into 0 h free.
    assert allocation.terms["load_balance"] == -8.0
    assert violations(p, allocation) == []


def test_a_0_hour_demand_fits_an_engineer_without_free_hours() -> None:
    # 40 - 30 committed - 20 off = -10 h: floored at 0, and 0 h <= 0 h.
    p = make_portfolio(
        [engineer("E1", {"a": 3}, committed_hours=30, time_off={1: 20})],
        [opportunity("O1")],
        [demand("O1", "a", hours=0)],
    )
    allocation = solve(p, FAST)
    assert [a.engineer_id for a in allocation.assignments] == ["E1"]
    assert violations(p, allocation) == []


def test_duplicate_previous_rows_count_once() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3})],
        [opportunity("O1"), opportunity("O2")],
        [demand("O1", "a"), demand("O2", "b")],
        skills=[{"id": "a"}, {"id": "b"}],
        previous=[{"engineer_id": "E1", "opportunity_id": "O2"}] * 2,
    )
    allocation = solve(p, FAST)
    assert allocation.terms["continuity"] == -20.0
    assert violations(p, allocation) == []


def test_a_utilization_target_is_the_decimal_it_is_written_as() -> None:
    # floor(0.7499999999999 x 40 h) = 29.99 h (a float product gives 30.00 h): 31 h is
    # 1.01 h above the target.
    p = make_portfolio(
        [engineer("E1", {"a": 3})],
        [opportunity("O1")],
        [demand("O1", "a", hours=31)],
        policy={"utilization_target": 0.7499999999999},
    )
    assert compile_portfolio(p).engineer_load_slack.tolist() == [[2999]]
    allocation = solve(p, FAST)
    assert allocation.terms["load_balance"] == -1.01
    assert violations(p, allocation) == []
    wrong = {**allocation.terms, "load_balance": -1.0}
    assert any("load_balance" in v for v in violations(p, allocation, terms=wrong))


def test_an_expected_value_of_half_a_hundredth_rounds_up() -> None:
    # 1,005 x 1 x 1.0 / 1,000 = 1.005 points: 1.01 (half up), exactly; a float product and
    # round-half-even gave 1.00.
    p = make_portfolio(
        [engineer("E1", {"a": 3})],
        [opportunity("O1", value=1005, win=1.0, tier="C")],
        [demand("O1", "a")],
        policy={"load_penalty": 0},
    )
    assert compile_portfolio(p).opportunity_value.tolist() == [101]
    allocation = solve(p, FAST)
    assert allocation.terms["expected_value"] == 1.01
    assert violations(p, allocation) == []


# ---------------------------------------------------------------------------------------------
# Baselines with pins and forbids


def pinned_portfolio() -> Portfolio:
    """generate(50, 200) with a pin on every third assignment of the optimiser's answer (so
    the pins are feasible), half of them on the demand, half on the opportunity."""
    p = generate(50, 200, seed=1)
    allocation = solve(p, SolveOptions(time_limit=2, workers=1, seed=0))
    assert allocation.status.has_solution
    pins = [
        Pin(
            engineer_id=a.engineer_id,
            opportunity_id=a.opportunity_id,
            demand_id=a.demand_id if i % 2 else "",
        )
        for i, a in enumerate(allocation.assignments)
        if i % 3 == 0
    ]
    return Portfolio.model_validate({**p.model_dump(), "pins": [x.model_dump() for x in pins]})


@pytest.mark.parametrize("fallback", [False, True], ids=["own search", "cp-sat placement"])
def test_baselines_honour_the_pins_of_a_feasible_portfolio(
    fallback: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pinned_portfolio()
    if fallback:  # The baseline's own search gives up at once: CP-SAT places the pinned teams.
        monkeypatch.setattr(heuristics, "PIN_SEARCH_STEPS", 0)
    for name in BASELINES:
        allocation = run_baseline(p, name)
        assert allocation.status is SolveStatus.FEASIBLE, (name, allocation.message)
        assert violations(p, allocation) == [], name


def test_a_baseline_on_an_infeasible_portfolio_names_the_conflicts() -> None:
    p = two_reasons()
    for name in BASELINES:
        allocation = run_baseline(p, name)
        assert allocation.status is SolveStatus.INFEASIBLE
        assert allocation.conflict_sets == solve(p, FAST).conflict_sets
        assert allocation.solver.name == name and violations(p, allocation) == []


def test_what_an_unfinished_conflict_search_says() -> None:
    sets = [["pin E2 -> O2", "forbid E2 -> O2"]]
    assert describe_conflicts(sets, complete=False).endswith(
        "the search for further conflicts stopped before it had tried every way of removing "
        "these (at its time limit, or at 20 sets), so others may remain once they are resolved."
    )
    assert describe_conflicts(sets, complete=False, minimal=False).endswith(
        "No set can hold on its own, but the search stopped at its time limit before it could "
        "show that each of its items is needed or that no other conflict remains."
    )
    # A set not proven minimal, and said so, is checked for infeasibility only.
    p = two_reasons()
    padded = ["pin E2 -> O2", "forbid E2 -> O2", "required demand O1/a"]
    claim = {"conflicts": padded, "conflict_sets": [padded], "conflicts_minimal": False}
    allocation = solve(p, FAST)
    assert violations(p, allocation, **claim, conflicts_complete=False) == []
    assert violations(p, allocation, **claim, conflicts_complete=True) == [
        "Conflict not proven: conflicts said to be complete but not minimal"
    ]


def test_the_checker_imports_no_solver() -> None:
    """check.py reads the domain and the rule labels only: no solve package, engine or NumPy."""
    tree = ast.parse(Path(checker.__file__).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    allowed = {"allocator.core.rules", "allocator.model", "__future__"}
    assert {m for m in imported if m and m.split(".")[0] in ("allocator", "__future__")} <= allowed
    assert not {m for m in imported if m and m.split(".")[0] in ("ortools", "highspy", "numpy")}
