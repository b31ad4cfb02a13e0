"""Explanations: each reason names the rule, engineer and week a person would name; the price
of forcing an opportunity equals an independent brute-force forced optimum; the value it would
take really flips the decision; engineer, fairness and contrast views."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from conftest import FAST, demand, engineer, make_portfolio, opportunity

from allocator.core.check import check
from allocator.core.generate import generate
from allocator.explain.explanations import (
    Run,
    contrast,
    explain_conflicts,
    explain_engineer,
    explain_opportunity,
    fairness,
)
from allocator.model import Allocation, Assignment, Forbid, Portfolio, SolveStatus
from allocator.solver import solve


def run_of(p: Portfolio) -> Run:
    allocation = solve(p, FAST)
    assert allocation.status is SolveStatus.OPTIMAL
    return Run.of(p, allocation)


def candidate(run: Run, opportunity_id: str, engineer_id: str) -> Any:
    explanation = explain_opportunity(run, opportunity_id, with_price=False)
    for role in explanation.roles:
        for c in role.runners_up:
            if c.engineer_id == engineer_id:
                return c
    raise AssertionError(f"{engineer_id} not listed for {opportunity_id}")


# ---------------------------------------------------------------------------------------------
# Reasons for each runner-up


def two_engineers(**second: Any) -> Portfolio:
    """O1 needs skill a (level 3, 10 h/week, weeks 1-2); E1 serves it; E2 is the runner-up."""
    return make_portfolio(
        [engineer("E1", {"a": 5}), engineer("E2", {"a": 3}, **second)],
        [opportunity("O1", value=100_000)],
        [demand("O1", "a", hours=10)],
        horizon_weeks=2,
    )


def test_runner_up_below_the_minimum_level() -> None:
    p = two_engineers()
    p = p.model_copy(
        update={
            "engineers": (p.engineers[0], p.engineers[1].model_copy(update={"skills": {"a": 2}}))
        }
    )
    c = candidate(Run.of(p, solve(p, FAST)), "O1", "E2")
    assert (c.rule, c.eligible) == ("proficiency", False)
    assert c.reason == "E2 has a at level 2; the role needs 3"


def test_runner_up_on_time_off_names_the_week() -> None:
    c = candidate(run_of(two_engineers(time_off={2: 35})), "O1", "E2")
    assert (c.rule, c.week) == ("time_off", 2)
    assert c.reason == "E2 has 5 h free in week 2 (35 h time off in week 2); the role needs 10 h"


def test_runner_up_without_capacity_names_committed_hours() -> None:
    c = candidate(run_of(two_engineers(committed_hours=35)), "O1", "E2")
    assert (c.rule, c.week) == ("capacity", 1)
    assert c.reason == (
        "E2 has 5 h free in week 1 (40 h capacity, 35 h committed elsewhere); the role needs 10 h"
    )


def test_runner_up_forbidden() -> None:
    p = two_engineers()
    refusal = Forbid(engineer_id="E2", opportunity_id="O1", reason="customer refused")
    p = p.model_copy(update={"forbids": (refusal,)})
    c = candidate(run_of(p), "O1", "E2")
    assert (c.rule, c.reason) == ("forbid", "forbid E2 -> O1 (customer refused)")


def test_runner_up_busy_elsewhere_names_the_work_and_its_value() -> None:
    # E2 (the only other engineer with skill a) is needed on the bigger O2: 35 h in week 1.
    p = make_portfolio(
        [engineer("E1", {"a": 5}), engineer("E2", {"a": 3})],
        [opportunity("O1", value=100_000), opportunity("O2", value=900_000)],
        [demand("O1", "a", hours=10), demand("O2", "a", hours=35, level=4)],
    )
    run = run_of(p)
    assert run.by_demand["O2/a"].engineer_id == "E1"
    c = candidate(run, "O1", "E1")
    assert (c.rule, c.eligible, c.week) == ("busy", True, 1)
    assert c.busy_with[0].opportunity_id == "O2"
    assert c.busy_with[0].expected_value == 450_000
    assert "better used elsewhere: 5 h left in week 1 after O2 (expected value 450,000)" in c.reason


def test_runner_up_at_the_opportunity_limit() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5}), engineer("E2", {"a": 3})],
        [opportunity("O1", value=100_000), opportunity("O2", value=900_000)],
        [demand("O1", "a", hours=5), demand("O2", "a", hours=5, level=4)],
        policy={"max_opportunities_per_engineer": 1},
    )
    run = run_of(p)
    c = candidate(run, "O1", "E1")
    assert c.rule == "opportunity_limit"
    assert c.reason.startswith("E1 already works on 1 opportunities (the limit is 1): O2")


# ---------------------------------------------------------------------------------------------
# Unstaffed opportunities


def test_nobody_has_the_skill() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 5})],
        [opportunity("O1")],
        [demand("O1", "b")],
        skills=[{"id": "a"}, {"id": "b"}],
    )
    e = explain_opportunity(run_of(p), "O1")
    assert not e.staffed
    assert e.roles[0].reason == "no engineer anywhere has the skill b"
    assert e.price is not None and e.price.feasible is False


def test_nobody_has_the_level() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3})], [opportunity("O1")], [demand("O1", "a", level=5)]
    )
    e = explain_opportunity(run_of(p), "O1")
    assert e.roles[0].reason == "no engineer anywhere has a at level 5 (the best has level 3)"


def test_team_cannot_be_completed_names_the_missing_role() -> None:
    # Role a has a free engineer, role b's only engineer is busy on the bigger O2.
    p = make_portfolio(
        [engineer("E1", {"a": 4}), engineer("E2", {"b": 4})],
        [opportunity("O1", value=100_000), opportunity("O2", value=800_000)],
        [demand("O1", "a"), demand("O1", "b", hours=30), demand("O2", "b", hours=30)],
    )
    e = explain_opportunity(run_of(p), "O1")
    assert not e.staffed
    assert e.reasons[0].startswith("role O1/b (b): every one of the 1 engineers with b at level 3")
    assert "E2 on O2 (expected value 400,000)" in e.reasons[0]
    assert e.reasons[1].startswith("the team could not be completed because O1/b has nobody free")
    assert e.price is not None and e.price.opportunities_losing == ["O2"]


# ---------------------------------------------------------------------------------------------
# The price of forcing an opportunity: equal to an independent brute-force forced optimum


def brute_force(p: Portfolio, forced: str | None = None) -> float:
    """Best objective over every allocation the checker accepts (forced: must staff it)."""
    options: list[list[tuple[str, str] | None]] = []
    for d in p.demands:
        options.append([None] + [(e.id, d.id) for e in p.engineers if d.skill in e.skills])
    best = -float("inf")
    for combo in itertools.product(*options):
        chosen = [c for c in combo if c is not None]
        demands = p.demand_by_id()
        allocation = Allocation(
            status=SolveStatus.FEASIBLE,
            assignments=[
                Assignment(engineer_id=e, opportunity_id=demands[d].opportunity_id, demand_id=d)
                for e, d in chosen
            ],
        )
        report = check(p, allocation)
        rules = {v.rule for v in report.violations}
        if rules - {"objective", "unknown"}:
            continue
        staffed = {
            o
            for o, roles in p.demands_of().items()
            if roles and all(d.id in {x for _, x in chosen} for d in roles if d.required)
        }
        if forced is not None and forced not in staffed:
            continue
        best = max(best, report.objective)
    return best


def tiny(seed: int) -> Portfolio:
    """A random tiny portfolio where capacity is short, so that choices cost something."""
    rng = np.random.default_rng(seed)
    engineers = [
        engineer(
            f"E{i}",
            {
                s: int(rng.integers(2, 6))
                for s in rng.choice(["a", "b"], rng.integers(1, 3), replace=False)
            },
            region=str(rng.choice(["N", "S"])),
            capacity_hours=float(rng.choice([20, 30, 40])),
        )
        for i in range(1, 4)
    ]
    opportunities = [
        opportunity(
            f"O{j}", value=float(rng.integers(5, 50)) * 10_000, region=str(rng.choice(["N", "S"]))
        )
        for j in range(1, 4)
    ]
    demands = []
    for j in range(1, 4):
        for skill in rng.choice(["a", "b"], rng.integers(1, 3), replace=False):
            demands.append(demand(f"O{j}", str(skill), hours=float(rng.choice([10, 20])), level=3))
    return make_portfolio(engineers, opportunities, demands, skills=[{"id": "a"}, {"id": "b"}])


def test_price_equals_brute_force_forced_optimum() -> None:
    checked = 0
    for seed in range(40):
        p = tiny(seed)
        run = run_of(p)
        optimum = brute_force(p)
        assert run.allocation.objective == pytest.approx(optimum, abs=0.01), seed
        for o in p.opportunities:
            if o.id in run.staffed or not run.roles_of.get(o.id):
                continue
            e = explain_opportunity(run, o.id)
            assert e.price is not None
            forced = brute_force(p, forced=o.id)
            if forced == -float("inf"):
                assert e.price.feasible is False, seed
                continue
            assert e.price.exact, seed
            assert e.price.objective_change == pytest.approx(forced - optimum, abs=0.01), seed
            assert sum(e.price.term_changes.values()) == pytest.approx(forced - optimum, abs=0.01)
            checked += 1
    assert checked >= 10


def test_value_at_least_flips_the_decision() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 4})],
        [opportunity("O1", value=100_000), opportunity("O2", value=300_000)],
        [demand("O1", "a", hours=30), demand("O2", "a", hours=30)],
    )
    run = run_of(p)
    e = explain_opportunity(run, "O1")
    w = e.what_it_would_take
    assert w is not None and w.value_at_least is not None
    assert w.value_at_least == pytest.approx(300_000, abs=1)

    def staffed_at(value: float) -> bool:
        opps = tuple(
            o.model_copy(update={"value": value}) if o.id == "O1" else o for o in p.opportunities
        )
        return (
            "O1" in solve(p.model_copy(update={"opportunities": opps}), FAST).staffed_opportunities
        )

    assert staffed_at(w.value_at_least + 2_000)
    assert not staffed_at(w.value_at_least - 2_000)


def test_capacity_it_would_take_is_validated() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 4})],
        [opportunity("O1", value=100_000), opportunity("O2", value=300_000)],
        [demand("O1", "a", hours=30), demand("O2", "a", hours=30)],
    )
    e = explain_opportunity(run_of(p), "O1")
    w = e.what_it_would_take
    assert w is not None
    assert [(n.demand_id, n.hours_per_week, n.weeks) for n in w.capacity] == [("O1/a", 30, [1])]
    assert w.capacity_validated is True


# ---------------------------------------------------------------------------------------------
# Other views


def test_engineer_view() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 4}, committed_hours=4)],
        [opportunity("O1", value=100_000), opportunity("O2", value=300_000)],
        [demand("O1", "a", hours=10), demand("O2", "a", hours=20)],
    )
    view = explain_engineer(run_of(p), "E1")
    assert [(w.week, w.assigned_hours, w.utilization) for w in view.weeks] == [(1, 30.0, 0.85)]
    assert view.expected_value_supported == 200_000
    assert view.hours_weighted_value == 200_000
    assert {w.opportunity_id for w in view.serves} == {"O1", "O2"}


def test_fairness_and_permutation_check() -> None:
    p = generate(12, 30, seed=4)
    f = fairness(Run.of(p, solve(p, FAST)), verify=True, time_limit=5)
    assert f.permutation_unchanged is True
    assert f.by_seniority_quartile[0].group == "Q1 (least senior)"
    total = sum(g.requested_value for g in f.by_region)
    assert total == pytest.approx(sum(g.requested_value for g in f.by_tier))
    assert all(g.baseline_share is not None for g in f.by_industry)


def test_contrast_names_both() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 4})],
        [opportunity("O1", value=100_000), opportunity("O2", value=300_000)],
        [demand("O1", "a", hours=30), demand("O2", "a", hours=30)],
    )
    c = contrast(run_of(p), "O2", "O1")
    assert c.summary.startswith("O2 (tier C, expected value 150,000) got E1; O1 (tier C,")
    assert "E1 could have served O1 but serves O2" in c.summary


def test_conflicts_in_words() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 4})],
        [opportunity("O1")],
        [demand("O1", "a")],
        pins=[{"engineer_id": "E1", "opportunity_id": "O1", "set_by": "ann", "reason": "asked"}],
        forbids=[{"engineer_id": "E1", "opportunity_id": "O1", "set_by": "bob"}],
    )
    allocation = solve(p, FAST)
    assert allocation.status is SolveStatus.INFEASIBLE
    text = explain_conflicts(Run.of(p, allocation))
    assert text == (
        "The hard rules cannot all hold: pin E1 -> O1 (set by ann: asked); forbid E1 -> O1 "
        "(set by bob). Removing any one of them makes the run feasible."
    )
