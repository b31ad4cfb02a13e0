"""Reading and writing portfolios: CSV folders, JSON documents, Excel workbooks, results.

Every bad input gives one clear message naming file, row (the header is row 1), column and
value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from allocator.errors import InvalidInputError
from allocator.io.formats import (
    load_allocation,
    load_portfolio,
    write_allocation,
    write_portfolio_csv,
    write_portfolio_json,
)
from allocator.model import Allocation, Assignment, SolveStatus

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"

TINY: dict[str, str] = {
    "skills.csv": """\
id,name,family
arch,Architect,architecture
net,Network,infrastructure
""",
    "engineers.csv": """\
id,name,region,skills,industries,capacity_hours,committed_hours,time_off
E1,Ann,North,arch:4;net:3,power;finance,40,4,2:8
E2,Bo,South,net:5,telecom,32,0,
""",
    "opportunities.csv": """\
id,customer,tier,industry,region,stage,value,win_probability,type,requested_at
O1,Grid 1,A,power,North,design,500000,0.4,hq_solution,2026-11-20T09:30:00
O2,Bank 2,B,finance,South,proposal,120000,0.6,region_solution,
O3,Telco 3,C,telecom,North,proposal,80000,0.3,standard_product,
""",
    "demands.csv": """\
id,opportunity_id,skill,min_proficiency,hours,start_week,end_week,required
O1/arch,O1,arch,4,16,1,2,true
,O1,net,3,8,2,,false
O2/net,O2,net,3,12.5,1,1,true
""",
    "stage_templates.csv": """\
stage,skill,min_proficiency,hours,weeks,required
design,arch,3,16,2,true
proposal,net,3,8,1,true
proposal,arch,2,4,1,false
won,,,,,
""",
    "pins.csv": """\
engineer_id,opportunity_id,demand_id,set_by,reason
E1,O1,O1/arch,mgr,key account
""",
    "forbids.csv": """\
engineer_id,opportunity_id,demand_id,set_by,reason
E2,O1,,mgr,conflict of interest
""",
    "previous.csv": """\
engineer_id,opportunity_id,demand_id
E2,O2,O2/net
""",
    "policy.json": '{"load_penalty": 2, "tier_factors": {"A": 2, "B": 1.2, "C": 1}}\n',
    "portfolio.json": '{"name": "tiny", "horizon_weeks": 2}\n',
}
"""A small portfolio touching every table and every cell syntax."""

TINY_DOCUMENT: dict[str, Any] = {
    "name": "tiny",
    "horizon_weeks": 2,
    "skills": [
        {"id": "arch", "name": "Architect", "family": "architecture"},
        {"id": "net", "name": "Network", "family": "infrastructure"},
    ],
    "engineers": [
        {
            "id": "E1",
            "name": "Ann",
            "region": "North",
            "skills": {"arch": 4, "net": 3},
            "industries": ["power", "finance"],
            "capacity_hours": 40,
            "committed_hours": 4,
            "time_off": {"2": 8},
        },
        {
            "id": "E2",
            "name": "Bo",
            "region": "South",
            "skills": {"net": 5},
            "industries": ["telecom"],
            "capacity_hours": 32,
            "committed_hours": 0,
        },
    ],
    "opportunities": [
        {
            "id": "O1",
            "customer": "Grid 1",
            "tier": "A",
            "industry": "power",
            "region": "North",
            "stage": "design",
            "value": 500000,
            "win_probability": 0.4,
            "type": "hq_solution",
            "requested_at": "2026-11-20T09:30:00",
        },
        {
            "id": "O2",
            "customer": "Bank 2",
            "tier": "B",
            "industry": "finance",
            "region": "South",
            "stage": "proposal",
            "value": 120000,
            "win_probability": 0.6,
            "type": "region_solution",
        },
        {
            "id": "O3",
            "customer": "Telco 3",
            "tier": "C",
            "industry": "telecom",
            "region": "North",
            "stage": "proposal",
            "value": 80000,
            "win_probability": 0.3,
            "type": "standard_product",
        },
    ],
    "demands": [
        {
            "id": "O1/arch",
            "opportunity_id": "O1",
            "skill": "arch",
            "min_proficiency": 4,
            "hours": 16,
            "start_week": 1,
            "end_week": 2,
        },
        {
            "opportunity_id": "O1",
            "skill": "net",
            "min_proficiency": 3,
            "hours": 8,
            "start_week": 2,
            "required": False,
        },
        {
            "id": "O2/net",
            "opportunity_id": "O2",
            "skill": "net",
            "hours": 12.5,
            "start_week": 1,
            "end_week": 1,
        },
    ],
    "stage_templates": [
        {"stage": "design", "roles": [{"skill": "arch", "hours": 16, "weeks": 2}]},
        {
            "stage": "proposal",
            "roles": [
                {"skill": "net", "hours": 8},
                {"skill": "arch", "min_proficiency": 2, "hours": 4, "required": False},
            ],
        },
        {"stage": "won"},
    ],
    "policy": {"load_penalty": 2, "tier_factors": {"A": 2, "B": 1.2, "C": 1}},
    "pins": [
        {
            "engineer_id": "E1",
            "opportunity_id": "O1",
            "demand_id": "O1/arch",
            "set_by": "mgr",
            "reason": "key account",
        }
    ],
    "forbids": [
        {
            "engineer_id": "E2",
            "opportunity_id": "O1",
            "set_by": "mgr",
            "reason": "conflict of interest",
        }
    ],
    "previous": [{"engineer_id": "E2", "opportunity_id": "O2", "demand_id": "O2/net"}],
}
"""The same portfolio as one JSON document."""


def tiny_folder(tmp_path: Path, **edits: tuple[str, str] | str | None) -> Path:
    """Write TINY to a folder. `edits` per file (dots as underscores): a (old, new) text
    replacement, a whole new text, or None to leave the file out."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    for name, text in TINY.items():
        key = name.replace(".", "_")
        edit = edits.pop(key, text)
        if edit is None:
            continue
        if isinstance(edit, tuple):
            old, new = edit
            assert text.count(old) == 1, f"{old!r} must occur once in {name}"
            edit = text.replace(old, new)
        (folder / name).write_text(edit)
    assert not edits, f"no such file: {edits}"
    return folder


