"""A policy that fits any currency, the calendar, and opportunities no run can staff.

- The value unit a policy leaves out is derived from the portfolio, recorded in the result,
  and an explicit one wins; a warning says when fit and penalties outweigh value.
- Portfolios whose deals are worth 100-30,000 or 1-50 million get value-driven allocations
  with the default policy: the value they cover is close to the value-only optimum.
- Demands and time off may be ISO weeks or dates once the portfolio has a horizon start.
- An opportunity that cannot be staffed by construction is listed with its reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import FAST

from allocator.core.generate import generate
from allocator.errors import InvalidInputError
from allocator.model import Portfolio, build_portfolio, derive_value_unit, expected_value
from allocator.solver import solve

NON_VALUE_WEIGHTS_OFF = {
    "skill_fit_weight": 0,
    "industry_fit_weight": 0,
    "travel_penalty": 0,
    "continuity_penalty": 0,
    "load_penalty": 0,
}


def with_deal_values(low: float, high: float, seed: int) -> dict[str, Any]:
    """A generated portfolio's raw data, deal values drawn log-uniformly in [low, high], and a
    policy that leaves the value unit out."""
    data = generate(24, 70, seed=seed).model_dump()
    rng = np.random.default_rng(seed)
    for opportunity in data["opportunities"]:
        opportunity["value"] = float(round(np.exp(rng.uniform(np.log(low), np.log(high)))))
    data["demands"] = [d for d in data["demands"] if not d["template_stage"]]
    data["policy"] = {}
    return data


def covered(portfolio: Portfolio, staffed: list[str]) -> float:
    by_id = portfolio.opportunity_by_id()
    return sum(expected_value(by_id[o], portfolio.policy) for o in staffed)


@pytest.mark.slow
@pytest.mark.parametrize(("low", "high"), [(100, 30_000), (1_000_000, 50_000_000)])
def test_default_policy_is_driven_by_value_in_any_currency(low: float, high: float) -> None:
    data = with_deal_values(low, high, seed=3)
    portfolio = build_portfolio(data)
    assert portfolio.policy.value_unit_source == "derived"
    value_only = build_portfolio({**data, "policy": NON_VALUE_WEIGHTS_OFF})
    assert value_only.policy.value_unit == portfolio.policy.value_unit
    default = solve(portfolio, FAST)
    best = solve(value_only, FAST)
    assert best.status.value == "optimal"
    share = covered(portfolio, default.staffed_opportunities) / covered(
        portfolio, best.staffed_opportunities
    )
    assert share >= 0.97, share
    assert default.warnings == []
    assert default.terms["expected_value"] > sum(
        abs(v) for k, v in default.terms.items() if k != "expected_value"
    )


def test_the_derived_unit_is_round_and_puts_the_median_near_100_points() -> None:
    data = with_deal_values(100, 30_000, seed=1)
    portfolio = build_portfolio(data)
    values = sorted(expected_value(o, portfolio.policy) for o in portfolio.opportunities)
    median_points = values[len(values) // 2] / portfolio.policy.value_unit
    assert 40 <= median_points <= 250
    assert derive_value_unit([]) == 1000.0
    assert derive_value_unit([0.5, 1.0, 2.0]) == 0.01


def test_an_explicit_value_unit_wins_and_the_result_records_the_unit() -> None:
    data = with_deal_values(100, 30_000, seed=1)
    data["policy"] = {"value_unit": 1000}
    portfolio = build_portfolio(data)
    assert portfolio.policy.value_unit == 1000
    assert portfolio.policy.value_unit_source == "set"
    result = solve(portfolio, FAST)
    assert (result.value_unit, result.value_unit_source) == (1000, "set")
    # Deals of hundreds at 1000 per point: skill fit outweighs value, and the result says so.
    assert len(result.warnings) == 1
    assert "outweigh the expected value term" in result.warnings[0]
    assert "value_unit 1000 (set)" in result.warnings[0]


def tiny(**fields: Any) -> dict[str, Any]:
    return {
        "horizon_weeks": 4,
        "engineers": [{"id": "E1", "region": "N", "skills": {"arch": 4}}],
        "opportunities": [
            {"id": "O1", "region": "N", "industry": "power", "value": 1e5, "win_probability": 0.5}
        ],
        "demands": [{"opportunity_id": "O1", "skill": "arch", "hours": 8}],
        **fields,
    }


def test_demands_and_time_off_as_iso_weeks_and_dates() -> None:
    data = tiny(horizon_start="2026-W49")
    data["demands"][0].update(start_week="2026-12-08", end_week="2026-W51")
    data["engineers"][0]["time_off"] = {"2026-W50": 8, "2026-12-16": 4, "2027-W20": 40}
    portfolio = build_portfolio(data)
    demand = portfolio.demands[0]
    assert (demand.start_week, demand.end_week) == (2, 3)
    assert portfolio.engineers[0].time_off == {2: 8, 3: 4}  # 2027-W20 is past the horizon.
    assert portfolio.week_label(2) == "week 2 (2026-W50, 7-13 Dec 2026)"
    assert portfolio.week_label(5) == "week 5 (2026-W53, 28 Dec-3 Jan 2027)"


def test_a_date_without_a_horizon_start_names_the_field() -> None:
    data = tiny()
    data["demands"][0]["start_week"] = "2026-12-08"
    with pytest.raises(InvalidInputError) as caught:
        build_portfolio(data)
    assert [str(i) for i in caught.value.issues] == [
        "$.demands[0].start_week: a date or ISO week needs the horizon_start (got '2026-12-08')"
    ]


def test_opportunities_no_run_can_staff_are_listed_with_their_reason() -> None:
    data = tiny()
    data["opportunities"] += [
        {"id": "O2", "region": "N", "stage": "won", "value": 1, "win_probability": 1},
        {"id": "O3", "region": "N", "value": 1, "win_probability": 1, "external_id": "006X"},
    ]
    data["demands"].append(
        {"opportunity_id": "O3", "skill": "arch", "min_proficiency": 5, "hours": 1}
    )
    result = solve(build_portfolio(data), FAST)
    assert [(u.opportunity_id, u.external_id, u.reason) for u in result.unstaffable] == [
        ("O2", "", "no demands, and no stage template for stage 'won'"),
        ("O3", "006X", "no engineer has arch at level 5 or above (demand O3/arch; best level 4)"),
    ]
    assert result.staffed_opportunities == ["O1"]


def test_results_and_explanations_show_iso_weeks_dates_and_crm_ids() -> None:
    from allocator.explain.explanations import Run, explain_opportunity

    data = tiny(horizon_start="2026-W52")
    data["opportunities"][0].update(external_id="006ABC", account="Nordwind")
    data["engineers"][0]["external_id"] = "E1040"
    data["demands"][0].update(start_week="2026-W53", end_week="2027-01-05")
    portfolio = build_portfolio(data)
    result = solve(portfolio, FAST)
    assert result.horizon_start == "2026-W52"
    [a] = result.assignments
    assert (a.start_week, a.end_week, a.iso_weeks) == (2, 3, "2026-W53..2027-W01")
    assert (str(a.start_date), str(a.end_date)) == ("2026-12-28", "2027-01-10")
    assert (a.engineer_external_id, a.opportunity_external_id) == ("E1040", "006ABC")
    text = explain_opportunity(Run.of(portfolio, result), "O1").summary
    assert text.startswith("O1 (CRM id 006ABC, account Nordwind, tier C, power, N;")


def test_a_derived_unit_is_derived_anew_when_the_pipeline_changes(tmp_path: Any) -> None:
    from allocator.io.formats import load_portfolio, write_portfolio_csv

    data = with_deal_values(100, 30_000, seed=1)
    portfolio = build_portfolio(data)
    folder = write_portfolio_csv(portfolio, tmp_path / "p")
    again = load_portfolio(folder)
    assert again.policy == portfolio.policy  # Same pipeline, same unit.
    bigger = [{**o, "value": o["value"] * 1000} for o in data["opportunities"]]
    grown = build_portfolio({**data, "opportunities": bigger, "policy": again.policy.model_dump()})
    assert grown.policy.value_unit_source == "derived"
    assert grown.policy.value_unit == 1000 * portfolio.policy.value_unit
    kept = build_portfolio({**data, "policy": {"value_unit": 7}})
    assert (kept.policy.value_unit, kept.policy.value_unit_source) == (7, "set")


def test_a_horizon_start_that_is_no_iso_week_is_an_input_error() -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_portfolio(tiny(horizon_start="2025-W53"))
    assert [str(i) for i in caught.value.issues] == [
        "$.horizon_start: 2025-W53 is no ISO week (that year has 52 weeks) (got '2025-W53')"
    ]
