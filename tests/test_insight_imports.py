"""Issue 15 leftovers: actuals and outcomes read through issue 13's TOML mappings (a timesheet
export by day, a CRM report of closed deals), and a run's plan placed in ISO weeks by its
portfolio's horizon start in the insight reports (planned vs actual per ISO week)."""

from __future__ import annotations

from pathlib import Path

import pytest

from allocator.errors import InvalidInputError
from allocator.insight.feedback import feed_actuals
from allocator.insight.records import (
    Actual,
    PlannedRun,
    parse_actuals,
    parse_outcomes,
    planned_vs_actual,
)
from allocator.io.imports import record_rows
from allocator.io.mapping import load_mapping
from allocator.model import Allocation, Assignment, Engineer, Portfolio, SolveStatus

IMPORTS = Path(__file__).resolve().parents[1] / "data" / "imports"


def test_the_sample_timesheet_sums_days_into_iso_weeks() -> None:
    found = record_rows(IMPORTS / "timesheet.csv", load_mapping(IMPORTS / "timesheet.toml"))
    assert found.report.lines() == ["timesheet.csv: 12 rows read, 12 imported, 0 left out"]
    actuals = parse_actuals("timesheet.csv", found.rows, found.locate)
    by_key = {(a.engineer_id, a.opportunity_id, a.week): a.hours for a in actuals}
    assert by_key["E1040", "006Qy000001005AB", "2026-W50"] == 11.5  # 6 + 5.5 (7 and 9 Dec)
    assert by_key["E1040", "006Qy000001008AB", "2026-W51"] == 14
    assert len(actuals) == 9
    assert found.locate(0) == "timesheet.csv rows 2, 3"


def test_the_sample_closed_deals_map_stages_to_outcomes() -> None:
    mapping = load_mapping(IMPORTS / "salesforce-outcomes.toml")
    found = record_rows(IMPORTS / "salesforce-closed-deals.csv", mapping)
    outcomes = {o.opportunity_id: o for o in parse_outcomes("deals.csv", found.rows)}
    won = outcomes["006Qy000001002AB"]
    assert (won.outcome.value, won.value, won.date.isoformat()) == ("won", 19800, "2026-12-30")
    lost = outcomes["006Qy000001001AB"]
    assert (lost.outcome.value, lost.value) == ("lost", None)  # the amount of a lost deal: gone
    assert outcomes["006Qy000001003AB"].outcome.value == "no_decision"
    assert outcomes["006Qy000001007AB"].outcome.value == "open"


def test_bad_rows_are_named_with_file_row_column_and_value(tmp_path: Path) -> None:
    sheet = tmp_path / "hours.csv"
    sheet.write_text(
        "Date,Employee ID,Employee,Project Code,Activity,Hours\n"
        "someday,E1,A,O1,x,3\n"
        "2026-12-07,E1,A,O1,x,lots\n"
        "2026-12-07,,A,O1,x,2\n"
        "2026-W50,E2,B,O1,x,4\n"
    )
    mapping = load_mapping(IMPORTS / "timesheet.toml")
    with pytest.raises(InvalidInputError) as caught:
        record_rows(sheet, mapping)
    assert [str(issue) for issue in caught.value.issues] == [
        "hours.csv row 2, column Date: must be a date (YYYY-MM-DD, DD.MM.YYYY or MM/DD/YYYY) "
        "(got 'someday')",
        "hours.csv row 3, column Hours: must be a number (got 'lots')",
        "hours.csv row 4, column Employee ID: is required (the cell is blank)",
    ]
    kept = record_rows(sheet, mapping, skip_bad=True)
    assert kept.rows == [
        {"engineer_id": "E2", "opportunity_id": "O1", "week": "2026-W50", "hours": "4.0"}
    ]
    assert (
        kept.report.lines()[0]
        == "hours.csv: 4 rows read, 1 imported, 0 left out, 3 bad rows skipped"
    )

    deals = tmp_path / "deals.csv"
    deals.write_text(
        "Opportunity ID,Account Name,Stage,Amount,Close Date,Closed Reason\n"
        "O1,,Closed Won,,01/08/2027,\n"
        "O2,,Abandoned,,01/08/2027,\n"
    )
    with pytest.raises(InvalidInputError) as caught:
        record_rows(deals, load_mapping(IMPORTS / "salesforce-outcomes.toml"))
    assert [str(issue) for issue in caught.value.issues] == [
        "deals.csv row 2, column Amount: a won deal needs the value won",
        "deals.csv row 3, column Stage: is no outcome: map it under [outcomes] to one of won, "
        "lost, no_decision, open (got 'Abandoned')",
    ]


