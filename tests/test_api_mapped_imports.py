"""POST /v1/actuals and /v1/outcomes with a mapping (issue 15 leftover): an export of any layout
uploaded with its TOML mapping as a second part, read as `allocator import --mapping` reads it;
a mapping of the other kind, bad TOML or a bad row is a 422 naming it, and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_api import Api
from test_api_insight import api  # noqa: F401  (the fixture)

pytestmark = pytest.mark.service

IMPORTS = Path(__file__).resolve().parents[1] / "data" / "imports"


def upload(name: str, mapping: str, mapping_text: bytes | None = None) -> dict[str, object]:
    text = mapping_text if mapping_text is not None else (IMPORTS / mapping).read_bytes()
    return {
        "file": (name, (IMPORTS / name).read_bytes(), "text/csv"),
        "mapping": (mapping, text, "application/toml"),
    }


def test_an_export_with_its_mapping_is_imported(api: Api) -> None:  # noqa: F811
    done = api.post("/v1/actuals", files=upload("timesheet.csv", "timesheet.toml"))
    assert done.status_code == 201, done.text
    assert (done.json()["source"], done.json()["rows"]) == ("timesheet.csv", 9)
    listed = api.get("/v1/actuals", params={"engineer_id": "E1040"}).json()
    assert {(a["week"], a["opportunity_id"], a["hours"]) for a in listed} >= {
        ("2026-W50", "006Qy000001005AB", 11.5)
    }
    deals = upload("salesforce-closed-deals.csv", "salesforce-outcomes.toml")
    done = api.post("/v1/outcomes", files=deals)
    assert done.status_code == 201, done.text
    assert done.json()["rows"] == 6


def test_a_wrong_mapping_or_row_is_named_and_nothing_is_stored(api: Api) -> None:  # noqa: F811
    def problems(answer: object) -> list[str]:
        assert answer.status_code == 422, answer.text  # type: ignore[attr-defined]
        return [p["text"] for p in answer.json()["problems"]]  # type: ignore[attr-defined]

    wrong_kind = api.post("/v1/outcomes", files=upload("timesheet.csv", "timesheet.toml"))
    assert problems(wrong_kind) == ["timesheet.toml, field kind: is not 'outcomes' (got 'actuals')"]
    broken = api.post("/v1/actuals", files=upload("timesheet.csv", "timesheet.toml", b"kind = "))
    assert problems(broken)[0].startswith("timesheet.toml: is not valid TOML")
    bad = (IMPORTS / "timesheet.csv").read_bytes().replace(b",6\n", b",lots\n", 1)
    files = upload("timesheet.csv", "timesheet.toml")
    files["file"] = ("timesheet.csv", bad, "text/csv")
    assert problems(api.post("/v1/actuals", files=files)) == [
        "timesheet.csv row 2, column Hours: must be a number (got 'lots')"
    ]
    assert api.get("/v1/actuals").json() == []