def load_error(path: Path) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        load_portfolio(path)
    return caught.value


def single_error(path: Path) -> str:
    """The one message a bad input gives (fails when there are several)."""
    error = load_error(path)
    lines = error.lines()
    assert len(lines) == 1, lines
    assert str(error) == lines[0]
    return lines[0]


def write_workbook(
    folder: Path, path: Path, edit: dict[tuple[str, int, str], str] | None = None
) -> Path:
    """Write a CSV folder as a workbook: one sheet per CSV file, `policy` and `portfolio` as
    key/value sheets. `edit` maps (sheet, row index, column) to a new cell text."""
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for csv in sorted(folder.glob("*.csv")):
            frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
            for (sheet, row, column), text in (edit or {}).items():
                if sheet == csv.stem:
                    frame.loc[row, column] = text
            frame.to_excel(writer, sheet_name=csv.stem, index=False)
        for name in ("policy", "portfolio"):
            data = json.loads((folder / f"{name}.json").read_text())
            values = [json.dumps(v) for v in data.values()]
            pd.DataFrame({"key": list(data), "value": values}).to_excel(
                writer, sheet_name=name, index=False
            )
    return path


# --------------------------------------------------------------------------------------------
# Loading: the three formats agree


def test_csv_folder_loads_every_table(tmp_path: Path) -> None:
    portfolio = load_portfolio(tiny_folder(tmp_path))
    assert (portfolio.name, portfolio.horizon_weeks) == ("tiny", 2)
    assert [s.id for s in portfolio.skills] == ["arch", "net"]
    first = portfolio.engineers[0]
    assert first.skills == {"arch": 4, "net": 3}
    assert first.industries == ("power", "finance")
    assert first.time_off == {2: 8.0}
    assert portfolio.engineers[1].time_off == {}
    assert portfolio.opportunities[0].requested_at is not None
    assert portfolio.opportunities[0].requested_at.isoformat() == "2026-11-20T09:30:00"
    assert portfolio.opportunities[1].requested_at is None
    demands = [(d.id, d.end_week, d.required, d.template_stage) for d in portfolio.demands]
    assert demands == [
        ("O1/arch", 2, True, ""),
        ("O1/net", None, False, ""),
        ("O2/net", 1, True, ""),
        ("O3/net", 1, True, "proposal"),
        ("O3/arch", 1, False, "proposal"),
    ]
    assert portfolio.demands[2].hours == 12.5
    assert [t.stage for t in portfolio.stage_templates] == ["design", "proposal", "won"]
    assert portfolio.stage_templates[2].roles == ()
    assert portfolio.policy.load_penalty == 2
    assert portfolio.policy.tier_factors == {"A": 2.0, "B": 1.2, "C": 1.0}
    assert [p.label() for p in portfolio.pins] == ["pin E1 -> O1/arch"]
    assert portfolio.forbids[0].reason == "conflict of interest"
    assert portfolio.previous[0].demand_id == "O2/net"


