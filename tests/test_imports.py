"""Real pipelines in and out: the sample CRM and HR exports under data/imports/ import with
their mappings into portfolios that solve, check and export; bad rows are reported with file,
row, column and value; the CRM id survives import -> solve -> export -> re-import."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import openpyxl
import pytest
from conftest import FAST

from allocator.core.check import check
from allocator.errors import InvalidInputError
from allocator.io.exports import plan_csv, write_plan_xlsx
from allocator.io.formats import load_portfolio
from allocator.io.imports import import_into
from allocator.io.mapping import load_mapping
from allocator.solver import solve

IMPORTS = Path(__file__).resolve().parents[1] / "data" / "imports"
START = "2026-W50"


def imported(folder: Path, crm: str = "salesforce") -> Path:
    exports = {"salesforce": "salesforce-opportunities.csv", "hubspot": "hubspot-deals.xlsx"}
    steps = [
        ("crm", exports[crm], f"{crm}.toml"),
        ("team", "hr-skills-matrix.csv", "hr-skills-matrix.toml"),
        ("time_off", "hr-time-off.csv", "hr-time-off.toml"),
    ]
    for kind, source, mapping in steps:
        import_into(kind, IMPORTS / source, load_mapping(IMPORTS / mapping), folder, start=START)
    return folder


def errors_of(kind: str, source: Path, mapping: Path, folder: Path) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        import_into(kind, source, load_mapping(mapping), folder, start=START)
    assert not (folder / "opportunities.csv").exists() or kind != "crm"
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_the_samples_import_solve_check_and_export(tmp_path: Path, crm: str) -> None:
    portfolio = load_portfolio(imported(tmp_path / "p", crm))
    assert portfolio.horizon_start == START and len(portfolio.engineers) == 14
    assert portfolio.policy.value_unit_source == "derived"
    result = solve(portfolio, FAST)
    assert result.status.value == "optimal"
    assert check(portfolio, result).ok
    assert result.staffed_opportunities and not result.warnings
    book_path = write_plan_xlsx(portfolio, result, tmp_path / "plan.xlsx")
    book = openpyxl.load_workbook(book_path)
    assert book.sheetnames == ["By engineer", "By opportunity", "Unstaffed", "Objective"]
    header = [c.value for c in book["By engineer"][1]]
    assert header[4:8] == ["2026-W50", "2026-W51", "2026-W52", "2026-W53"]
    assert [c.value for c in book["Objective"]["A"]][1:6] == [
        "expected_value",
        "skill_fit",
        "region_match",
        "continuity",
        "load_balance",
    ]


def test_blank_cells_and_placeholders_are_missing_values(tmp_path: Path) -> None:
    portfolio = load_portfolio(imported(tmp_path / "p"))
    by_id = portfolio.opportunity_by_id()
    # Row 7 says `unknown`, row 6 is blank: both are no industry, never an industry 'unknown'.
    assert by_id["006Qy000001005AB"].industry == ""
    assert by_id["006Qy000001006AB"].industry == ""
    assert "unknown" not in {o.industry for o in portfolio.opportunities}
    assert by_id["006Qy000001000AB"].account == "Nordwind Energy"
    assert by_id["006Qy000001000AB"].owner == "Ana Silva"
    assert by_id["006Qy000001000AB"].tier == "A"  # Annual revenue 4.2 bn >= revenue_a.
    engineers = portfolio.engineer_by_id()
    assert engineers["E1040"].time_off == {3: 40.0, 4: 40.0}  # 21 Dec-1 Jan: ten working days.
    assert engineers["E1040"].skills == {
        "solution_architect": 5,
        "enterprise_architect": 3,
        "presales_consultant": 2,
        "cloud": 3,
    }


def test_template_roles_follow_the_close_date_and_product_line(tmp_path: Path) -> None:
    portfolio = load_portfolio(imported(tmp_path / "p"))
    demands = portfolio.demands_of()
    design = [o for o in portfolio.opportunities if o.stage == "solution_design" and demands[o.id]]
    assert design
    for o in design:
        skills = {d.skill for d in demands[o.id]}
        assert "solution_architect" in skills
    network = [o for o in design if any(d.skill == "network" for d in demands[o.id])]
    assert network, "the Network product line's template gives a network specialist"


def test_round_trip_keeps_every_crm_id(tmp_path: Path) -> None:
    folder = imported(tmp_path / "p")
    portfolio = load_portfolio(folder)
    ids = {o.external_id for o in portfolio.opportunities}
    result = solve(portfolio, FAST)
    rows = list(csv.DictReader(plan_csv(portfolio, result).splitlines()))
    assert {r["crm_id"] for r in rows} == ids
    assert all(r["reason"] == "" for r in rows if r["staffed"] == "yes")
    with open(IMPORTS / "salesforce-opportunities.csv", newline="") as handle:
        source_ids = {r["Opportunity ID"] for r in csv.DictReader(handle)}
    assert ids <= source_ids
    # Re-importing the same export into the folder keeps every id (and changes nothing else).
    import_into(
        "crm",
        IMPORTS / "salesforce-opportunities.csv",
        load_mapping(IMPORTS / "salesforce.toml"),
        folder,
    )
    again = load_portfolio(folder)
    assert {o.external_id for o in again.opportunities} == ids
    assert again.opportunities == portfolio.opportunities
    assert again.demands == portfolio.demands


def broken_export(tmp_path: Path, replace: dict[str, str]) -> Path:
    text = (IMPORTS / "salesforce-opportunities.csv").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "export.csv"
    path.write_text(text)
    return path


def test_every_bad_row_is_reported_with_file_row_column_and_value(tmp_path: Path) -> None:
    source = broken_export(
        tmp_path,
        {
            '"USD 1,099.56",10,': "lots,10,",
            '"USD 16,506.13",20,': '"USD 16,506.13",120,',
            "Value Proposition,": "Dreaming,",
        },
    )
    lines = errors_of("crm", source, IMPORTS / "salesforce.toml", tmp_path / "p")
    assert lines == [
        "export.csv row 2, column Amount: must be a number (got 'lots')",
        "export.csv row 3, column Probability (%): must be within 0..100 (got '120')",
        "export.csv row 5, column Stage: no template matches (stage 'Dreaming', product line "
        "'Analytics', value 10927.8): add a [[templates]] entry or list the stage under "
        "skip_stages (got 'Dreaming')",
    ]
    assert not (tmp_path / "p").exists()


def test_skip_bad_writes_the_good_rows_and_lists_the_bad(tmp_path: Path) -> None:
    source = broken_export(tmp_path, {'"USD 1,099.56",10,': "lots,10,"})
    portfolio, report = import_into(
        "crm",
        source,
        load_mapping(IMPORTS / "salesforce.toml"),
        tmp_path / "p",
        skip_bad=True,
        start=START,
    )
    assert "006Qy000001000AB" not in portfolio.opportunity_by_id()
    assert len(portfolio.opportunities) == 17
    assert report.lines()[0].startswith("export.csv: 30 rows read, 17 imported, 12 left out")
    assert "skipped: export.csv row 2, column Amount: must be a number (got 'lots')" in (
        report.lines()
    )


def test_an_unknown_column_is_an_error_unless_ignored(tmp_path: Path) -> None:
    source = broken_export(tmp_path, {"Fiscal Period": "Fiscal Period,Next Step"})
    lines = errors_of("crm", source, IMPORTS / "salesforce.toml", tmp_path / "p")
    assert lines == [
        "export.csv, column Next Step: unknown column: map it under [columns] (or [skills]) "
        "or list it in file.ignore"
    ]


def test_a_semicolon_file_read_as_commas_says_so(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_text("Opportunity ID;Stage;Amount\n006A;Prospecting;100\n")
    mapping = tmp_path / "m.toml"
    text = (IMPORTS / "salesforce.toml").read_text()
    mapping.write_text(text.replace("[file]\n", '[file]\ndelimiter = ","\n'))
    lines = errors_of("crm", source, mapping, tmp_path / "p")
    assert lines == [
        "export.csv: the header reads as one column: the file looks separated by ';', not ',';"
        " set file.delimiter in the mapping (got 'Opportunity ID;Stage;Amount')"
    ]


def test_a_level_outside_1_to_5_names_the_skill_column(tmp_path: Path) -> None:
    text = (IMPORTS / "hr-skills-matrix.csv").read_text().splitlines()
    cells = text[1].split(",")
    cells[-1] = "7"
    text[1] = ",".join(cells)
    source = tmp_path / "matrix.csv"
    source.write_text("\n".join(text) + "\n")
    lines = errors_of("team", source, IMPORTS / "hr-skills-matrix.toml", tmp_path / "p")
    assert lines == [
        "matrix.csv row 2, column Data & Analytics: must be a level 1-5 (0 or blank: none) "
        "(got '7')"
    ]


def test_time_off_for_an_unknown_engineer_is_a_bad_row(tmp_path: Path) -> None:
    folder = imported(tmp_path / "p")
    source = tmp_path / "leave.csv"
    source.write_text("Employee ID,From,To,Absence Type\nE9999,2026-12-07,2026-12-08,Vacation\n")
    lines = errors_of("time_off", source, IMPORTS / "hr-time-off.toml", folder)
    assert lines == [
        "leave.csv row 2, column Employee ID: unknown engineer (import the team first) "
        "(got 'E9999')"
    ]


def test_a_mapping_error_names_the_key(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('kind = "team"\n[columns]\nexternal_id = "ID"\nregion = "R"\nshoe = "S"\n')
    with pytest.raises(InvalidInputError) as caught:
        load_mapping(mapping)
    message = str(caught.value.issues[0])
    assert message.startswith("m.toml: columns: unknown field 'shoe' for kind team; expected")


def test_import_into_an_existing_sample_keeps_it_valid(tmp_path: Path) -> None:
    folder = tmp_path / "sample"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "sample", folder)
    portfolio, _ = import_into(
        "team",
        IMPORTS / "hr-skills-matrix.csv",
        load_mapping(IMPORTS / "hr-skills-matrix.toml"),
        folder,
        start=START,
    )
    assert len(portfolio.engineers) == 14
    assert load_portfolio(folder).engineers == portfolio.engineers


@pytest.mark.slow
def test_the_command_line_pipeline(tmp_path: Path) -> None:
    """import crm, import team, validate, solve, export both ways; a bad row exits 2."""
    from clikit import invoke

    folder = tmp_path / "p"
    crm = ("import", "crm", IMPORTS / "salesforce-opportunities.csv")
    done = invoke(*crm, "--mapping", IMPORTS / "salesforce.toml", "--out", folder, "--start", START)
    assert done.returncode == 0, done.stderr
    assert "30 rows read, 18 imported, 12 left out" in done.stdout
    team = ("import", "team", IMPORTS / "hr-skills-matrix.csv")
    assert (
        invoke(*team, "--mapping", IMPORTS / "hr-skills-matrix.toml", "--out", folder).returncode
        == 0
    )
    committed = ("import", "commitments", IMPORTS / "hr-commitments.csv")
    done = invoke(*committed, "--mapping", IMPORTS / "hr-commitments.toml", "--out", folder)
    assert done.returncode == 0 and "4 rows read, 4 imported" in done.stdout, done.stderr
    checked = invoke("validate", folder)
    assert checked.returncode == 0 and "value_unit 20 (derived)" in checked.stdout
    solved = invoke("solve", folder, "--out", tmp_path / "r.json", "--time-limit", "3")
    assert "Value unit" in solved.stdout and "Tier-weighted expected value covered" in solved.stdout
    for out in ("plan.xlsx", "plan.csv"):
        exported = invoke(
            "export", tmp_path / "r.json", "--portfolio", folder, "--out", tmp_path / out
        )
        assert exported.returncode == 0 and (tmp_path / out).is_file()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        (IMPORTS / "salesforce-opportunities.csv").read_text().replace('"USD 1,099.56"', "x")
    )
    failed = invoke(
        "import", "crm", bad, "--mapping", IMPORTS / "salesforce.toml", "--out", tmp_path / "q"
    )
    assert failed.returncode == 2
    assert (
        failed.stderr.strip() == "error: bad.csv row 2, column Amount: must be a number (got 'x')"
    )
    assert not (tmp_path / "q").exists()


def test_the_documented_example_mapping_is_a_valid_mapping(tmp_path: Path) -> None:
    text = (IMPORTS.parents[1] / "docs" / "imports.md").read_text()
    example = text.split("### A full example (Salesforce)\n\n```toml\n")[1].split("```")[0]
    (tmp_path / "example.toml").write_text(example)
    mapping = load_mapping(tmp_path / "example.toml")
    assert mapping.kind == "crm" and len(mapping.templates) == 4


def test_a_start_that_is_no_iso_week_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        import_into(
            "crm",
            IMPORTS / "salesforce-opportunities.csv",
            load_mapping(IMPORTS / "salesforce.toml"),
            tmp_path / "p",
            start="2025-W53",
        )
    assert [str(i) for i in caught.value.issues] == [
        "--start: is no ISO week (like 2026-W50) (got '2025-W53')"
    ]
