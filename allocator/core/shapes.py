"""Portfolio shapes: synthetic pipelines shaped like the ones real teams have, not only the sample.

`generate_shape(shape, engineers, opportunities, seed)` builds a `Portfolio` of one of `SHAPES`:

- `standard`: the standard generator (`generate.py`), unchanged: stage templates, lognormal
  deal values in the hundreds of thousands, about a fifth of the team qualified for each
  generic role, two-week horizon.
- `crm`: a CRM pipeline worked by a small team (issue 9, point 2): many small, short deals
  (values 55 to 26,768, win probability 0.3-0.65, one role of 1-6 h/week over 1-3 weeks, a
  solution architect on about one deal in ten), engineers in three regions with 32-40 h/week
  and four skills (three product lines and solution_architect), a three-week horizon,
  `max_opportunities_per_engineer` 12 and `value_unit` 10. At 36 x 2,089 it has about 2,300
  demands, like the CRM export the issue describes.
- `specialists`: many narrow skills, most held by one to three engineers (a broad consultant
  role held by about a quarter of the team is the exception); most deals need one or two
  specialists, so few engineers compete for each demand.
- `generic`: one generic role (presales_consultant) on every deal, held by everyone; a
  technical role on a quarter of the deals.
- `regional`: the standard pipeline where engineers and deals sit in their own regions
  unevenly (the region with most deals has fewest engineers) and travel is expensive
  (`travel_penalty` 40 points per cross-region assignment).

Deterministic for a seed: the same arguments give the same portfolio on any machine.
`horizon_weeks` overrides a shape's own horizon (roles are clipped to it). Pure: builds a
`Portfolio`; writing files is `formats`' job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from allocator.core.generate import INDUSTRIES, REGIONS, generate
from allocator.model import Policy, Portfolio

SHAPES = ("standard", "crm", "specialists", "generic", "regional")
DEFAULT_HORIZON = {"standard": 2, "crm": 3, "specialists": 2, "generic": 2, "regional": 2}
CRM_VALUES = (55.0, 26_768.0)
"""Smallest and largest deal value of the `crm` shape (the CRM export of issue 9)."""
REQUESTED = datetime(2026, 11, 27, 18, 0)

Data = dict[str, Any]
Builder = Callable[[np.random.Generator, int, int, int], Data]


def generate_shape(
    shape: str,
    engineers: int,
    opportunities: int,
    seed: int = 0,
    horizon_weeks: int | None = None,
) -> Portfolio:
    """A portfolio of the named shape (see the module doc) with the given counts.

    >>> generate_shape("crm", 6, 40, seed=2).policy.max_opportunities_per_engineer
    12
    >>> generate_shape("standard", 5, 10, seed=1) == generate(5, 10, seed=1)
    True
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")
    if engineers < 1 or opportunities < 1:
        raise ValueError("a shape needs at least one engineer and one opportunity")
    horizon = DEFAULT_HORIZON[shape] if horizon_weeks is None else horizon_weeks
    if shape == "standard":
        return generate(engineers, opportunities, seed, horizon_weeks=horizon)
    builders: dict[str, Builder] = {
        "crm": _crm,
        "specialists": _specialists,
        "generic": _generic,
        "regional": _regional,
    }
    rng = np.random.default_rng(seed)
    data = builders[shape](rng, engineers, opportunities, horizon)
    data["name"] = f"{shape}-{engineers}x{opportunities}-seed{seed}"
    data["horizon_weeks"] = horizon
    return Portfolio.model_validate(data)


# ---------------------------------------------------------------------------------------------
# Records


def _engineer(
    rng: np.random.Generator,
    i: int,
    skills: dict[str, int],
    region: str,
    capacity: float,
    horizon: int,
) -> Data:
    years = float(np.round(rng.lognormal(np.log(7), 0.6), 1))
    time_off: dict[int, float] = {}
    if rng.random() < 0.12:
        time_off[int(rng.integers(1, horizon + 1))] = float(8 * int(rng.integers(1, 4)))
    industries = rng.choice(INDUSTRIES, size=int(rng.integers(1, 3)), replace=False)
    return {
        "id": f"ENG-{i + 1:04d}",
        "name": f"Engineer {i + 1}",
        "region": region,
        "skills": skills,
        "industries": [str(x) for x in industries],
        "capacity_hours": capacity,
        "committed_hours": float(rng.choice([0, 2, 4, 8], p=[0.4, 0.3, 0.2, 0.1])),
        "time_off": time_off,
        "seniority_years": years,
    }


