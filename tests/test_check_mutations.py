"""The checker rejects every broken result made from a good one, and accepts the good one.

One solved portfolio with every rule in play (pins, forbids, optional roles, committed hours,
time off, previous assignments); each mutation breaks one thing: a hard rule, a term or the
objective by one hundredth, the status against the bound or the gap, the staffed list, an
assignment's own fields, or adds a key. Each must be rejected, naming the broken rule.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from conftest import FAST, demand, engineer, make_portfolio, opportunity
from pydantic import ValidationError

from allocator.core.check import check
from allocator.model import Allocation, Portfolio, SolveStatus
from allocator.solver import solve

Result = dict[str, Any]


@cache
def base() -> tuple[Portfolio, Result]:
    p = make_portfolio(
        [
            engineer("E1", {"arch": 5, "net": 4, "data": 4}, industries=["power"]),
            engineer("E2", {"arch": 4}, region="South", committed_hours=8),
            engineer("E3", {"net": 4}, time_off={2: 16}),
            engineer("E4", {"net": 3, "data": 3}, region="South"),
            engineer("E5", {"data": 2}),
            engineer("E6", {"arch": 3}, committed_hours=36),
        ],
        [
            opportunity("O1", value=900_000, tier="A"),
            opportunity("O2", value=400_000, region="South"),
            opportunity("O3", value=300_000),
            opportunity("O4", value=200_000, win=0.3),
            opportunity("O5", value=500_000),
        ],
        [
            demand("O1", "arch", hours=16),
            demand("O1", "net", hours=8),
            demand("O1", "data", hours=4, required=False),
            demand("O2", "arch", hours=8),
            demand("O2", "net", hours=8),
            demand("O3", "data", hours=8),
            demand("O4", "arch", hours=6, end_week=1),
            demand("O5", "rare", hours=8, level=5),
            demand("O5", "data", hours=4, required=False),
        ],
        horizon_weeks=2,
        skills=[{"id": s} for s in ("arch", "net", "data", "rare")],
        pins=[{"engineer_id": "E3", "opportunity_id": "O1"}],
        forbids=[{"engineer_id": "E4", "opportunity_id": "O3"}],
        previous=[
            {"engineer_id": "E2", "opportunity_id": "O2"},
            {"engineer_id": "E5", "opportunity_id": "O4"},
        ],
        policy={"max_opportunities_per_engineer": 2, "utilization_target": 0.8},
    )
    allocation = solve(p, FAST)
    assert allocation.status is SolveStatus.OPTIMAL
    return p, allocation.model_dump(mode="json")


def assignment(p: Portfolio, engineer_id: str, demand_id: str) -> dict[str, Any]:
    d = p.demand_by_id()[demand_id]
    weeks = d.weeks(p.horizon_weeks)
    return {
        "engineer_id": engineer_id,
        "opportunity_id": d.opportunity_id,
        "demand_id": demand_id,
        "skill": d.skill,
        "hours": d.hours,
        "start_week": weeks[0],
        "end_week": weeks[-1],
    }


def serving(r: Result, demand_id: str) -> dict[str, Any]:
    return next(a for a in r["assignments"] if a["demand_id"] == demand_id)


def shift(r: Result, key: str, by: float) -> None:
    r[key] = round(r[key] + by, 2)


def double_served(p: Portfolio, r: Result) -> None:
    r["assignments"].append(assignment(p, "E4", "O2/net"))


def below_level(p: Portfolio, r: Result) -> None:
    serving(r, "O3/data")["engineer_id"] = "E5"


def over_capacity(p: Portfolio, r: Result) -> None:
    serving(r, "O2/arch")["engineer_id"] = "E6"  # 4 h free, 8 h asked.


def two_roles(p: Portfolio, r: Result) -> None:
    serving(r, "O2/net")["engineer_id"] = serving(r, "O2/arch")["engineer_id"]


def too_many(p: Portfolio, r: Result) -> None:
    for demand_id in ("O1/arch", "O2/net", "O3/data"):
        serving(r, demand_id)["engineer_id"] = "E1"


def pin_dropped(p: Portfolio, r: Result) -> None:
    serving(r, "O1/net")["engineer_id"] = "E4"


def forbidden(p: Portfolio, r: Result) -> None:
    serving(r, "O3/data")["engineer_id"] = "E4"


def half_team(p: Portfolio, r: Result) -> None:
    r["assignments"].remove(serving(r, "O2/net"))


def optional_alone(p: Portfolio, r: Result) -> None:
    r["assignments"].append(assignment(p, "E4", "O5/data"))


def term_off(name: str, by: float) -> Callable[[Portfolio, Result], None]:
    def mutate(p: Portfolio, r: Result) -> None:
        r["terms"][name] = round(r["terms"][name] + by, 2)

    return mutate


def term_and_objective_off(p: Portfolio, r: Result) -> None:
    """Still a consistent sum, but not what the assignments give."""
    r["terms"]["skill_fit"] = round(r["terms"]["skill_fit"] + 0.01, 2)
    shift(r, "objective", 0.01)
    shift(r, "best_bound", 0.01)


MUTATIONS: dict[str, tuple[str, Callable[[Portfolio, Result], None]]] = {
    "demand served twice": ("single_engineer", double_served),
    "proficiency below minimum": ("proficiency", below_level),
    "engineer over capacity": ("capacity", over_capacity),
    "two roles on one opportunity": ("one_role_per_opportunity", two_roles),
    "too many opportunities": ("opportunity_limit", too_many),
    "pin not honoured": ("pin", pin_dropped),
    "forbidden assignment": ("forbid", forbidden),
    "half-staffed team": ("team_completeness", half_team),
    "optional role without team": ("optional_needs_team", optional_alone),
    **{
        f"{name} {by:+.2f}": ("objective", term_off(name, by))
        for name in ("expected_value", "skill_fit", "region_match", "continuity", "load_balance")
        for by in (0.01, -0.01)
    },
    "term not in hundredths": (
        "objective",
        lambda p, r: r["terms"].update(skill_fit=r["terms"]["skill_fit"] + 0.001),
    ),
    "terms and objective off together": ("objective", term_and_objective_off),
    "objective +0.01": ("objective", lambda p, r: shift(r, "objective", 0.01)),
    "objective and bound -0.01": (
        "objective",
        lambda p, r: (shift(r, "objective", -0.01), shift(r, "best_bound", -0.01)),
    ),
    "unknown term key": ("objective", lambda p, r: r["terms"].update(bonus=0.0)),
    "missing term key": ("objective", lambda p, r: r["terms"].pop("continuity")),
    "optimal, bound below objective": ("objective", lambda p, r: shift(r, "best_bound", -0.01)),
    "optimal, bound above objective": ("objective", lambda p, r: shift(r, "best_bound", 0.01)),
    "optimal without a bound": ("objective", lambda p, r: r.update(best_bound=None, gap=None)),
    "feasible, bound below objective": (
        "objective",
        lambda p, r: (r.update(status="feasible"), shift(r, "best_bound", -1)),
    ),
    "gap wrong": ("objective", lambda p, r: r.update(gap=0.001)),
    "gap without bound": ("objective", lambda p, r: r.update(status="feasible", best_bound=None)),
    "staffed list has an extra": ("unknown", lambda p, r: r["staffed_opportunities"].append("O5")),
    "staffed list misses one": ("unknown", lambda p, r: r["staffed_opportunities"].pop()),
    "staffed list repeats one": (
        "unknown",
        lambda p, r: r["staffed_opportunities"].append(r["staffed_opportunities"][0]),
    ),
    "assignment states other hours": ("unknown", lambda p, r: r["assignments"][0].update(hours=9)),
    "assignment states other weeks": (
        "unknown",
        lambda p, r: r["assignments"][0].update(end_week=1, start_week=1),
    ),
    "unknown engineer": ("unknown", lambda p, r: r["assignments"][0].update(engineer_id="E99")),
    "feasible result names conflicts": (
        "unknown",
        lambda p, r: r.update(conflicts=["pin E3 -> O1"]),
    ),
    "infeasible with assignments": ("unknown", lambda p, r: r.update(status="infeasible")),
    "unknown with an objective": (
        "unknown",
        lambda p, r: r.update(status="unknown", assignments=[], staffed_opportunities=[]),
    ),
}


def test_the_original_holds() -> None:
    p, result = base()
    report = check(p, Allocation.model_validate(result))
    assert report.ok, report.violations
    # The mutations below touch what they mean to: the shape they rely on is there.
    staffed = set(result["staffed_opportunities"])
    assert {"O1", "O2", "O3"} <= staffed and "O5" not in staffed
    assert serving(result, "O1/net")["engineer_id"] == "E3"


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_the_checker_rejects(name: str) -> None:
    p, result = base()
    rule, mutate = MUTATIONS[name]
    broken = copy.deepcopy(result)
    mutate(p, broken)
    assert broken != result
    report = check(p, Allocation.model_validate(broken))
    assert not report.ok, name
    assert rule in {v.rule for v in report.violations}, report.violations


@pytest.mark.parametrize(
    "where",
    [(), ("assignments", 0), ("timings",), ("solver",)],
    ids=["result", "assignment", "timings", "solver"],
)
def test_an_unknown_key_is_refused(where: tuple[str | int, ...]) -> None:
    _, result = base()
    broken = copy.deepcopy(result)
    target: Any = broken
    for step in where:
        target = target[step]
    target["surprise"] = 1
    with pytest.raises(ValidationError, match="surprise"):
        Allocation.model_validate(broken)
