"""Numbers too large, infinite or NaN are refused with a clear message, never a crash."""

from __future__ import annotations

import math

import pytest
from conftest import FAST, demand, engineer, make_portfolio, opportunity

from allocator.errors import InvalidInputError
from allocator.solver import solve


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1e30, "$.opportunities[0].value: must be <= 1000000000000 (got 1e+30)"),
        (math.inf, "$.opportunities[0].value: Input should be a finite number (got inf)"),
        (math.nan, "$.opportunities[0].value: Input should be a finite number (got nan)"),
    ],
)
def test_deal_values_out_of_range(value: float, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        make_portfolio([engineer("E1", {"a": 3})], [opportunity("O1", value=value)], [])
    assert str(raised.value) == message


def test_an_objective_too_large_to_count_exactly() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3})],
        [opportunity("O1", value=1e12, win=1.0)],
        [demand("O1", "a")],
        policy={"value_unit": 0.01, "value_weight": 1_000_000},
    )
    with pytest.raises(InvalidInputError) as raised:
        solve(p, FAST)
    assert str(raised.value).startswith(
        "policy, field value_unit: deal values x value_weight / value_unit make the objective "
        "too large to count exactly"
    )


def test_the_largest_accepted_deal_value_solves() -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 3})], [opportunity("O1", value=1e12, win=1.0)], [demand("O1", "a")]
    )
    allocation = solve(p, FAST)
    assert allocation.status.value == "optimal"
    assert allocation.terms["expected_value"] == 1e12 * 1.0 / 1000
