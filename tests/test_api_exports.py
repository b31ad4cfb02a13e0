"""GET /v1/runs/{id}/export.xlsx and .csv: the plan of a finished run, through the real app on
a real SQLite file; 409 before the run has a result, 404 for an unknown run."""

from __future__ import annotations

import csv
import io

import openpyxl
from servicekit import portfolio_document
from test_api import Api, api  # noqa: F401  (the fixture)


def test_a_finished_run_exports_its_plan(api: Api) -> None:  # noqa: F811
    document = portfolio_document()
    run = api.post("/v1/runs", json={"portfolio": document, "time_limit": 1}).json()
    early = api.get(f"/v1/runs/{run['id']}/export.csv")
    assert early.status_code == 409
    api.solve_next()
    book = api.get(f"/v1/runs/{run['id']}/export.xlsx")
    assert book.status_code == 200, book.text
    assert book.headers["content-disposition"] == (
        f'attachment; filename="run-{run["id"]}-plan.xlsx"'
    )
    sheets = openpyxl.load_workbook(io.BytesIO(book.content)).sheetnames
    assert sheets == ["By engineer", "By opportunity", "Unstaffed", "Objective"]
    table = api.get(f"/v1/runs/{run['id']}/export.csv")
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert {r["crm_id"] for r in rows} == {o["id"] for o in document["opportunities"]}
    result = api.get(f"/v1/runs/{run['id']}/result").json()["allocation"]
    assert {r["crm_id"] for r in rows if r["staffed"] == "yes"} == set(
        result["staffed_opportunities"]
    )
    assert api.get("/v1/runs/999/export.xlsx").status_code == 404


def test_a_run_records_its_value_unit_and_an_override_wins(api: Api) -> None:  # noqa: F811
    document = portfolio_document()
    document["policy"] = {k: v for k, v in document.get("policy", {}).items() if k != "value_unit"}
    derived = api.post("/v1/runs", json={"portfolio": document, "time_limit": 1}).json()
    chosen = api.post(
        "/v1/runs", json={"portfolio": document, "policy": {"value_unit": 7}, "time_limit": 1}
    ).json()
    api.solve_next()
    api.solve_next()
    first = api.get(f"/v1/runs/{derived['id']}/result").json()["allocation"]
    second = api.get(f"/v1/runs/{chosen['id']}/result").json()["allocation"]
    assert first["value_unit_source"] == "derived"
    assert (second["value_unit"], second["value_unit_source"]) == (7, "set")


def test_the_export_says_why_a_staffable_opportunity_got_nobody(api: Api) -> None:  # noqa: F811
    """The binding reason comes from the explanations layer, as over the command line."""
    from test_export_reasons import BUSY, one_engineer_two_deals

    document = one_engineer_two_deals().model_dump(mode="json")
    run = api.post("/v1/runs", json={"portfolio": document, "time_limit": 1}).json()
    api.solve_next()
    table = api.get(f"/v1/runs/{run['id']}/export.csv")
    assert table.status_code == 200, table.text
    reasons = {r["opportunity_id"]: r["reason"] for r in csv.DictReader(io.StringIO(table.text))}
    assert reasons["O2"] == BUSY and reasons["O1"] == ""
    assert reasons["O3"].startswith("no engineer has zz at level 3")
    book = api.get(f"/v1/runs/{run['id']}/export.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(book.content))["Unstaffed"]
    assert {row[1]: row[5] for row in sheet.iter_rows(min_row=2, values_only=True)}["O2"] == BUSY
