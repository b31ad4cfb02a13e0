"""Shared test helpers: tiny portfolios written in a few lines, and fast solver options."""

from __future__ import annotations

from typing import Any

import pytest

from allocator.model import Portfolio, build_portfolio
from allocator.solver import SolveOptions

FAST = SolveOptions(time_limit=5.0, workers=1, seed=0)
"""Deterministic, single-thread options for small test problems (solve to optimality)."""


def engineer(
    id: str, skills: dict[str, int], region: str = "North", **fields: Any
) -> dict[str, Any]:
    return {"id": id, "region": region, "skills": skills, **fields}


def opportunity(
    id: str, value: float = 100_000, win: float = 0.5, region: str = "North", **fields: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "industry": fields.pop("industry", "power"),
        "region": region,
        "value": value,
        "win_probability": win,
        **fields,
    }


def demand(opp: str, skill: str, hours: float = 8, level: int = 3, **fields: Any) -> dict[str, Any]:
    return {
        "opportunity_id": opp,
        "skill": skill,
        "hours": hours,
        "min_proficiency": level,
        **fields,
    }


def make_portfolio(
    engineers: list[dict[str, Any]],
    opportunities: list[dict[str, Any]],
    demands: list[dict[str, Any]],
    **fields: Any,
) -> Portfolio:
    """A portfolio from plain dicts; every other field at its default unless given."""
    return build_portfolio(
        {"engineers": engineers, "opportunities": opportunities, "demands": demands, **fields}
    )


@pytest.fixture
def fast() -> SolveOptions:
    return FAST
