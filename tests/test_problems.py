"""One translation of validation errors into problems (record, field, message, value), used
by the core, the formats, what-if, the service, the CLI and the API alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

from allocator.errors import InputIssue, json_place, problems
from allocator.model import build_portfolio

PACKAGE = Path(__file__).resolve().parent.parent / "allocator"


class Demand(BaseModel):
    hours: float = Field(ge=0)
    skill: str = Field(min_length=1)


def test_a_validation_error_becomes_located_problems() -> None:
    with pytest.raises(ValidationError) as caught:
        Demand.model_validate({"hours": -3, "skill": ""})
    found = problems(caught.value)
    assert [str(p) for p in found] == [
        "$.hours: must be >= 0 (got -3)",
        "$.skill: must not be empty (got '')",
    ]
    assert found[0] == InputIssue("$", "hours", "must be >= 0", -3, ("hours",))


def test_request_errors_read_the_same_as_the_core_s() -> None:
    """FastAPI's request errors are the same dictionaries: the same words come out."""
    with pytest.raises(ValidationError) as caught:
        Demand.model_validate({"hours": -3, "skill": "x"})
    as_request = [{**item, "loc": ("body", *item["loc"])} for item in caught.value.errors()]
    body = problems(as_request, lambda loc: json_place(loc[1:]))
    assert [str(p) for p in body] == [str(p) for p in problems(caught.value)]


def test_the_core_reports_through_it() -> None:
    with pytest.raises(Exception) as caught:
        build_portfolio({"engineers": [{"id": "E1", "region": "N", "capacity_hours": -1}]})
    assert "$.engineers[0].capacity_hours: must be >= 0 (got -1)" in str(caught.value)


def test_no_module_translates_validation_errors_on_its_own() -> None:
    """Reading pydantic's error list (`.errors(`, `["msg"]`) happens in `errors.py` only."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "errors(include_url" in line or '["msg"]' in line or 'item["msg"]' in line:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert not found, "translate with allocator.errors.problems:\n" + "\n".join(found)
