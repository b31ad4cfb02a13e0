"""Property tests on random small portfolios: every result the solver or a baseline returns
keeps every hard rule and reports the objective the checker recomputes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from allocator.core.check import check
from allocator.model import Portfolio, SolveStatus, build_portfolio
from allocator.solve.baselines import BASELINES, run_baseline
from allocator.solver import SolveOptions, solve

OPTIONS = SolveOptions(time_limit=5, workers=1)
SKILLS = ("a", "b", "c")
REGIONS = ("North", "South")
INDUSTRIES = ("power", "finance")
HOURS = (2, 4, 7.5, 8, 12.25, 16, 24)

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


HORIZONS = (1, 2, 3)
HORIZON = st.sampled_from(HORIZONS)
# The strategies are built once, here: built inside `portfolios` they cost more than the solves.
WEEKS = {h: st.integers(1, h) for h in HORIZONS}
END_WEEKS = {
    (start, h): st.one_of(st.none(), st.integers(start, h))
    for h in HORIZONS
    for start in range(1, h + 1)
}
SKILL_LEVELS = st.dictionaries(
    st.sampled_from(SKILLS), st.sampled_from((1, 2, 3, 4, 5, 5)), min_size=1, max_size=3
)
TIME_OFF = {
    h: st.dictionaries(WEEKS[h], st.sampled_from((4, 8, 16, 40)), max_size=2) for h in HORIZONS
}
ENGINEER_INDUSTRIES = st.lists(st.sampled_from(INDUSTRIES), max_size=2, unique=True)
REGION = st.sampled_from(REGIONS)
INDUSTRY = st.sampled_from(INDUSTRIES)
SKILL = st.sampled_from(SKILLS)
CAPACITY = st.sampled_from((10, 20, 32, 40))
COMMITTED = st.sampled_from((0, 0, 4, 8.5, 16))
SENIORITY = st.sampled_from((0, 3, 12))
TIER = st.sampled_from("ABC")
VALUE = st.sampled_from((0, 10_000, 55_555, 123_456, 400_000))
WIN_PROBABILITY = st.sampled_from((0.0, 0.1, 0.37, 0.5, 0.93))
REQUESTER_SENIORITY = st.sampled_from((1, 5, 20))
PROFICIENCY = st.integers(1, 4)
DEMAND_HOURS = st.sampled_from(HOURS)
ENGINEER_COUNT = st.integers(2, 6)
OPPORTUNITY_COUNT = st.integers(1, 6)
DEMAND_COUNT = st.integers(1, 3)
PIN_COUNT = st.sampled_from((0, 0, 1, 2))
FORBID_COUNT = st.integers(0, 2)
PREVIOUS_COUNT = st.integers(0, 3)
QUALIFIED_BIAS = st.integers(0, 3)
COIN = st.booleans()
POLICY = st.fixed_dictionaries(
    {
        "max_opportunities_per_engineer": st.integers(1, 4),
        "utilization_target": st.sampled_from((0.5, 0.85, 1.0)),
        "load_penalty": st.sampled_from((0, 1, 3)),
        "continuity_penalty": st.sampled_from((0, 20)),
        "travel_penalty": st.sampled_from((0, 5)),
        "value_unit": st.sampled_from((1000, 333)),
    }
)


@st.composite
def portfolios(draw: st.DrawFn) -> Portfolio:
    horizon = draw(HORIZON)
    weeks = WEEKS[horizon]

    engineers = []
    for i in range(draw(ENGINEER_COUNT)):
        skills = draw(SKILL_LEVELS)
        engineers.append(
            {
                "id": f"E{i + 1}",
                "region": draw(REGION),
                "skills": skills,
                "industries": draw(ENGINEER_INDUSTRIES),
                "capacity_hours": draw(CAPACITY),
                "committed_hours": draw(COMMITTED),
                "time_off": draw(TIME_OFF[horizon]),
                "seniority_years": draw(SENIORITY),
            }
        )

    opportunities, demands = [], []
    for j in range(draw(OPPORTUNITY_COUNT)):
        opp = f"O{j + 1}"
        opportunities.append(
            {
                "id": opp,
                "tier": draw(TIER),
                "industry": draw(INDUSTRY),
                "region": draw(REGION),
                "value": draw(VALUE),
                "win_probability": draw(WIN_PROBABILITY),
                "requester_seniority_years": draw(REQUESTER_SENIORITY),
            }
        )
        for k in range(draw(DEMAND_COUNT)):
            start = draw(weeks)
            end = draw(END_WEEKS[start, horizon])
            demands.append(
                {
                    "id": f"{opp}/{k}",
                    "opportunity_id": opp,
                    "skill": draw(SKILL),
                    "min_proficiency": draw(PROFICIENCY),
                    "hours": draw(DEMAND_HOURS),
                    "start_week": start,
                    "end_week": end,
                    "required": k == 0 or draw(COIN),
                }
            )

    def reference() -> dict[str, Any]:
        """A valid engineer -> opportunity (or demand) reference; biased towards pairs the
        engineer qualifies for, so that pins are often feasible."""
        d = draw(st.sampled_from(demands))
        qualified = [
            e["id"] for e in engineers if e["skills"].get(d["skill"], 0) >= d["min_proficiency"]
        ]
        if qualified and draw(QUALIFIED_BIAS):
            e = draw(st.sampled_from(qualified))
        else:
            e = draw(st.sampled_from([e["id"] for e in engineers]))
        return {
            "engineer_id": e,
            "opportunity_id": d["opportunity_id"],
            "demand_id": d["id"] if draw(COIN) else "",
        }

    pins = [reference() for _ in range(draw(PIN_COUNT))]
    forbids = [reference() for _ in range(draw(FORBID_COUNT))]
    previous = [reference() for _ in range(draw(PREVIOUS_COUNT))]
    policy = draw(POLICY)
    return build_portfolio(
        {
            "horizon_weeks": horizon,
            "skills": [{"id": s} for s in SKILLS],
            "engineers": engineers,
            "opportunities": opportunities,
            "demands": demands,
            "pins": pins,
            "forbids": forbids,
            "previous": previous,
            "policy": policy,
        }
    )


def conflict_labels(p: Portfolio) -> set[str]:
    return (
        {pin.label() for pin in p.pins}
        | {forbid.label() for forbid in p.forbids}
        | {f"required demand {d.id}" for d in p.demands if d.required}
    )


@PROPERTY_SETTINGS
@given(portfolios())
def test_solver_results_pass_the_checker(p: Portfolio) -> None:
    allocation = solve(p, OPTIONS)
    event(f"solver {allocation.status.value}, staffed: {bool(allocation.staffed_opportunities)}")
    if allocation.status is SolveStatus.INFEASIBLE:
        assert p.pins, "only pins can make a portfolio infeasible"
        assert allocation.conflicts
        assert set(allocation.conflicts) <= conflict_labels(p)
        assert any(c.startswith("pin ") for c in allocation.conflicts)
        assert allocation.assignments == []
        assert check(p, allocation).ok, check(p, allocation).violations
        return
    assert allocation.status is SolveStatus.OPTIMAL, allocation.message
    report = check(p, allocation)
    assert report.ok, report.violations
    assert allocation.objective == report.objective
    assert allocation.best_bound == allocation.objective and allocation.gap == 0.0


@PROPERTY_SETTINGS
@given(portfolios())
def test_baseline_results_pass_the_checker(p: Portfolio) -> None:
    optimum = solve(p, OPTIONS)
    for name in BASELINES:
        allocation = run_baseline(p, name)
        assert allocation.best_bound is None and allocation.gap is None
        assert allocation.solver.name == name
        event(f"baseline {allocation.status.value}")
        report = check(p, allocation)
        assert report.ok, (name, report.violations)
        # Baselines honour pins and forbids: feasible exactly when the optimiser is.
        if optimum.status is SolveStatus.INFEASIBLE:
            assert allocation.status is SolveStatus.INFEASIBLE, name
            continue
        assert allocation.status is SolveStatus.FEASIBLE, (name, allocation.message)
        assert allocation.objective == report.objective
        assert optimum.status is SolveStatus.OPTIMAL, (name, optimum.conflicts)
        assert optimum.objective is not None
        assert allocation.objective <= optimum.objective, name
