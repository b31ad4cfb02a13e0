"""Shared test helpers: tiny portfolios written in a few lines, and fast solver options."""

from __future__ import annotations

import re
from pathlib import Path
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
    """A portfolio from plain dicts; every other field at its default unless given. The
    figures the tests pin count in the policy's default value unit (1000), not a derived one."""
    policy = fields.get("policy")
    if policy is None or (isinstance(policy, dict) and "value_unit" not in policy):
        fields["policy"] = {**(policy or {}), "value_unit": 1000}
    return build_portfolio(
        {"engineers": engineers, "opportunities": opportunities, "demands": demands, **fields}
    )


@pytest.fixture
def fast() -> SolveOptions:
    return FAST


SLOW_MODULES = {"test_e2e.py", "test_schemathesis.py", "test_properties.py"}
"""Whole modules `make test-fast` leaves out: real servers, Schemathesis, Hypothesis."""
SLOW_TESTS = {
    "test_ray_on_a_local_instance_gives_the_same_numbers_as_serial",  # Starts Ray.
    "test_worker_processes_give_the_same_numbers_as_serial",  # Spawns processes.
    "test_the_server_solves_a_set_in_its_worker_processes",  # Spawns the server's workers.
    "test_cli_generate_shape",  # A subprocess.
    "test_price_equals_brute_force_forced_optimum",  # Brute force over every selection.
    "test_baselines_honour_the_pins_of_a_feasible_portfolio",  # Many CP-SAT placements.
    "test_same_input_and_seed_give_the_same_assignments",  # Solves the same run again.
    "test_reproducible_runs_repeat_on_a_priced_problem",  # Solves the same run again.
    "test_the_issue_crash_case_solves",  # An M portfolio for its whole budget.
    "test_a_crm_pipeline_gets_more_than_the_greedy_and_a_bound_within_5_percent",
    "test_top_pick_matches_brute_force_on_random_tiny_portfolios",  # A property, brute force.
    "test_adding_an_engineer_never_lowers_the_optimal_value",  # A property over many solves.
    "test_sweep_hires_ranks_candidates_and_plans_the_budget",  # Re-solves after each pick.
    "test_sweep_ratio_gives_the_curve_and_marginal_values",  # Nine headcounts solved.
}
"""Single tests left out for the same reasons (each takes seconds of solving); others carry
`@pytest.mark.slow` themselves."""
SERVICE_MODULES = {
    "test_api.py",
    "test_api_explain.py",
    "test_api_scenarios.py",
    "test_api_exports.py",
    "test_store.py",
}
"""The service, store and web layers: `make test` runs them, the fast loop (the core, solve,
io, explain and what-if unit tests) does not."""


FAST_LOOP = "not slow and not service"
"""The marker expression of `make test-fast`."""
_WHOLE_MODULE_MARK = re.compile(r"^pytestmark = \[?\s*pytest\.mark\.(slow|service)\b", re.MULTILINE)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In the fast loop, modules whose every test is slow or service are not even imported:
    importing them (FastAPI, SQLAlchemy, Schemathesis, Playwright) in each worker cost more
    than the unit tests themselves."""
    if config.option.markexpr != FAST_LOOP or collection_path.suffix != ".py":
        return None
    name = collection_path.name
    if name in SLOW_MODULES or name in SERVICE_MODULES:
        return True
    if name.startswith("test_") and _WHOLE_MODULE_MARK.search(collection_path.read_text()):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.name.partition("[")[0]
        if item.path.name in SLOW_MODULES or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
        if item.path.name in SERVICE_MODULES:
            item.add_marker(pytest.mark.service)
    # Modules with slow tests (servers, browsers, processes) run first, each module kept whole
    # (its module fixtures are set up once): a long test started last would hold one worker
    # while the other has nothing left to take.
    has_slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in has_slow)