def test_csv_json_and_xlsx_give_equal_portfolios(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path)
    document = tmp_path / "tiny.json"
    document.write_text(json.dumps(TINY_DOCUMENT))
    book = write_workbook(folder, tmp_path / "tiny.xlsx")
    from_csv = load_portfolio(folder)
    assert load_portfolio(document).model_dump() == from_csv.model_dump()
    assert load_portfolio(book).model_dump() == from_csv.model_dump()


def test_sample_loads() -> None:
    portfolio = load_portfolio(SAMPLE)
    assert (portfolio.name, portfolio.horizon_weeks) == ("sample", 2)
    assert (len(portfolio.engineers), len(portfolio.opportunities)) == (60, 200)
    assert len(portfolio.skills) == 12
    explicit = [d for d in portfolio.demands if not d.template_stage]
    assert len(explicit) == 300
    derived = [d for d in portfolio.demands if d.template_stage]
    assert derived, "standard-product opportunities get their roles from stage templates"
    assert {d.opportunity_id for d in derived}.isdisjoint(d.opportunity_id for d in explicit)


def test_sample_as_json_and_xlsx_equals_the_csv_folder(tmp_path: Path) -> None:
    portfolio = load_portfolio(SAMPLE)
    document = write_portfolio_json(portfolio, tmp_path / "sample.json")
    assert load_portfolio(document) == portfolio
    book = write_workbook(SAMPLE, tmp_path / "sample.xlsx")
    assert load_portfolio(book).model_dump() == portfolio.model_dump()


def test_xlsx_with_typed_cells_loads_like_text_cells(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path)
    path = tmp_path / "typed.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for csv in sorted(folder.glob("*.csv")):
            pd.read_csv(csv).to_excel(writer, sheet_name=csv.stem.upper(), index=False)
        pd.DataFrame({"key": ["name", "horizon_weeks"], "value": ["tiny", 2]}).to_excel(
            writer, sheet_name="portfolio", index=False
        )
        pd.DataFrame(
            {"key": ["load_penalty", "tier_factors"], "value": [2, '{"A": 2, "B": 1.2, "C": 1}']}
        ).to_excel(writer, sheet_name="policy", index=False)
    assert load_portfolio(path).model_dump() == load_portfolio(folder).model_dump()


# --------------------------------------------------------------------------------------------
# Writing: round trips


@pytest.mark.parametrize("source", ["tiny", "sample"])
def test_write_portfolio_csv_round_trips(tmp_path: Path, source: str) -> None:
    original = load_portfolio(tiny_folder(tmp_path) if source == "tiny" else SAMPLE)
    written = write_portfolio_csv(original, tmp_path / "out")
    assert written == tmp_path / "out"
    again = load_portfolio(written)
    assert again.model_dump() == original.model_dump()


def test_written_csv_folder_has_the_documented_files(tmp_path: Path) -> None:
    folder = write_portfolio_csv(load_portfolio(tiny_folder(tmp_path)), tmp_path / "out")
    assert sorted(p.name for p in folder.iterdir()) == [
        "demands.csv",
        "engineers.csv",
        "forbids.csv",
        "opportunities.csv",
        "pins.csv",
        "policy.json",
        "portfolio.json",
        "previous.csv",
        "skills.csv",
        "stage_templates.csv",
    ]
    # Derived demands are not written: the templates derive them again.
    assert "O3/" not in (folder / "demands.csv").read_text()
    engineers = (folder / "engineers.csv").read_text().splitlines()
    assert engineers[1].startswith("E1,Ann,North,arch:4;net:3,power;finance,40,4,2:8,")
    assert json.loads((folder / "portfolio.json").read_text()) == {
        "name": "tiny",
        "horizon_weeks": 2,
    }