def test_days_adding_up_to_more_than_a_week_are_named_with_their_rows(tmp_path: Path) -> None:
    sheet = tmp_path / "hours.csv"
    days = [f"2026-12-{day:02d},E1,A,O1,x,24" for day in range(7, 14)]  # 7 x 24 = 168: fine
    sheet.write_text(
        "Date,Employee ID,Employee,Project Code,Activity,Hours\n"
        + "\n".join([*days, "2026-12-07,E2,B,O1,x,100", "2026-12-08,E2,B,O1,x,70"])
        + "\n"
    )
    with pytest.raises(InvalidInputError) as caught:
        record_rows(sheet, load_mapping(IMPORTS / "timesheet.toml"))
    assert [str(issue) for issue in caught.value.issues] == [
        "hours.csv rows 9, 10, column Hours: the hours of E2 on O1 in 2026-W50 add up to more "
        "than 168 (got 170.0)"
    ]
    kept = record_rows(sheet, load_mapping(IMPORTS / "timesheet.toml"), skip_bad=True)
    assert [(r["engineer_id"], r["hours"]) for r in kept.rows] == [("E1", "168.0")]
    assert kept.report.imported == 7


def test_a_mapping_of_another_kind_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        record_rows(IMPORTS / "timesheet.csv", load_mapping(IMPORTS / "salesforce.toml"))
    assert str(caught.value.issues[0]) == (
        "--mapping, field kind: must be actuals or outcomes for this import (got 'crm')"
    )


PLAN = Allocation(
    status=SolveStatus.OPTIMAL,
    horizon_start="2026-W12",
    assignments=[
        Assignment(engineer_id="E1", opportunity_id="O1", demand_id="O1/x", hours=8, end_week=2)
    ],
)


def test_a_plan_is_placed_in_iso_weeks_by_its_portfolio_s_horizon_start() -> None:
    """Filed under 2026-W10 but planning from 2026-W12 (its portfolio's calendar): planned vs
    actual reads its week 1 as 2026-W12, not the week it was filed under."""
    run = PlannedRun("2026-W10", PLAN, 2)
    assert run.start == "2026-W12"
    spent = [Actual(engineer_id="E1", opportunity_id="O1", week="2026-W12", hours=10)]
    rows = [(r.week, r.planned, r.actual) for r in planned_vs_actual([run], spent)]
    assert rows == [("2026-W12", 8.0, 10.0), ("2026-W13", 8.0, None)]
    # Without a calendar the filing week still places it.
    undated = PlannedRun("2026-W10", PLAN.model_copy(update={"horizon_start": None}), 2)
    assert [r.week for r in planned_vs_actual([undated], [])] == ["2026-W10", "2026-W11"]


def test_feeding_reads_the_week_before_the_plan_s_own_start() -> None:
    base = Portfolio(engineers=[Engineer(id="E1", region="R")])
    spent = [Actual(engineer_id="E1", opportunity_id="O1", week="2026-W12", hours=12)]
    fed = feed_actuals(base, [PlannedRun("2026-W10", PLAN, 2)], spent, "2026-W13")
    assert [(f.kind, f.planned, f.actual) for f in fed.flags] == [("over_plan", 8.0, 12.0)]
    assert fed.portfolio.engineers[0].committed_hours == 4.0
