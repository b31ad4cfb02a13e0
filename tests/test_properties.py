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


@st.composite
def portfolios(draw: st.DrawFn) -> Portfolio:
    horizon = draw(st.integers(1, 3))
    weeks = st.integers(1, horizon)

    engineers = []
    for i in range(draw(st.integers(2, 6))):
        levels = st.sampled_from((1, 2, 3, 4, 5, 5))
        skills = draw(st.dictionaries(st.sampled_from(SKILLS), levels, min_size=1, max_size=3))
        engineers.append(
            {
                "id": f"E{i + 1}",
                "region": draw(st.sampled_from(REGIONS)),
                "skills": skills,
                "industries": draw(st.lists(st.sampled_from(INDUSTRIES), max_size=2, unique=True)),
                "capacity_hours": draw(st.sampled_from((10, 20, 32, 40))),
                "committed_hours": draw(st.sampled_from((0, 0, 4, 8.5, 16))),
                "time_off": draw(
                    st.dictionaries(weeks, st.sampled_from((4, 8, 16, 40)), max_size=2)
                ),
                "seniority_years": draw(st.sampled_from((0, 3, 12))),
            }
        )

    opportunities, demands = [], []
    for j in range(draw(st.integers(1, 6))):
        opp = f"O{j + 1}"
        opportunities.append(
            {
                "id": opp,
                "tier": draw(st.sampled_from("ABC")),
                "industry": draw(st.sampled_from(INDUSTRIES)),
                "region": draw(st.sampled_from(REGIONS)),
                "value": draw(st.sampled_from((0, 10_000, 55_555, 123_456, 400_000))),
                "win_probability": draw(st.sampled_from((0.0, 0.1, 0.37, 0.5, 0.93))),
                "requester_seniority_years": draw(st.sampled_from((1, 5, 20))),
            }
        )
        for k in range(draw(st.integers(1, 3))):
            start = draw(weeks)
            end = draw(st.one_of(st.none(), st.integers(start, horizon)))
            demands.append(
                {
                    "id": f"{opp}/{k}",
                    "opportunity_id": opp,
                    "skill": draw(st.sampled_from(SKILLS)),
                    "min_proficiency": draw(st.integers(1, 4)),
                    "hours": draw(st.sampled_from(HOURS)),
                    "start_week": start,
                    "end_week": end,
                    "required": k == 0 or draw(st.booleans()),
                }
            )

    def reference() -> dict[str, Any]:
        """A valid engineer -> opportunity (or demand) reference; biased towards pairs the
        engineer qualifies for, so that pins are often feasible."""
        d = draw(st.sampled_from(demands))
        qualified = [
            e["id"] for e in engineers if e["skills"].get(d["skill"], 0) >= d["min_proficiency"]
        ]
        if qualified and draw(st.integers(0, 3)):
            e = draw(st.sampled_from(qualified))
        else:
            e = draw(st.sampled_from([e["id"] for e in engineers]))
        return {
            "engineer_id": e,
            "opportunity_id": d["opportunity_id"],
            "demand_id": d["id"] if draw(st.booleans()) else "",
        }

    pins = [reference() for _ in range(draw(st.sampled_from((0, 0, 1, 2))))]
    forbids = [reference() for _ in range(draw(st.integers(0, 2)))]
    previous = [reference() for _ in range(draw(st.integers(0, 3)))]
    policy = {
        "max_opportunities_per_engineer": draw(st.integers(1, 4)),
        "utilization_target": draw(st.sampled_from((0.5, 0.85, 1.0))),
        "load_penalty": draw(st.sampled_from((0, 1, 3))),
        "continuity_penalty": draw(st.sampled_from((0, 20))),
        "travel_penalty": draw(st.sampled_from((0, 5))),
        "value_unit": draw(st.sampled_from((1000, 333))),
    }
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