def test_round_trip_without_optional_tables(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, pins_csv=None, forbids_csv=None, previous_csv=None)
    original = load_portfolio(folder)
    out = write_portfolio_csv(original, tmp_path / "out")
    assert not (out / "pins.csv").exists()
    assert load_portfolio(out) == original


def test_allocation_round_trips(tmp_path: Path) -> None:
    allocation = Allocation(
        status=SolveStatus.OPTIMAL,
        objective=12.5,
        best_bound=12.5,
        gap=0.0,
        terms={"expected_value": 12.5},
        assignments=[Assignment(engineer_id="E1", opportunity_id="O1", demand_id="O1/arch")],
    )
    path = write_allocation(allocation, tmp_path / "deep" / "result.json")
    assert load_allocation(path) == allocation


# --------------------------------------------------------------------------------------------
# Bad input: one clear message naming file, row, column and value


def test_unknown_skill_in_demands(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, demands_csv=(",O1,net,", ",O1,juggling,"))
    assert single_error(folder) == "demands.csv row 3, column skill: unknown skill (got 'juggling')"


def test_negative_hours(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, demands_csv=(",O1,net,3,8,", ",O1,net,3,-3,"))
    assert single_error(folder) == "demands.csv row 3, column hours: must be >= 0 (got '-3')"


def test_hours_with_three_decimals(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, demands_csv=(",12.5,", ",12.505,"))
    assert (
        single_error(folder)
        == "demands.csv row 4, column hours: must have at most two decimals (got 12.505)"
    )


def test_duplicate_engineer_id(tmp_path: Path) -> None:
    extra = TINY["engineers.csv"] + "E1,Cy,East,arch:2,,40,0,\n"
    assert single_error(tiny_folder(tmp_path, engineers_csv=extra)) == (
        "engineers.csv row 4, column id: duplicate id (got 'E1')"
    )


def test_skills_cell_without_a_level(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, engineers_csv=("net:5", "architect"))
    assert single_error(folder) == (
        "engineers.csv row 3, column skills: each entry must read key:value "
        "(bad entry 'architect') (got 'architect')"
    )


def test_skill_given_twice_in_a_cell(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, engineers_csv=("net:5", "net:5;net:2"))
    assert single_error(folder) == (
        "engineers.csv row 3, column skills: 'net' is given twice (got 'net:5;net:2')"
    )


def test_proficiency_out_of_range_in_a_cell(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, engineers_csv=("arch:4;", "arch:7;"))
    assert (
        single_error(folder) == "engineers.csv row 2, column skills[arch]: must be <= 5 (got '7')"
    )


def test_non_number_in_capacity_hours(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, engineers_csv=(",32,0,", ",forty,0,"))
    assert single_error(folder) == (
        "engineers.csv row 3, column capacity_hours: Input should be a valid number, "
        "unable to parse string as a number (got 'forty')"
    )


def test_time_off_week_outside_the_horizon(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, engineers_csv=(",2:8", ",3:8"))
    assert single_error(folder) == (
        "engineers.csv row 2, column time_off[3]: must be within weeks 1..2 (got 3)"
    )


def test_win_probability_above_one(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, opportunities_csv=(",0.3,", ",1.3,"))
    assert single_error(folder) == (
        "opportunities.csv row 4, column win_probability: must be <= 1 (got '1.3')"
    )


def test_bad_boolean(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, demands_csv=(",1,1,true", ",1,1,maybe"))
    assert single_error(folder) == (
        "demands.csv row 4, column required: Input should be a valid boolean, "
        "unable to interpret input (got 'maybe')"
    )


def test_unknown_column(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, engineers_csv=(",time_off\n", ",holidays\n"))
    assert single_error(folder) == (
        "engineers.csv, column holidays: unknown column; expected some of id, external_id, "
        "name, region, "
        "skills, industries, capacity_hours, committed_hours, commitments, time_off, cost_rate, "
        "seniority_years, title"
    )


