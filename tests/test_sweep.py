"""Solving scenarios: warm starts, the comparison's reference, monotonicity on small portfolios
solved to optimality, and the same numbers from every executor (serial, worker processes, Ray
on a local instance)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from conftest import demand, engineer, make_portfolio, opportunity
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_properties import portfolios

from allocator.core.check import check
from allocator.core.generate import generate
from allocator.errors import InfeasibleError, InvalidInputError
from allocator.model import Portfolio, SolveStatus
from allocator.solve.compiled import BoolArray, CompiledProblem, compile_portfolio, is_feasible
from allocator.whatif.compare import compare_sweep
from allocator.whatif.scenarios import (
    AddEngineers,
    ChangeCapacity,
    ChangePipeline,
    ChangePolicy,
    Profile,
    RemoveEngineers,
    Scenario,
    Selection,
    SetRatio,
    apply_scenario,
)
from allocator.whatif.sweep import SweepOptions, SweepResult, fingerprint, run_sweep, warm_start

SERIAL = SweepOptions(time_limit=5.0, executor="serial")
"""A limit no scenario reaches: each proves its optimum well before it, so the executors agree
(a run that the wall clock ends first may differ: see `wall_clock_cut`)."""


def chosen_pairs(problem: CompiledProblem, chosen: BoolArray) -> list[tuple[str, str]]:
    """(engineer id, demand id) of the chosen pairs."""
    return [
        (problem.engineer_ids[problem.pair_engineer[p]], problem.demand_ids[problem.pair_demand[p]])
        for p in np.flatnonzero(chosen).tolist()
    ]


def test_warm_start_keeps_what_still_fits_most_valuable_first_and_whole_teams_only() -> None:
    p = make_portfolio(
        [engineer("E1", {"arch": 4}), engineer("E2", {"net": 4})],
        [
            opportunity("O1", value=400_000),
            opportunity("O2", value=100_000),
            opportunity("O3", value=200_000),
        ],
        [
            demand("O1", "arch", 16, id="O1/arch"),
            demand("O2", "arch", 16, id="O2/arch"),
            demand("O3", "arch", 8, id="O3/arch"),
            demand("O3", "net", 8, id="O3/net"),
        ],
    )
    base_assignments = [
        ("E1", "O1/arch"),
        ("E1", "O2/arch"),
        ("E1", "O3/arch"),
        ("E2", "O3/net"),
    ]
    # Unchanged portfolio: the whole start is kept.
    problem = compile_portfolio(p)
    start = warm_start(problem, base_assignments)
    assert sorted(chosen_pairs(problem, start)) == sorted(base_assignments)
    # E1 down to 20 h: O1 (16 h, the most valuable) stays; O3/arch (8 h more) and O2 do not fit.
    # Without O3/arch the O3 team is incomplete: E2's role goes too.
    cut = Scenario(name="cut", edits=(ChangeCapacity(select=Selection(skill="arch"), hours=-20),))
    problem = compile_portfolio(apply_scenario(p, cut).portfolio)
    start = warm_start(problem, base_assignments)
    assert chosen_pairs(problem, start) == [("E1", "O1/arch")]
    assert is_feasible(problem, start)
    # E2 removed: its pair no longer exists; O3 is dropped whole, the rest stays.
    gone = Scenario(name="gone", edits=(RemoveEngineers(ids=("E2",)),))
    problem = compile_portfolio(apply_scenario(p, gone).portfolio)
    start = warm_start(problem, base_assignments)
    assert sorted(chosen_pairs(problem, start)) == [("E1", "O1/arch"), ("E1", "O2/arch")]
    assert is_feasible(problem, start)


@cache
def mid_portfolio() -> Portfolio:
    return generate(24, 80, seed=4)


def small_sweep_scenarios() -> list[Scenario]:
    return [
        Scenario(name="unchanged"),
        Scenario(
            name="East +2",
            edits=(
                AddEngineers(
                    profile=Profile(skills={"solution_architect": 4}, region="East"), count=2
                ),
            ),
        ),
        Scenario(name="pipeline +25%", edits=(ChangePipeline(percent=25, seed=3),)),
        Scenario(name="no travel", edits=(ChangePolicy(changes={"travel_penalty": 0}),)),
        Scenario(name="North 1:1", edits=(SetRatio(region="North", ratio="1:1"),)),
    ]


@cache
def serial_sweep() -> SweepResult:
    return run_sweep(mid_portfolio(), small_sweep_scenarios(), SERIAL)


def test_a_scenario_that_changes_nothing_equals_the_base_exactly() -> None:
    result = serial_sweep()
    unchanged = result.by_name("unchanged")
    assert fingerprint(unchanged.allocation) == fingerprint(result.base.allocation)
    comparison = compare_sweep(result).get("unchanged")
    assert comparison.value_delta == 0 and comparison.objective_delta == 0
    assert comparison.churn.share == 0 and comparison.changes == []


def test_every_scenario_result_holds_every_hard_rule_of_its_own_portfolio() -> None:
    result = serial_sweep()
    for solved in [result.base, *result.scenarios]:
        assert solved.allocation.status.has_solution, solved.name
        assert check(solved.portfolio, solved.allocation).ok, solved.name
    # The scenarios really differ from the base where they should.
    figures = compare_sweep(result)
    assert figures.get("East +2").figures.engineers == figures.base.engineers + 2
    assert figures.get("pipeline +25%").opportunities_added == 20


def test_comparison_figures_and_churn_add_up() -> None:
    comparison = compare_sweep(serial_sweep())
    base = comparison.base
    assert base.expected_value_covered <= base.expected_value_requested
    assert sum(c.asking for c in base.staffed_by_region.values()) == sum(
        c.asking for c in base.staffed_by_tier.values()
    )
    assert sum(c.staffed for c in base.staffed_by_industry.values()) == base.staffed
    for c in comparison.scenarios:
        churn = c.churn
        assert churn.kept + churn.reassigned + churn.dropped == churn.base_assignments
        assert churn.kept + churn.reassigned + churn.added == c.figures.assignments
        assert len(c.changes) == churn.reassigned + churn.dropped + churn.added
        assert c.value_delta == pytest.approx(
            c.figures.expected_value_covered - base.expected_value_covered
        )


def test_worker_processes_give_the_same_numbers_as_serial() -> None:
    local = run_sweep(
        mid_portfolio(),
        small_sweep_scenarios(),
        SweepOptions(time_limit=5.0, executor="local", processes=2),
    )
    serial = serial_sweep()
    assert local.executor == "local"
    assert fingerprint(local.base.allocation) == fingerprint(serial.base.allocation)
    for a, b in zip(local.scenarios, serial.scenarios, strict=True):
        assert fingerprint(a.allocation) == fingerprint(b.allocation), a.name


def test_ray_on_a_local_instance_gives_the_same_numbers_as_serial() -> None:
    import ray  # The `ray` extra is part of `dev`: `make test` installs it.

    assert not ray.is_initialized()
    result = run_sweep(
        mid_portfolio(),
        small_sweep_scenarios(),
        SweepOptions(time_limit=5.0, executor="ray", processes=2),
    )
    assert not ray.is_initialized()  # Started for the sweep, shut down after it.
    serial = serial_sweep()
    assert result.executor == "ray"
    assert fingerprint(result.base.allocation) == fingerprint(serial.base.allocation)
    for a, b in zip(result.scenarios, serial.scenarios, strict=True):
        assert fingerprint(a.allocation) == fingerprint(b.allocation), a.name


PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@given(
    portfolio=portfolios(),
    skills=st.dictionaries(st.sampled_from(("a", "b", "c")), st.integers(1, 5), min_size=1),
    capacity=st.sampled_from((8, 20, 40)),
    data=st.data(),
)
def test_adding_an_engineer_never_lowers_the_optimal_value(
    portfolio: Portfolio, skills: dict[str, int], capacity: int, data: st.DataObject
) -> None:
    regions = sorted(
        {e.region for e in portfolio.engineers} | {o.region for o in portfolio.opportunities}
    )
    region = data.draw(st.sampled_from(regions))
    hire = Profile(skills=skills, region=region, capacity_hours=capacity)
    scenario = Scenario(name="+1", edits=(AddEngineers(profile=hire),))
    try:
        result = run_sweep(portfolio, [scenario], SweepOptions(time_limit=5, executor="serial"))
    except InfeasibleError:
        assume(False)
        return
    base, more = result.base.allocation, result.scenarios[0].allocation
    assume(base.status is SolveStatus.OPTIMAL and more.status is SolveStatus.OPTIMAL)
    assert base.objective is not None and more.objective is not None
    assert more.objective >= base.objective
    assert result.cold_base.objective == base.objective  # Optimal is optimal, warm or cold.
    assert check(result.scenarios[0].portfolio, more).ok


def test_an_infeasible_base_raises_with_its_conflicts() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3})],
        [opportunity("O1")],
        [demand("O1", "a", 8, id="O1/a")],
        pins=[{"engineer_id": "E1", "opportunity_id": "O1"}],
        forbids=[{"engineer_id": "E1", "opportunity_id": "O1"}],
    )
    with pytest.raises(InfeasibleError) as caught:
        run_sweep(p, [Scenario(name="x")], SERIAL)
    assert caught.value.conflicts == ["pin E1 -> O1", "forbid E1 -> O1"]


def test_bad_scenarios_are_rejected_before_anything_is_solved() -> None:
    bad = Scenario(name="typo", edits=(RemoveEngineers(select=Selection(region="Eats")),))
    with pytest.raises(InvalidInputError) as caught:
        # A Ray address that cannot exist: reaching the executor would fail differently.
        run_sweep(
            mid_portfolio(),
            [bad],
            SweepOptions(executor="ray", ray_address="ray://192.0.2.1:1"),
        )
    assert caught.value.lines() == [
        "scenario 'typo' edit 1 (remove_engineers), field select.region: unknown region; known: "
        "Central, East, North, South, West (got 'Eats')"
    ]
