"""The checker judges what a result records about its portfolio (issue 13 leftovers): the
opportunities it lists as unstaffable must really be unstaffable by construction, and every
one that is must be listed; the value unit, its source and the horizon start must be the
portfolio's. Results written before these fields existed still check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, demand, engineer, make_portfolio, opportunity
from typer.testing import CliRunner

from allocator.cli.main import app
from allocator.core.check import check
from allocator.io.formats import write_allocation, write_portfolio_json
from allocator.model import Allocation, Pin, Portfolio, SolveStatus, Unstaffable
from allocator.solver import solve


def portfolio(**fields: Any) -> Portfolio:
    """O1 staffable; O2 has no demands; O3 needs skill b at level 5, nobody has it above 3;
    O4 needs 30 h of skill a and its only engineer has 20 h free (busy, by construction, but
    not one a result must list)."""
    return make_portfolio(
        [engineer("E1", {"a": 4, "b": 3}, capacity_hours=20)],
        [
            opportunity("O1", external_id="CRM-1"),
            opportunity("O2", external_id="CRM-2"),
            opportunity("O3"),
            opportunity("O4"),
        ],
        [demand("O1", "a", hours=10), demand("O3", "b", level=5), demand("O4", "a", hours=30)],
        horizon_weeks=1,
        horizon_start="2026-W50",
        **fields,
    )


def violations(p: Portfolio, allocation: Allocation, **changes: Any) -> list[str]:
    changed = allocation.model_copy(update=changes) if changes else allocation
    return [str(v) for v in check(p, changed).violations]


def test_a_solved_result_s_unstaffable_list_and_settings_hold() -> None:
    p = portfolio()
    result = solve(p, FAST)
    assert [u.opportunity_id for u in result.unstaffable] == ["O2", "O3"]
    assert result.value_unit == 1000 and result.horizon_start == "2026-W50"
    assert check(p, result).ok


def test_a_listed_opportunity_that_can_be_staffed_is_a_violation() -> None:
    p = portfolio()
    result = solve(p, FAST)
    wrong = [*result.unstaffable, Unstaffable(opportunity_id="O1", external_id="CRM-1", reason="x")]
    assert violations(p, result, unstaffable=wrong) == [
        "Unstaffable misreported: O1 is listed but can be staffed"
    ]
    # O4 cannot be staffed either (nobody has 30 h free): listing it is true, not a violation.
    busy = [*result.unstaffable, Unstaffable(opportunity_id="O4", reason="no free engineer")]
    assert violations(p, result, unstaffable=busy) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda u: u[1:],
            ["Unstaffable misreported: O2 cannot be staffed (no demands) but is not listed"],
        ),
        (
            lambda u: [*u, u[0]],
            ["Unstaffable misreported: O2 is listed 2 times"],
        ),
        (
            lambda u: [u[0].model_copy(update={"external_id": "CRM-9"}), u[1]],
            ["Unstaffable misreported: O2 is listed with CRM id 'CRM-9', not 'CRM-2'"],
        ),
        (
            lambda u: [u[0], u[1].model_copy(update={"reason": " "})],
            ["Unstaffable misreported: O3 is listed without a reason"],
        ),
        (
            lambda u: [*u, Unstaffable(opportunity_id="O9", reason="gone")],
            ["Unstaffable misreported: lists unknown opportunity O9"],
        ),
    ],
    ids=["omitted", "twice", "crm-id", "no-reason", "unknown"],
)
def test_a_misreported_unstaffable_list_is_a_violation(change: Any, expected: list[str]) -> None:
    p = portfolio()
    result = solve(p, FAST)
    assert violations(p, result, unstaffable=change(list(result.unstaffable))) == expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("value_unit", 50.0, "value_unit is 50.0; the portfolio's is 1000.0"),
        (
            "value_unit_source",
            "derived",
            "value_unit_source is 'derived'; the portfolio's is 'set'",
        ),
        ("horizon_start", "2026-W49", "horizon_start is '2026-W49'; the portfolio's is '2026-W50'"),
    ],
)
def test_a_wrong_recorded_setting_is_a_violation(field: str, value: object, expected: str) -> None:
    p = portfolio()
    result = solve(p, FAST)
    assert violations(p, result, **{field: value}) == [f"Recorded setting wrong: {expected}"]


def test_an_infeasible_result_is_judged_on_them_too() -> None:
    p = portfolio(pins=[Pin(engineer_id="E1", opportunity_id="O3")])
    result = solve(p, FAST)
    assert result.status is SolveStatus.INFEASIBLE
    assert check(p, result).ok
    assert violations(p, result, unstaffable=[]) == [
        "Unstaffable misreported: O2 cannot be staffed (no demands) but is not listed",
        "Unstaffable misreported: O3 cannot be staffed (no engineer is proficient enough for "
        "O3/b) but is not listed",
    ]


def test_an_older_result_without_these_fields_still_checks(tmp_path: Path) -> None:
    p = portfolio()
    document = json.loads(solve(p, FAST).model_dump_json())
    for name in ("unstaffable", "value_unit", "value_unit_source", "horizon_start"):
        del document[name]
    older = Allocation.model_validate(document)
    assert check(p, older).ok
    write_portfolio_json(p, tmp_path / "p.json")
    (tmp_path / "old.json").write_text(json.dumps(document))
    done = CliRunner().invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "old.json")])
    assert done.exit_code == 0, done.output
    # The same result claiming another value unit fails, over the command line too.
    write_allocation(
        Allocation.model_validate({**document, "value_unit": 1.0}), tmp_path / "bad.json"
    )
    done = CliRunner().invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "bad.json")])
    assert done.exit_code == 1
    assert "Recorded setting wrong: value_unit is 1.0; the portfolio's is 1000.0" in done.output