def test_invalid_policy_value(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, policy_json='{"load_penalty": -1}')
    assert single_error(folder) == "policy.json, field load_penalty: must be >= 0 (got -1)"


def test_unknown_policy_field(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, policy_json='{"load_penalty": 1, "bonus": 3}')
    assert single_error(folder) == "policy.json, field bonus: is not a known field (got 3)"


def test_policy_that_is_not_an_object(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, policy_json="[1, 2]")
    assert single_error(folder) == "policy.json: must be a JSON object"


def test_invalid_portfolio_value(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, portfolio_json='{"name": "x", "horizon_weeks": 0}')
    assert single_error(folder) == "portfolio.json, field horizon_weeks: must be >= 1 (got 0)"


def test_broken_json_file_in_a_folder(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, policy_json='{"load_penalty": 2,\n}\n')
    assert single_error(folder) == (
        "policy.json line 2: is not valid JSON: Expecting property name enclosed in double quotes"
    )


def test_broken_json_document(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "engineers": [\n    {"id": "E1",}\n  ]\n}\n')
    assert single_error(path) == (
        "broken.json line 3: is not valid JSON: Expecting property name enclosed in double quotes"
    )


def test_error_in_a_json_document_has_a_json_path(tmp_path: Path) -> None:
    document = json.loads(json.dumps(TINY_DOCUMENT))
    document["demands"][0]["hours"] = -3
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(document))
    assert single_error(path) == "$.demands[0].hours: must be >= 0 (got -3)"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    assert single_error(path) == f"{path}: no such file or folder"


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "portfolio.txt"
    path.write_text("engineers")
    assert single_error(path) == f"{path}: expected a folder of CSV files, a .json or an .xlsx file"


def test_folder_without_tables(tmp_path: Path) -> None:
    assert (
        single_error(tmp_path) == f"{tmp_path}: holds neither engineers.csv nor opportunities.csv"
    )