def _opportunity(
    rng: np.random.Generator, j: int, value: float, win: float, region: str, sellers: int
) -> Data:
    seller = int(rng.integers(sellers))
    return {
        "id": f"OPP-{j + 1:05d}",
        "customer": f"Customer {j % 389 + 1}",
        "tier": str(rng.choice(["A", "B", "C"], p=[0.15, 0.35, 0.5])),
        "industry": str(rng.choice(INDUSTRIES)),
        "region": region,
        "stage": "discovery",
        "value": value,
        "win_probability": win,
        "requester": f"Seller {seller + 1}",
        "requester_seniority_years": float(1 + seller % 15),
        "requested_at": (REQUESTED - timedelta(minutes=int(rng.integers(0, 7 * 24 * 60)))),
    }


def _deal(
    rng: np.random.Generator, j: int, median: float, sigma: float, top_win: float, n_o: int
) -> Data:
    """An opportunity in any region: lognormal value rounded to thousands, win 0.1..top_win."""
    value = float(np.round(rng.lognormal(np.log(median), sigma), -3))
    win = float(np.round(rng.uniform(0.1, top_win), 2))
    return _opportunity(rng, j, max(value, 1000.0), win, str(rng.choice(REGIONS)), n_o // 8 + 3)


def _demand(
    opp: str, skill: str, level: int, hours: float, start: int, end: int, required: bool
) -> Data:
    return {
        "opportunity_id": opp,
        "skill": skill,
        "min_proficiency": level,
        "hours": hours,
        "start_week": start,
        "end_week": end,
        "required": required,
    }


def _weeks(rng: np.random.Generator, longest: int, horizon: int) -> tuple[int, int]:
    """A run of 1..`longest` consecutive weeks inside the horizon, uniformly placed."""
    weeks = int(rng.integers(1, min(longest, horizon) + 1))
    start = int(rng.integers(1, horizon - weeks + 2))
    return start, start + weeks - 1


def _skills(ids: list[str]) -> list[dict[str, str]]:
    return [{"id": s, "name": s.replace("_", " ").title()} for s in ids]


# ---------------------------------------------------------------------------------------------
# Shapes


def _crm(rng: np.random.Generator, n_e: int, n_o: int, horizon: int) -> Data:
    lines = ["product_line_a", "product_line_b", "product_line_c"]
    regions = list(REGIONS[:3])
    staff = []
    for i in range(n_e):
        primary = str(rng.choice(lines))
        skills = {primary: int(rng.choice([3, 4, 5], p=[0.4, 0.4, 0.2]))}
        for other in lines:
            if other != primary and rng.random() < 0.45:
                skills[other] = int(rng.choice([2, 3, 4], p=[0.4, 0.4, 0.2]))
        if rng.random() < 0.35:
            skills["solution_architect"] = int(rng.choice([3, 4, 5]))
        capacity = float(rng.choice([32, 36, 40]))
        staff.append(_engineer(rng, i, skills, regions[i % 3], capacity, horizon))
    low, high = CRM_VALUES
    opps, demands = [], []
    for j in range(n_o):
        value = float(np.clip(np.round(rng.lognormal(np.log(2500), 1.1)), low, high))
        win = float(np.round(rng.uniform(0.3, 0.65), 2))
        opp = _opportunity(rng, j, value, win, str(rng.choice(regions)), max(3, n_o // 50))
        opps.append(opp)
        start, end = _weeks(rng, 3, horizon)
        level = int(rng.choice([2, 3, 4], p=[0.4, 0.45, 0.15]))
        hours = float(rng.integers(1, 7))
        demands.append(_demand(opp["id"], str(rng.choice(lines)), level, hours, start, end, True))
        if rng.random() < 0.1:
            hours = float(rng.integers(1, 5))
            demands.append(_demand(opp["id"], "solution_architect", 3, hours, start, start, True))
    return {
        "skills": _skills([*lines, "solution_architect"]),
        "engineers": staff,
        "opportunities": opps,
        "demands": demands,
        "policy": Policy(value_unit=10, max_opportunities_per_engineer=12),
    }


def _specialists(rng: np.random.Generator, n_e: int, n_o: int, horizon: int) -> Data:
    # Each specialty is held by 1-3 engineers (mean 2); an engineer holds about 1.5 of them.
    n_skills = max(2, round(0.75 * n_e))
    skills = [f"specialty_{k + 1:03d}" for k in range(n_skills)]
    order = rng.permutation(n_e)
    levels: list[dict[str, int]] = [{} for _ in range(n_e)]
    cursor = 0
    for skill in skills:
        for _ in range(min(n_e, int(rng.choice([1, 2, 3], p=[0.3, 0.4, 0.3])))):
            levels[int(order[cursor % n_e])][skill] = int(rng.choice([3, 4, 5]))
            cursor += 1
    for mine in levels:
        if not mine or rng.random() < 0.25:
            mine["presales_consultant"] = int(rng.choice([2, 3, 4]))
    staff = [
        _engineer(rng, i, mine, str(rng.choice(REGIONS)), 40.0, horizon)
        for i, mine in enumerate(levels)
    ]
    opps, demands = [], []
    for j in range(n_o):
        opp = _deal(rng, j, 200_000, 1.0, 0.8, n_o)
        opps.append(opp)
        count = min(n_skills, int(rng.choice([1, 2], p=[0.6, 0.4])))
        for k, skill in enumerate(rng.choice(skills, count, replace=False)):
            start, end = _weeks(rng, 2, horizon)
            level = int(rng.choice([2, 3, 4]))
            hours = float(rng.choice([4, 8, 12, 16]))
            required = k == 0 or bool(rng.random() < 0.5)
            demands.append(_demand(opp["id"], str(skill), level, hours, start, end, required))
        if rng.random() < 0.3:
            demands.append(_demand(opp["id"], "presales_consultant", 2, 4.0, 1, 1, False))
    return {
        "skills": _skills([*skills, "presales_consultant"]),
        "engineers": staff,
        "opportunities": opps,
        "demands": demands,
        "policy": Policy(),
    }


def _generic(rng: np.random.Generator, n_e: int, n_o: int, horizon: int) -> Data:
    extras = ["network", "security", "cloud", "data_analytics"]
    staff = []
    for i in range(n_e):
        mine = {"presales_consultant": int(rng.choice([2, 3, 4, 5], p=[0.2, 0.4, 0.3, 0.1]))}
        if rng.random() < 0.3:
            mine[str(rng.choice(extras))] = int(rng.choice([3, 4]))
        capacity = float(rng.choice([40, 40, 32, 20]))
        staff.append(_engineer(rng, i, mine, str(rng.choice(REGIONS)), capacity, horizon))
    opps, demands = [], []
    for j in range(n_o):
        opp = _deal(rng, j, 150_000, 0.9, 0.7, n_o)
        opps.append(opp)
        start, end = _weeks(rng, 2, horizon)
        level = int(rng.choice([2, 3, 4]))
        hours = float(rng.choice([4, 8, 12]))
        demands.append(_demand(opp["id"], "presales_consultant", level, hours, start, end, True))
        if rng.random() < 0.25:
            required = bool(rng.random() < 0.5)
            demands.append(_demand(opp["id"], str(rng.choice(extras)), 3, 8.0, 1, 1, required))
    return {
        "skills": _skills(["presales_consultant", *extras]),
        "engineers": staff,
        "opportunities": opps,
        "demands": demands,
        "policy": Policy(),
    }


def _regional(rng: np.random.Generator, n_e: int, n_o: int, horizon: int) -> Data:
    base = generate(n_e, n_o, int(rng.integers(1 << 30)), horizon_weeks=horizon)
    data = base.model_dump(mode="json")
    demand_share = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
    staff_share = np.array([0.1, 0.15, 0.2, 0.25, 0.3])
    for engineer in data["engineers"]:
        engineer["region"] = str(rng.choice(REGIONS, p=staff_share))
    for opp in data["opportunities"]:
        opp["region"] = str(rng.choice(REGIONS, p=demand_share))
    data["policy"] = Policy(travel_penalty=40).model_dump(mode="json")
    return dict(data)
