"""Portfolio shapes (`allocator.core.shapes`, `allocator generate --shape`).

Each shape builds a valid portfolio, the same one for the same seed, which compiles into
candidate pairs, and has the characteristic it is named for. No solving: the solver's
behaviour on shapes is measured by benchmarks/fuzz.py and benchmarks/shapes.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from allocator.core.generate import generate
from allocator.core.shapes import CRM_VALUES, SHAPES, generate_shape
from allocator.io.formats import load_portfolio
from allocator.model import Portfolio
from allocator.solve.compiled import compile_portfolio

SIZE = (40, 160)


def holders(portfolio: Portfolio) -> Counter[str]:
    """How many engineers hold each skill."""
    return Counter(skill for engineer in portfolio.engineers for skill in engineer.skills)


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_is_valid_deterministic_and_compiles(shape: str) -> None:
    first = generate_shape(shape, *SIZE, seed=5)
    assert first == generate_shape(shape, *SIZE, seed=5)
    assert first != generate_shape(shape, *SIZE, seed=6)
    # A round trip through validation finds nothing to refuse.
    assert Portfolio.model_validate(first.model_dump()) == first
    assert (len(first.engineers), len(first.opportunities)) == SIZE
    assert first.demands
    problem = compile_portfolio(first)
    assert problem.n_pairs > 0


def test_standard_is_todays_generator() -> None:
    assert generate_shape("standard", *SIZE, seed=2) == generate(*SIZE, seed=2)
    assert generate_shape("standard", *SIZE, seed=2, horizon_weeks=4) == generate(
        *SIZE, seed=2, horizon_weeks=4
    )


def test_crm_many_small_short_deals_small_team_high_cap() -> None:
    portfolio = generate_shape("crm", 36, 2089, seed=1)
    policy = portfolio.policy
    assert policy.max_opportunities_per_engineer == 12
    assert policy.value_unit == 10
    assert portfolio.horizon_weeks == 3
    low, high = CRM_VALUES
    assert all(low <= o.value <= high for o in portfolio.opportunities)
    assert all(0.3 <= o.win_probability <= 0.65 for o in portfolio.opportunities)
    assert 2100 <= len(portfolio.demands) <= 2500  # The export: 2,280.
    demands = portfolio.demands
    assert all(1 <= d.hours <= 6 for d in demands)
    assert all(d.end_week is not None and d.end_week - d.start_week < 3 for d in demands)
    assert {e.region for e in portfolio.engineers} == {"North", "East", "South"}
    assert all(32 <= e.capacity_hours <= 40 for e in portfolio.engineers)
    assert set(holders(portfolio)) == {
        "product_line_a",
        "product_line_b",
        "product_line_c",
        "solution_architect",
    }
    # Below the neighbourhood search's threshold, like the 42,000 pairs.
    assert 30_000 <= compile_portfolio(portfolio).n_pairs <= 60_000


def test_specialists_most_skills_held_by_at_most_three() -> None:
    portfolio = generate_shape("specialists", 100, 400, seed=3)
    held = holders(portfolio)
    assert sum(count <= 3 for count in held.values()) >= 0.8 * len(held)
    demanded = Counter(d.skill for d in portfolio.demands if d.required)
    narrow = sum(n for skill, n in demanded.items() if held[skill] <= 3)
    assert narrow >= 0.8 * sum(demanded.values())


def test_generic_one_dominant_role() -> None:
    portfolio = generate_shape("generic", 100, 400, seed=3)
    assert holders(portfolio)["presales_consultant"] == 100
    skills = Counter(d.skill for d in portfolio.demands)
    assert skills.most_common(1)[0] == ("presales_consultant", 400)
    assert skills["presales_consultant"] >= 0.7 * len(portfolio.demands)


def test_regional_uneven_regions_and_costly_travel() -> None:
    portfolio = generate_shape("regional", 100, 400, seed=3)
    assert portfolio.policy.travel_penalty >= 40
    staff = Counter(e.region for e in portfolio.engineers)
    deals = Counter(o.region for o in portfolio.opportunities)
    # The region with most deals has few of the engineers.
    busiest = deals.most_common(1)[0][0]
    assert staff[busiest] / 100 < deals[busiest] / 400 / 2


def test_unknown_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown shape"):
        generate_shape("nope", 5, 5)


def test_cli_generate_shape(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "allocator", "generate", "--engineers", "12"]
    command += ["--opportunities", "60", "--seed", "4"]
    made = subprocess.run(
        [*command, "--shape", "crm", "--out", str(tmp_path / "crm.json")],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert load_portfolio(tmp_path / "crm.json") == generate_shape("crm", 12, 60, seed=4)
    made = subprocess.run(
        [*command, "--out", str(tmp_path / "std.json")], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    assert load_portfolio(tmp_path / "std.json") == generate(12, 60, seed=4)
    bad = subprocess.run(
        [*command, "--shape", "nope", "--out", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "unknown shape" in bad.stderr