def test_unreadable_workbook(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    path.write_text("not a workbook")
    assert single_error(path).startswith("book.xlsx: cannot be read: ")


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    folder = tiny_folder(
        tmp_path,
        demands_csv=(",O1,net,3,8,", ",O1,juggling,3,-3,"),
        engineers_csv=(",32,0,", ",forty,0,"),
    )
    error = load_error(folder)
    assert str(error).endswith(" (and 1 more)")
    assert error.lines() == [
        "engineers.csv row 3, column capacity_hours: Input should be a valid number, "
        "unable to parse string as a number (got 'forty')",
        "demands.csv row 3, column hours: must be >= 0 (got '-3')",
    ]


# --------------------------------------------------------------------------------------------
# Row numbers


def test_row_numbers_count_blank_lines(tmp_path: Path) -> None:
    demands = TINY["demands.csv"].replace("O1/arch,O1,arch,4,16,1,2,true\n", "\n\n") + (
        "O1/arch,O1,arch,4,-16,1,2,true\n"
    )
    folder = tiny_folder(tmp_path, demands_csv=demands)
    assert single_error(folder) == "demands.csv row 6, column hours: must be >= 0 (got '-16')"


def test_row_longer_than_the_header(tmp_path: Path) -> None:
    folder = tiny_folder(
        tmp_path,
        skills_csv="id,name\narch,Architect,architecture\nnet,Network,infrastructure\n",
    )
    assert single_error(folder) == (
        "skills.csv: cannot be read: a row has more values than the header has columns"
    )


def test_ragged_row_names_its_line(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, skills_csv=("net,Network,infrastructure", "net,Network,i,x"))
    assert single_error(folder) == (
        "skills.csv: cannot be read: Error tokenizing data. C error: Expected 3 fields in line 3, "
        "saw 4"
    )


def test_xlsx_errors_name_the_workbook_sheet_and_row(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path)
    book = write_workbook(folder, tmp_path / "book.xlsx", {("demands", 1, "hours"): "-3"})
    assert (
        single_error(book) == "book.xlsx sheet demands row 3, column hours: must be >= 0 (got '-3')"
    )


def test_xlsx_policy_errors_name_the_policy_sheet(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, policy_json='{"load_penalty": -1}')
    book = write_workbook(folder, tmp_path / "book.xlsx")
    assert single_error(book) == (
        "book.xlsx sheet policy, field load_penalty: must be >= 0 (got -1)"
    )


# --------------------------------------------------------------------------------------------
# Stage templates


def test_stage_template_error_is_located_at_its_row(tmp_path: Path) -> None:
    folder = tiny_folder(
        tmp_path, stage_templates_csv=("proposal,arch,2,4,", "proposal,arch,2,-4,")
    )
    assert single_error(folder) == (
        "stage_templates.csv row 4, column hours: must be >= 0 (got '-4')"
    )


def test_stage_template_role_row_after_an_empty_stage_row(tmp_path: Path) -> None:
    text = TINY["stage_templates.csv"] + "won,arch,9,1,1,true\n"
    assert single_error(tiny_folder(tmp_path, stage_templates_csv=text)) == (
        "stage_templates.csv row 6, column min_proficiency: must be <= 5 (got '9')"
    )


def test_stage_template_with_unknown_skill(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, stage_templates_csv=("proposal,net,", "proposal,cloud,"))
    assert single_error(folder) == (
        "stage_templates.csv row 3, column skill: unknown skill (got 'cloud')"
    )


def test_stage_template_row_without_a_stage(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, stage_templates_csv=("won,,,,,", ",arch,3,4,1,true"))
    assert single_error(folder) == "stage_templates.csv row 5, column stage: is required"


def test_stage_template_unknown_column_is_reported_once(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, stage_templates_csv=("weeks,required", "weeks,mandatory"))
    assert single_error(folder) == (
        "stage_templates.csv, column mandatory: unknown column; expected some of stage, skill, "
        "min_proficiency, hours, weeks, required"
    )


def test_opportunity_whose_stage_has_no_template(tmp_path: Path) -> None:
    folder = tiny_folder(
        tmp_path, opportunities_csv=("C,telecom,North,proposal", "C,telecom,North,closing")
    )
    assert single_error(folder) == (
        "opportunities.csv row 4, column stage: no stage template and no demands for this stage "
        "(got 'closing')"
    )


def test_blank_lines_in_stage_templates_are_skipped(tmp_path: Path) -> None:
    text = TINY["stage_templates.csv"].replace("proposal,net", "\n,,,,,\nproposal,net") + (
        "proposal,arch,2,-1,1,false\n"
    )
    error = load_error(tiny_folder(tmp_path, stage_templates_csv=text))
    assert error.lines() == ["stage_templates.csv row 8, column hours: must be >= 0 (got '-1')"]


# --------------------------------------------------------------------------------------------
# Results


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{"status": "done"}',
            [
                "result.json $.status: Input should be 'optimal', 'feasible', 'infeasible', "
                "'invalid' or 'unknown' (got 'done')"
            ],
        ),
        (
            '{"status": "optimal", "assignments": [{"engineer_id": "E1", "demand_id": "D"}]}',
            ["result.json $.assignments[0].opportunity_id: is required"],
        ),
        ("[]", ["result.json $: Input should be a valid dictionary or instance of Allocation"]),
        (
            "{oops",
            [
                "result.json line 1: is not valid JSON: Expecting property name enclosed in "
                "double quotes"
            ],
        ),
    ],
)
def test_load_allocation_rejects_a_bad_result(
    tmp_path: Path, content: str, expected: list[str]
) -> None:
    path = tmp_path / "result.json"
    path.write_text(content)
    with pytest.raises(InvalidInputError) as caught:
        load_allocation(path)
    assert caught.value.lines() == expected


def test_load_allocation_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_allocation(tmp_path / "result.json")
    assert str(caught.value) == f"{tmp_path / 'result.json'}: no such file"


def test_a_written_workbook_reads_back_unchanged(tmp_path: Path) -> None:
    from allocator.core.generate import generate
    from allocator.io.formats import write_portfolio_xlsx

    portfolio = generate(6, 12, seed=5)
    path = write_portfolio_xlsx(portfolio, tmp_path / "book.xlsx")
    assert load_portfolio(path).model_dump() == portfolio.model_dump()
