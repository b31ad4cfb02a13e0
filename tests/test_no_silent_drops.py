"""No silent drops (issue 13): what used to vanish quietly is an error naming the place, or a
listed reason. The opportunity no run can staff is in tests/test_value_unit_calendar.py."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from test_formats import single_error, tiny_folder

from allocator.core.generate import generate
from allocator.explain.explanations import Run, fairness
from allocator.io.formats import write_portfolio_xlsx
from allocator.model import build_portfolio
from allocator.solver import SolveOptions, solve


def test_a_folder_without_demands_or_templates_is_an_error(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path, demands_csv=None, stage_templates_csv=None, pins_csv=None)
    assert single_error(folder) == (
        "opportunities.csv: has opportunities, but there is neither demands.csv nor "
        "stage_templates.csv: no opportunity would ask for anyone"
    )


def test_a_workbook_sheet_the_reader_does_not_know_is_an_error(tmp_path: Path) -> None:
    path = write_portfolio_xlsx(generate(3, 4, seed=1), tmp_path / "p.xlsx")
    book = openpyxl.load_workbook(path)
    book.create_sheet("Notes").append(["anything"])
    book.save(path)
    assert single_error(path) == (
        "p.xlsx sheet Notes: unknown sheet; expected some of skills, engineers, opportunities, "
        "demands, pins, forbids, previous, stage_templates, policy, portfolio"
    )


def test_a_policy_sheet_laid_out_as_one_header_row_is_an_error(tmp_path: Path) -> None:
    path = write_portfolio_xlsx(generate(3, 4, seed=1), tmp_path / "p.xlsx")
    book = openpyxl.load_workbook(path)
    del book["policy"]
    sheet = book.create_sheet("policy")
    sheet.append(["value_unit", "load_penalty"])
    sheet.append([10, 2])
    book.save(path)
    assert single_error(path) == (
        "p.xlsx sheet policy: must have the two columns key and value, one row per setting "
        "(like key value_unit, value 1000) (got 'load_penalty, value_unit')"
    )


def test_a_semicolon_file_gets_a_word_about_the_delimiter(tmp_path: Path) -> None:
    text = "id;customer;tier;industry;region;value;win_probability\nO1;C;A;power;N;10;0.5\n"
    folder = tiny_folder(tmp_path, opportunities_csv=text)
    assert single_error(folder) == (
        "opportunities.csv, column id;customer;tier;industry;region;value;win_probability: the "
        "header reads as one column: the file looks separated by ';'; write it with commas"
    )


def test_unknown_industry_and_seniority_are_their_own_group_not_a_quartile() -> None:
    data = generate(6, 12, seed=2).model_dump()
    for index, opportunity in enumerate(data["opportunities"]):
        if index % 3 == 0:
            opportunity["industry"] = ""
            opportunity["requester_seniority_years"] = None
    portfolio = build_portfolio(data)
    result = solve(portfolio, SolveOptions(time_limit=2, workers=1))
    answer = fairness(Run.of(portfolio, result))
    seniority = {row.group for row in answer.by_seniority_quartile}
    assert "seniority not given" in seniority
    assert "not given" in {row.group for row in answer.by_industry}
    assert "" not in {row.group for row in answer.by_industry}
