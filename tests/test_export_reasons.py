"""The export's Unstaffed sheet and CSV say why an opportunity that could have been staffed got
nobody: the binding reason of its roles, supplied by the explanations layer (io/ sits below
explain/, so the CLI, the API and the app pass the reasons in). What cannot be staffed by
construction keeps the result's own reason; without reasons the generic words remain."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
from conftest import FAST, demand, engineer, make_portfolio, opportunity
from typer.testing import CliRunner

from allocator.cli.main import app
from allocator.explain.explanations import Run, export_reasons, unstaffed_in_words
from allocator.io.exports import NOT_CHOSEN, plan_csv, write_plan_xlsx
from allocator.io.formats import write_allocation, write_portfolio_json
from allocator.model import Pin, Portfolio, SolveStatus
from allocator.solver import solve

BUSY = (
    "role O2/a (a): every one of the 1 engineers with a at level 3 is taken: 1 are busy on "
    "other work, e.g. E1 on O1 (expected value 100,000)"
)


def one_engineer_two_deals() -> Portfolio:
    """E1 alone has skill a; O1 (worth more) and O2 each need 30 of E1's 40 h; O3 needs a
    skill nobody has."""
    return make_portfolio(
        [engineer("E1", {"a": 4})],
        [
            opportunity("O1", value=200_000),
            opportunity("O2", value=50_000, external_id="CRM-2"),
            opportunity("O3"),
        ],
        [demand("O1", "a", hours=30), demand("O2", "a", hours=30), demand("O3", "zz")],
        skills=[{"id": "a"}, {"id": "zz"}],
    )


def unstaffed_sheet(path: Path) -> dict[str, str]:
    sheet = openpyxl.load_workbook(path)["Unstaffed"]
    return {row[1]: row[5] for row in sheet.iter_rows(min_row=2, values_only=True)}


def test_the_sheet_gives_the_binding_reason_when_passed_in(tmp_path: Path) -> None:
    p = one_engineer_two_deals()
    result = solve(p, FAST)
    assert result.staffed_opportunities == ["O1"]
    reasons = export_reasons(p, result)
    assert reasons == {"O2": BUSY}  # O3 is the result's own (unstaffable) business
    explained = unstaffed_sheet(write_plan_xlsx(p, result, tmp_path / "a.xlsx", reasons))
    assert explained["O2"] == BUSY
    assert explained["O3"].startswith("no engineer has zz at level 3")
    generic = unstaffed_sheet(write_plan_xlsx(p, result, tmp_path / "b.xlsx"))
    assert generic["O2"] == NOT_CHOSEN
    rows = {r["crm_id"]: r for r in csv.DictReader(io.StringIO(plan_csv(p, result, reasons)))}
    assert rows["CRM-2"]["reason"] == BUSY


def test_the_reasons_stay_cheap_highest_value_first() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 4})],
        [opportunity(f"O{i}", value=100_000 * i) for i in range(1, 5)],
        [demand(f"O{i}", "a", hours=30) for i in range(1, 5)],
    )
    run = Run.of(p, solve(p, FAST))
    assert run.staffed == {"O4"}
    assert list(unstaffed_in_words(run, most=2)) == ["O3", "O2"]
    assert list(unstaffed_in_words(run, candidates=2)) == ["O3", "O2"]  # one engineer each
    assert unstaffed_in_words(run, candidates=0) == {}


def test_a_run_without_an_allocation_gets_no_reasons() -> None:
    p = one_engineer_two_deals().model_copy(
        update={"pins": (Pin(engineer_id="E1", opportunity_id="O3"),)}
    )
    result = solve(p, FAST)
    assert result.status is SolveStatus.INFEASIBLE
    assert export_reasons(p, result) == {}


def test_the_command_line_export_says_why_unless_told_not_to(tmp_path: Path) -> None:
    p = one_engineer_two_deals()
    write_portfolio_json(p, tmp_path / "p.json")
    write_allocation(solve(p, FAST), tmp_path / "r.json")
    args = ["export", str(tmp_path / "r.json"), "--portfolio", str(tmp_path / "p.json")]
    done = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "plan.xlsx")])
    assert done.exit_code == 0, done.output
    assert unstaffed_sheet(tmp_path / "plan.xlsx")["O2"] == BUSY
    done = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "g.xlsx"), "--no-reasons"])
    assert done.exit_code == 0, done.output
    assert unstaffed_sheet(tmp_path / "g.xlsx")["O2"] == NOT_CHOSEN
