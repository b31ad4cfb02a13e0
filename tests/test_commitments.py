"""Commitments per week (issue 13 item 2): hours committed elsewhere may be given per week, as
week numbers, ISO weeks, dates or ranges of them, on top of `committed_hours` (every week).
The capacity rule that reads them lives once in `core.rules` (`committed_in`); these tests
pin it on hand-computed cases, show the compiler, the checker and the explanations follow it,
where it holds and where it is broken, and that portfolios without commitments are unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FAST, demand, engineer, make_portfolio, opportunity

from allocator.core.check import check
from allocator.core.rules import committed_in, engineer_week
from allocator.errors import InvalidInputError
from allocator.explain.explanations import Run, explain_engineer, explain_opportunity
from allocator.io.formats import load_portfolio, write_portfolio_csv, write_portfolio_xlsx
from allocator.io.imports import import_into
from allocator.io.mapping import load_mapping
from allocator.model import (
    Allocation,
    Assignment,
    Engineer,
    Portfolio,
    SolveStatus,
    build_portfolio,
    centi_hours,
)
from allocator.solve.compiled import compile_portfolio, evaluate, select_pairs
from allocator.solver import solve

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = ROOT / "data" / "imports"


def busy_in_week_2(**fields: object) -> Portfolio:
    """O1 needs skill a at 10 h/week in weeks 1-2. E1 (level 5) has 35 h committed elsewhere in
    week 2 only, so 5 h free there; E2 (level 3) is free."""
    return make_portfolio(
        [
            engineer("E1", {"a": 5}, commitments={2: 35}),
            engineer("E2", {"a": 3}),
        ],
        [opportunity("O1")],
        [demand("O1", "a", hours=10)],
        horizon_weeks=2,
        **fields,
    )


def test_committed_in_adds_the_week_s_own_commitments_to_every_week_s() -> None:
    e = Engineer(id="E", region="r", capacity_hours=40, committed_hours=4, commitments={2: 12.25})
    assert [committed_in(e, w) for w in (1, 2, 3)] == [400, 1625, 400]
    assert engineer_week(e, 1) == (3600, 4000)
    assert engineer_week(e, 2) == (2375, 4000)  # 40 - 4 - 12.25
    over = Engineer(id="E", region="r", capacity_hours=10, committed_hours=4, commitments={1: 8})
    assert engineer_week(over, 1).free == 0  # never below 0


def test_keys_may_be_iso_weeks_dates_and_ranges() -> None:
    p = build_portfolio(
        {
            "horizon_weeks": 4,
            "horizon_start": "2026-W50",
            "engineers": [
                engineer(
                    "E1",
                    {"a": 3},
                    commitments={
                        "2026-W51..2026-W53": 8,  # weeks 2-4 (2026 has a week 53)
                        "2026-12-07": 1,  # a Monday of week 1
                        "4": 2,  # adds to week 4
                        "2026-W40..2026-W50": 3,  # before the horizon: only week 1 counts
                    },
                    time_off={"3..4": 5},
                )
            ],
        }
    )
    e = p.engineers[0]
    assert e.commitments == {1: 4.0, 2: 8.0, 3: 8.0, 4: 10.0}
    assert e.time_off == {3: 5.0, 4: 5.0}


@pytest.mark.parametrize(
    ("commitments", "message"),
    [
        (
            {"3..2": 8},
            "engineers[0].commitments[3..2]: the range ends before it starts (got '3..2')",
        ),
        ({"2026-W50": 8}, "commitments[2026-W50]: a date or ISO week needs the horizon_start"),
        ({"5": 8}, "engineers[0].commitments[5]: must be within weeks 1..4 (got 5)"),
        ({"1": 8.125}, "engineers[0].commitments[1]: must have at most two decimals (got 8.125)"),
        ({"1": -1}, "engineers[0].commitments[1]: must be >= 0 (got -1)"),
    ],
)
def test_bad_commitments_name_the_engineer_field_and_value(
    commitments: dict[str, float], message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_portfolio(
            {"horizon_weeks": 4, "engineers": [engineer("E1", {"a": 3}, commitments=commitments)]}
        )
    text = "\n".join(str(issue) for issue in caught.value.issues)
    assert message in text, text


def test_the_rule_holds_a_commitment_in_one_week_moves_the_role() -> None:
    p = busy_in_week_2()
    result = solve(p, FAST)
    assert result.status is SolveStatus.OPTIMAL
    assert [a.engineer_id for a in result.assignments] == ["E2"]
    assert check(p, result).ok
    # Without the commitment the better-fitting E1 serves it: the commitment made the change.
    free = busy_in_week_2().model_copy(
        update={"engineers": tuple(e.model_copy(update={"commitments": {}}) for e in p.engineers)}
    )
    assert [a.engineer_id for a in solve(free, FAST).assignments] == ["E1"]


def test_the_rule_broken_the_checker_names_the_week_and_explanations_say_why() -> None:
    p = busy_in_week_2()
    d = p.demands[0]
    wrong = Allocation(
        status=SolveStatus.FEASIBLE,
        assignments=[
            Assignment(
                engineer_id="E1",
                opportunity_id="O1",
                demand_id=d.id,
                skill="a",
                hours=10,
                start_week=1,
                end_week=2,
            )
        ],
        staffed_opportunities=["O1"],
    )
    report = check(p, wrong)
    capacity = [v for v in report.violations if v.rule == "capacity"]
    assert [v.message for v in capacity] == ["E1 has 10 h assigned in week 2, 5 h free"]

    run = Run.of(p, solve(p, FAST))
    runner_up = next(
        c
        for role in explain_opportunity(run, "O1", with_price=False).roles
        for c in role.runners_up
        if c.engineer_id == "E1"
    )
    assert (runner_up.rule, runner_up.week) == ("capacity", 2)
    assert "35 h committed elsewhere" in runner_up.reason
    weeks = explain_engineer(run, "E1").weeks
    assert [w.committed_hours for w in weeks] == [0.0, 35.0]


def test_the_week_s_commitments_count_as_load_in_the_objective() -> None:
    # E1 alone, 40 h capacity, target 0.85 x 40 = 34 h; 30 h committed in week 1 plus the
    # 10 h role = 6 h above target, in week 1 only: load term -6 points.
    p = make_portfolio(
        [engineer("E1", {"a": 5}, commitments={1: 30})],
        [opportunity("O1")],
        [demand("O1", "a", hours=10, end_week=2)],
        horizon_weeks=2,
    )
    result = solve(p, FAST)
    assert result.terms["load_balance"] == -6.0
    report = check(p, result)
    assert report.ok and report.terms["load_balance"] == -6.0
    problem = compile_portfolio(p)
    chosen = select_pairs(problem, [(a.engineer_id, a.demand_id) for a in result.assignments])
    assert evaluate(problem, chosen)["load_balance"] == -600


def test_old_portfolios_are_unchanged(tmp_path: Path) -> None:
    """A portfolio written before commitments existed reads, solves and writes as before:
    `committed_hours` is still one number for every week, the schema still takes a number
    there, and files gain no `commitments` column or sheet column."""
    sample = ROOT / "data" / "sample"
    p = load_portfolio(sample)
    assert all(e.commitments == {} for e in p.engineers)
    for e in p.engineers:
        assert all(committed_in(e, w) == centi_hours(e.committed_hours) for w in p.weeks())
    # The JSON of an older portfolio (no `commitments` key) reads to the same portfolio.
    old = json.loads(p.model_dump_json())
    for e in old["engineers"]:
        del e["commitments"]
    assert build_portfolio(old) == p
    engineer_schema = Portfolio.model_json_schema()["$defs"]["Engineer"]
    assert engineer_schema["properties"]["committed_hours"]["type"] == "number"
    assert "commitments" not in engineer_schema.get("required", [])
    folder = write_portfolio_csv(p, tmp_path / "csv")
    header = (folder / "engineers.csv").read_text().splitlines()[0]
    assert header == (sample / "engineers.csv").read_text().splitlines()[0]
    assert load_portfolio(folder) == p


def test_files_carry_commitments_both_ways(tmp_path: Path) -> None:
    p = busy_in_week_2()
    folder = write_portfolio_csv(p, tmp_path / "csv")
    assert "2:35" in (folder / "engineers.csv").read_text()
    assert load_portfolio(folder).engineers[0].commitments == {2: 35.0}
    book = write_portfolio_xlsx(p, tmp_path / "p.xlsx")
    assert load_portfolio(book).engineers[0].commitments == {2: 35.0}
    (folder / "engineers.csv").write_text(
        (folder / "engineers.csv").read_text().replace("2:35", "1..2:3")
    )
    assert load_portfolio(folder).engineers[0].commitments == {1: 3.0, 2: 3.0}


def test_the_sample_commitments_import_solve_and_check(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    for kind, source, mapping in [
        ("crm", "salesforce-opportunities.csv", "salesforce.toml"),
        ("team", "hr-skills-matrix.csv", "hr-skills-matrix.toml"),
        ("commitments", "hr-commitments.csv", "hr-commitments.toml"),
    ]:
        import_into(
            kind, IMPORTS / source, load_mapping(IMPORTS / mapping), folder, start="2026-W50"
        )
    engineers = load_portfolio(folder).engineer_by_id()
    assert engineers["E1041"].commitments == {1: 16.0, 2: 16.0}
    assert engineers["E1044"].commitments == {2: 8.0, 3: 8.0, 4: 8.0}  # 14-31 Dec
    assert engineers["E1047"].commitments == {3: 20.0}  # a blank end: that week only
    assert engineers["E1050"].commitments == {1: 4.0, 2: 4.0, 3: 4.0, 4: 4.0}  # cut at the end
    portfolio = load_portfolio(folder)
    result = solve(portfolio, FAST)
    assert result.status is SolveStatus.OPTIMAL and check(portfolio, result).ok


def test_a_bad_commitment_row_is_reported_with_row_column_and_value(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    import_into(
        "team",
        IMPORTS / "hr-skills-matrix.csv",
        load_mapping(IMPORTS / "hr-skills-matrix.toml"),
        folder,
        start="2026-W50",
    )
    source = tmp_path / "c.csv"
    source.write_text(
        "Employee ID,From,To,Hours per week,Project\n"
        "E9999,2026-W50,,8,x\n"
        "E1041,2026-W52,2026-W50,8,x\n"
        "E1041,2026-W50,,lots,x\n"
        "E1041,someday,,8,x\n"
    )
    with pytest.raises(InvalidInputError) as caught:
        import_into("commitments", source, load_mapping(IMPORTS / "hr-commitments.toml"), folder)
    assert [str(issue) for issue in caught.value.issues] == [
        "c.csv row 2, column Employee ID: unknown engineer (import the team first) (got 'E9999')",
        "c.csv row 3, column To: is before the start 2026-W52 (got '2026-W50')",
        "c.csv row 4, column Hours per week: must be a number (got 'lots')",
        "c.csv row 5, column From: must be a date (YYYY-MM-DD, DD.MM.YYYY or MM/DD/YYYY) "
        "(got 'someday')",
    ]
