"""The insight reports pinned on small hand-computed cases: intervals, investment, calibration,
contribution, evidence ratios, feedback into the next run; the generated history; the plots.

The hand case: engineers E1 (region R1, cost 100 per hour) and E2 (region R2, no own rate,
level Junior at 50 per hour); opportunities O1 (stage s1, R1, 1,000, p 0.5), O2 (s1, R1,
2,000, p 0.5), O3 (s2, R2, 500, p 0.2), O4 (s2, R2, 800, p 0.2); one run from 2026-W10 over
two weeks planning E1 on O1 and E2 on O4; timesheets (`ACTUALS`): both engineers in W10, only
E1 in W11. O1 won (900), O2 lost, O3 won (500), O4 lost.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from allocator.core.generate import generate
from allocator.errors import InvalidInputError
from allocator.insight.calibration import (
    calibrated_portfolio,
    calibrated_whatif,
    calibration_factors,
    calibration_report,
)
from allocator.insight.contribution import contribution_report
from allocator.insight.evidence import evidence_report, sweep_from_evidence
from allocator.insight.feedback import feed_actuals
from allocator.insight.history import (
    decision_weeks,
    draw_outcomes,
    generate_history,
    load_history,
    parse_bias,
    write_history,
)
from allocator.insight.investment import investment_report
from allocator.insight.plots import investment_png, reliability_png
from allocator.insight.records import (
    Actual,
    Outcome,
    OutcomeKind,
    PlannedRun,
    parse_actuals,
    parse_outcomes,
    plan_weeks,
    planned_vs_actual,
    read_rows,
)
from allocator.insight.stats import mean, ratio_of_sums, wilson
from allocator.model import Allocation, Assignment, Portfolio, SolveStatus
from allocator.solver import SolveOptions
from allocator.whatif.sweep import SweepOptions

# --------------------------------------------------------------------------------------------
# Intervals


def test_wilson_interval_matches_the_hand_computation() -> None:
    # 5/10: centre (0.5 + z^2/20) / (1 + z^2/10) = 0.5; half = z/(1+z^2/10) * sqrt(0.025 +
    # z^2/400) = 1.416006 * 0.186020 = 0.263406.
    five = wilson(5, 10)
    assert (five.value, round(five.low or 0, 4), round(five.high or 0, 4), five.n) == (
        0.5,
        0.2366,
        0.7634,
        10,
    )
    # 0 of n: the interval is [0, z^2 / (n + z^2)], not a point at 0.
    none = wilson(0, 10)
    assert none.low == 0.0 and none.high == pytest.approx(3.841459 / 13.841459, abs=1e-6)
    assert wilson(10, 10).low == pytest.approx(10 / 13.841459, abs=1e-6)
    assert (wilson(0, 0).value, wilson(0, 0).low, wilson(0, 0).n) == (None, None, 0)


def test_bootstrap_interval_of_a_ratio_matches_the_hand_computation() -> None:
    # Two units (10, 1) and (0, 1): resamples give 10 (1/4), 5 (1/2) or 0 (1/4); the 2.5th and
    # 97.5th percentiles are the extremes.
    estimate = ratio_of_sums([10.0, 0.0], [1.0, 1.0])
    assert (estimate.value, estimate.low, estimate.high, estimate.n) == (5.0, 0.0, 10.0, 2)
    assert mean([4.0, 4.0]).model_dump(exclude={"method"}) == {
        "value": 4.0,
        "low": 4.0,
        "high": 4.0,
        "n": 2,
    }
    empty = ratio_of_sums([], [])
    assert (empty.value, empty.low, empty.n) == (None, None, 0)
    assert ratio_of_sums([3.0], [0.0]).value is None  # No hours: no rate, not 0 or infinity.


# --------------------------------------------------------------------------------------------
# Reading actuals and outcomes


def test_bad_actual_rows_are_named_by_file_row_column_and_value() -> None:
    rows = [
        {"engineer_id": "E1", "opportunity_id": "O1", "week": "2026-W10", "hours": "8"},
        {"engineer_id": "E1", "opportunity_id": "O1", "week": "2026-10", "hours": "-1"},
        {"engineer_id": "E1", "opportunity_id": "O1", "week": "2026-W10", "hours": "2"},
    ]
    with pytest.raises(InvalidInputError) as caught:
        parse_actuals("actuals.csv", rows)
    assert caught.value.lines() == [
        "actuals.csv row 3, column week: must be an ISO week like 2026-W45 (got '2026-10')",
        "actuals.csv row 3, column hours: must be a number of hours 0..168 (got '-1')",
        "actuals.csv row 4: same engineer, opportunity and week as row 2",
    ]
    with pytest.raises(InvalidInputError, match=r"actuals\.csv: missing column"):
        parse_actuals("actuals.csv", [{"engineer_id": "E1"}])


def test_bad_outcome_rows_are_named() -> None:
    rows = [
        {"opportunity_id": "O1", "outcome": "won", "value": "", "date": "2026-03-02"},
        {"opportunity_id": "O2", "outcome": "maybe", "value": "", "date": "2026-03-02"},
        {"opportunity_id": "O3", "outcome": "lost", "value": "5", "date": "2026-13-02"},
    ]
    with pytest.raises(InvalidInputError) as caught:
        parse_outcomes("outcomes.csv", rows)
    assert caught.value.lines() == [
        "outcomes.csv row 2, column value: a won deal needs the value won",
        "outcomes.csv row 3, column outcome: must be one of won, lost, no_decision, open "
        "(got 'maybe')",
        "outcomes.csv row 4, column value: only a won deal has a value (got '5')",
        "outcomes.csv row 4, column date: must be a date YYYY-MM-DD (got '2026-13-02')",
    ]
    good = parse_outcomes("o.csv", [{**rows[0], "value": "900"}])
    assert good[0].value == 900.0 and good[0].outcome is OutcomeKind.WON


# --------------------------------------------------------------------------------------------
# The hand case


def _portfolio() -> Portfolio:
    def opportunity(id: str, stage: str, region: str, value: float, p: float, who: str) -> dict:
        return {
            "id": id,
            "stage": stage,
            "industry": "power",
            "region": region,
            "value": value,
            "win_probability": p,
            "requester": who,
        }

    return Portfolio.model_validate(
        {
            "horizon_weeks": 2,
            "engineers": [
                {
                    "id": "E1",
                    "region": "R1",
                    "skills": {"x": 3},
                    "cost_rate": 100,
                    "title": "Senior",
                },
                {"id": "E2", "region": "R2", "skills": {"x": 3}, "title": "Junior"},
            ],
            "opportunities": [
                opportunity("O1", "s1", "R1", 1000, 0.5, "S1"),
                opportunity("O2", "s1", "R1", 2000, 0.5, "S2"),
                opportunity("O3", "s2", "R2", 500, 0.2, "S1"),
                opportunity("O4", "s2", "R2", 800, 0.2, "S3"),
            ],
            "demands": [
                {"opportunity_id": o, "skill": "x", "hours": 4} for o in ("O1", "O2", "O3", "O4")
            ],
        }
    )


PLAN = Allocation(
    status=SolveStatus.OPTIMAL,
    assignments=[
        Assignment(engineer_id="E1", opportunity_id="O1", demand_id="O1/x", hours=10, end_week=2),
        Assignment(engineer_id="E2", opportunity_id="O4", demand_id="O4/x", hours=4, end_week=2),
    ],
)
RUNS = [PlannedRun("2026-W10", PLAN, 2)]
ACTUALS = [
    Actual(engineer_id="E1", opportunity_id="O1", week="2026-W10", hours=10),
    Actual(engineer_id="E2", opportunity_id="O1", week="2026-W10", hours=10),
    Actual(engineer_id="E1", opportunity_id="O2", week="2026-W10", hours=5),
    Actual(engineer_id="E2", opportunity_id="O3", week="2026-W10", hours=5),
    Actual(engineer_id="E1", opportunity_id="O1", week="2026-W11", hours=2),
]
DAY = date(2026, 3, 20)
OUTCOMES = [
    Outcome(opportunity_id="O1", outcome=OutcomeKind.WON, value=900, date=DAY),
    Outcome(opportunity_id="O2", outcome=OutcomeKind.LOST, date=DAY),
    Outcome(opportunity_id="O3", outcome=OutcomeKind.WON, value=500, date=DAY),
    Outcome(opportunity_id="O4", outcome=OutcomeKind.LOST, date=DAY),
]


def test_planned_vs_actual_reads_missing_timesheets_as_missing() -> None:
    rows = {(r.engineer_id, r.opportunity_id, r.week): r for r in planned_vs_actual(RUNS, ACTUALS)}
    assert (rows["E1", "O1", "2026-W11"].planned, rows["E1", "O1", "2026-W11"].actual) == (10, 2)
    # E2 reported W10 (O1, O3), not O4: 0 h on O4 that week; nothing in W11: missing.
    assert rows["E2", "O4", "2026-W10"].actual == 0.0
    assert rows["E2", "O4", "2026-W11"].actual is None
    assert rows["E2", "O4", "2026-W11"].difference is None
    assert rows["E2", "O1", "2026-W10"].planned == 0.0


def test_a_later_run_plans_the_weeks_from_its_start() -> None:
    later = PlannedRun("2026-W11", Allocation(status=SolveStatus.OPTIMAL), 2)
    weeks = plan_weeks([later, RUNS[0]])
    assert {w: (r.week, n) for w, (r, n) in weeks.items()} == {
        "2026-W10": ("2026-W10", 1),
        "2026-W11": ("2026-W11", 1),
        "2026-W12": ("2026-W11", 2),
    }


def test_investment_figures_match_the_hand_computation() -> None:
    report = investment_report(_portfolio(), ACTUALS, OUTCOMES, RUNS, level_rates={"Junior": 50.0})
    rows = {(r.grouping, r.level): r for r in report.rows}
    whole = rows["all", "all"]
    # Hours: O1 10+10+2, O2 5, O3 5; cost: O1 12x100 + 10x50, O2 5x100, O3 5x50.
    assert (whole.opportunities, whole.decided, whole.supported, whole.won) == (4, 4, 3, 2)
    assert (whole.hours, whole.cost, whole.value_won, whole.hours_unpriced) == (32, 2450, 1400, 0)
    assert whole.missing_weeks == 1  # E2 on O4 in W11: planned, no timesheet.
    supported = whole.win_rate_supported  # 2 of 3: Wilson [0.2077, 0.9385].
    assert (supported.n, round(supported.low or 0, 4), round(supported.high or 0, 4)) == (
        3,
        0.2077,
        0.9385,
    )
    unsupported = whole.win_rate_unsupported  # 0 of 1: [0, z^2 / (1 + z^2)].
    assert (unsupported.value, unsupported.low, round(unsupported.high or 0, 4)) == (
        0.0,
        0.0,
        0.7935,
    )
    # Won value per hour 1400 / 32; the extremes of the bootstrap: O2 alone (0 / 5) and O3
    # alone (500 / 5), each drawn with probability 1/27 > 2.5 %.
    per_hour = whole.won_value_per_hour
    assert (per_hour.value, per_hour.low, per_hour.high, per_hour.n) == (43.75, 0.0, 100.0, 3)
    # Hours per won deal 32 / 2; extremes O3 alone (5 / 1) and O1 + O2 + O2 (32 / 1).
    per_deal = whole.hours_per_won_deal
    assert (per_deal.value, per_deal.low, per_deal.high) == (16.0, 5.0, 32.0)
    assert whole.cost_per_won_deal.value == 1225.0
    s1 = rows["stage", "s1"]  # 1 of 2 won: Wilson [0.0945, 0.9055]; 900 / 27 h.
    assert (
        round(s1.win_rate_supported.low or 0, 4),
        round(s1.win_rate_supported.high or 0, 4),
    ) == (
        0.0945,
        0.9055,
    )
    assert s1.won_value_per_hour.value == pytest.approx(900 / 27)
    assert rows["opportunity", "O4"].win_rate_unsupported.n == 1
    assert report.period == (
        "actuals 2026-W10..2026-W11 (2 weeks); outcomes decided 2026-03-20..2026-03-20"
    )


def test_unknown_cost_rates_are_counted_apart_not_priced_at_zero() -> None:
    report = investment_report(_portfolio(), ACTUALS, OUTCOMES, RUNS, groupings=["all"])
    assert (report.rows[0].cost, report.rows[0].hours_unpriced) == (1700, 15)


def test_calibration_figures_match_the_hand_computation() -> None:
    report = calibration_report(_portfolio(), OUTCOMES)
    s1, s2 = report.of("stage")
    assert (s1.n, s1.won, s1.assumed, s1.observed.value, s1.ratio) == (2, 1, 0.5, 0.5, 1.0)
    assert round(s1.ratio_low or 0, 4) == round(0.094531 / 0.5, 4)
    assert (s2.assumed, s2.ratio, round(s2.ratio_high or 0, 3)) == (
        0.2,
        2.5,
        round(0.905469 / 0.2, 3),
    )
    assert [(r.level, r.n) for r in report.of("bin")] == [("0.2-0.3", 2), ("0.5-0.6", 2)]
    factors = calibration_factors(report, "stage", min_n=2)
    calibrated = calibrated_portfolio(_portfolio(), "stage", factors)
    assert [o.win_probability for o in calibrated.opportunities] == [0.5, 0.5, 0.5, 0.5]
    few = calibration_factors(report, "stage", min_n=3)
    assert [f.used for f in few] == [False, False]
    assert few[0].reason == "n=2 < 3"
    clear = calibration_factors(report, "stage", min_n=2, clear_only=True)
    assert [f.reason for f in clear] == [
        "n=2, interval 0.19-1.81 holds 1",
        "n=2, interval 0.47-4.53 holds 1",
    ]


def test_contribution_matches_the_hand_computation() -> None:
    report = contribution_report(_portfolio(), ACTUALS, OUTCOMES, RUNS)
    e1, e2 = report.engineers
    assert (e1.planned_hours, e1.actual_hours, e1.over_plan_hours, e1.utilization) == (
        20,
        17,
        -3,
        17 / 80,
    )
    assert (e1.value_supported, e1.decided, e1.won, e1.value_won) == (3000, 2, 1, 900)
    assert (e2.weeks_planned, e2.weeks_reported, e2.missing_weeks) == (2, 1, ["2026-W11"])
    assert (e2.planned_hours_reported_weeks, e2.actual_hours, e2.over_plan_hours) == (4, 15, 11)
    assert (e2.value_supported, e2.won, e2.value_won) == (1500, 2, 1400)
    assert [(o.opportunity_id, o.planned, o.actual) for o in e2.by_opportunity] == [
        ("O1", 0, 10),
        ("O3", 0, 5),
        ("O4", 8, 0),
    ]
    assert "No single score" in report.method


def test_evidence_ratios_match_the_hand_computation() -> None:
    report = evidence_report(_portfolio(), ACTUALS, OUTCOMES)
    rows = {r.scope: r for r in report.rows}
    r1, r2 = rows["region R1"], rows["region R2"]
    assert (r1.presales, r1.sales, r1.ratio, r1.hours, r1.covered_value) == (1, 2, "1:2", 27, 3000)
    assert r1.covered_value_per_hour.value == pytest.approx(3000 / 27)
    assert r1.won_value_per_hour.value == pytest.approx(900 / 27)
    assert (r2.ratio, r2.hours, r2.covered_value_per_hour.value) == ("1:2", 5, 100)
    assert r1.sweep_marginal_value is None


def test_actuals_feed_the_next_run() -> None:
    portfolio = _portfolio()
    after_w10 = feed_actuals(portfolio, RUNS, ACTUALS, "2026-W11")
    flags = {f.engineer_id: f for f in after_w10.flags}
    # E1: 15 h against 10 planned; E2: 15 h against 4 planned; the overrun counts as committed.
    assert (flags["E1"].kind, flags["E1"].committed_after) == ("over_plan", 5)
    assert (flags["E2"].kind, flags["E2"].committed_after) == ("over_plan", 11)
    assert [e.committed_hours for e in after_w10.portfolio.engineers] == [5, 11]
    assert [(p.engineer_id, p.demand_id) for p in after_w10.portfolio.previous] == [("E1", "O1/x")]
    after_w11 = feed_actuals(portfolio, RUNS, ACTUALS, "2026-W12")
    assert [(f.engineer_id, f.kind, f.actual) for f in after_w11.flags] == [
        ("E2", "no_actuals", None)
    ]
    assert [e.committed_hours for e in after_w11.portfolio.engineers] == [0, 0]


# --------------------------------------------------------------------------------------------
# The generated history


def test_calibration_recovers_a_planted_bias() -> None:
    """3,000 opportunities drawn with proposals winning half as often as assumed."""
    portfolio = generate(5, 3000, seed=5)
    rng = np.random.default_rng(1)
    decided = decision_weeks(portfolio, 1, rng)
    bias = parse_bias(["stage=proposal:0.5"])
    outcomes = draw_outcomes(portfolio, decided, set(), 1, "2026-W36", bias, 0.0, rng)
    rows = {r.level: r for r in calibration_report(portfolio, outcomes).of("stage")}
    proposal = rows["proposal"]
    assert proposal.n > 400
    assert (proposal.ratio_low or 0) < 0.5 < (proposal.ratio_high or 0) < 1.0
    negotiation = rows["negotiation"]
    assert (negotiation.ratio_low or 0) < 1.0 < (negotiation.ratio_high or 0)


def test_bias_items_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="--bias: must be DIMENSION=LEVEL:FACTOR"):
        parse_bias(["colour=red:2"])


@pytest.mark.slow  # Real solves: a sweep of two headcounts / four weekly runs.
def test_a_generated_history_produces_the_reports(tmp_path) -> None:
    history = generate_history(
        generate(12, 40, seed=3), weeks=4, time_limit=1.0, seed=2, support_lift=0.2
    )
    assert [run.week for run in history.runs] == ["2026-W36", "2026-W37", "2026-W38", "2026-W39"]
    assert all(run.allocation.assignments for run in history.runs)
    loaded = load_history(write_history(history, tmp_path / "h"))
    assert (len(loaded.actuals), len(loaded.outcomes)) == (len(history.actuals), 40)
    investment = investment_report(loaded.portfolio, loaded.actuals, loaded.outcomes, loaded.runs)
    whole = investment.rows[0]
    assert whole.hours == pytest.approx(sum(a.hours for a in history.actuals))
    assert whole.decided == sum(o.outcome is not OutcomeKind.OPEN for o in history.outcomes)
    contribution = contribution_report(
        loaded.portfolio, loaded.actuals, loaded.outcomes, loaded.runs
    )
    assert sum(c.actual_hours for c in contribution.engineers) == pytest.approx(whole.hours)
    assert investment_png(investment).startswith(b"\x89PNG")
    assert reliability_png(calibration_report(loaded.portfolio, loaded.outcomes)).startswith(
        b"\x89PNG"
    )


def test_the_calibrated_run_is_shown_as_a_what_if_first() -> None:
    portfolio = generate(8, 20, seed=4)
    outcomes = [
        Outcome(opportunity_id=o.id, outcome=OutcomeKind.LOST, date=DAY)
        for o in portfolio.opportunities
    ]
    report = calibration_report(portfolio, outcomes)
    whatif = calibrated_whatif(portfolio, report, "tier", 1, SolveOptions(time_limit=1.0))
    assert all(f.factor == 0.0 for f in whatif.factors if f.used)
    assert whatif.comparison.name == "calibrated"
    assert whatif.comparison.figures.expected_value_covered == 0.0


@pytest.mark.slow  # Real solves: a sweep of two headcounts / four weekly runs.
def test_a_sweep_starts_from_the_measured_ratio() -> None:
    portfolio = _portfolio()
    curve = sweep_from_evidence(
        portfolio, region="R1", extra=1, options=SweepOptions(time_limit=1.0, processes=1)
    )
    assert (curve.current_presales, [p.presales for p in curve.points]) == (1, [1, 2])
    report = evidence_report(portfolio, ACTUALS, OUTCOMES, {"region R1": curve})
    row = next(r for r in report.rows if r.scope == "region R1")
    assert (row.sweep_from, row.sweep_marginal_value) == ("1:2", curve.points[1].marginal_value)
    with pytest.raises(InvalidInputError, match="no presales engineers"):
        sweep_from_evidence(portfolio, industry="finance")


def test_files_are_read_as_csv_or_xlsx_with_their_line_numbers(tmp_path) -> None:
    text = "engineer_id,opportunity_id,week,hours\nE1,O1,2026-W10,8\n\nE1,O2,2026-W10,x\n"
    with pytest.raises(InvalidInputError) as caught:
        parse_actuals("a.csv", read_rows("a.csv", text.encode()))
    assert caught.value.lines() == [
        "a.csv row 4, column hours: must be a number of hours 0..168 (got 'x')"
    ]
    frame = pd.DataFrame(
        {"opportunity_id": ["O1", "O2"], "outcome": ["won", "lost"], "value": [900, None],
         "date": ["2026-03-20", "2026-03-21"]}
    )  # fmt: skip
    frame.to_excel(tmp_path / "o.xlsx", index=False)
    outcomes = parse_outcomes("o.xlsx", read_rows("o.xlsx", (tmp_path / "o.xlsx").read_bytes()))
    assert [(o.opportunity_id, o.outcome.value, o.value) for o in outcomes] == [
        ("O1", "won", 900.0),
        ("O2", "lost", None),
    ]
    with pytest.raises(InvalidInputError, match=r"o\.xlsx: cannot be read"):
        read_rows("o.xlsx", b"not a workbook")
