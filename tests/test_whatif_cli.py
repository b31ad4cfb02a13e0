"""`allocator sweep ...` run as a real process, and the plots it writes: files, exit codes,
error lines, and pictures with labelled axes, units and legends."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from clikit import invoke
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import imread

from allocator.core.generate import generate
from allocator.io.formats import write_portfolio_json
from allocator.whatif.compare import SweepComparison
from allocator.whatif.hiring import HiringRecommendation
from allocator.whatif.plots import comparison_figure, hiring_figure, ratio_figure, unmet_figure
from allocator.whatif.ratios import RatioCurve

SCENARIOS = {
    "scenarios": [
        {
            "name": "East +2 architects",
            "edits": [
                {
                    "kind": "add_engineers",
                    "profile": {"skills": {"solution_architect": 4}, "region": "East"},
                    "count": 2,
                }
            ],
        },
        {"name": "pipeline -30%", "edits": [{"kind": "change_pipeline", "percent": -30}]},
        {
            "name": "North capacity -50%",
            "edits": [{"kind": "change_capacity", "select": {"region": "North"}, "percent": -50}],
        },
    ]
}


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return invoke("sweep", *args, cwd=cwd)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("whatif")
    write_portfolio_json(generate(16, 40, seed=5), folder / "portfolio.json")
    (folder / "scenarios.json").write_text(json.dumps(SCENARIOS))
    return folder


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = imread(path).shape[:2]
    assert width >= 600 and height >= 300


def labelled(ax: Axes) -> tuple[str, str]:
    return ax.get_xlabel(), ax.get_ylabel()


def panels(figure: Figure) -> list[Axes]:
    """The plot panels (colour bars excluded)."""
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


@pytest.fixture(scope="module")
def scenarios_run(workdir: Path) -> Path:
    done = run(
        "scenarios",
        "portfolio.json",
        "scenarios.json",
        "--out",
        "out",
        "--time-limit",
        "1",
        "--executor",
        "serial",
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr
    assert "Scenarios against the base" in done.stdout
    return workdir / "out"


def test_sweep_scenarios_writes_comparison_diff_and_plots(scenarios_run: Path) -> None:
    comparison = SweepComparison.model_validate_json(
        (scenarios_run / "comparison.json").read_text()
    )
    assert [c.name for c in comparison.scenarios] == [s["name"] for s in SCENARIOS["scenarios"]]
    assert comparison.get("East +2 architects").figures.engineers == comparison.base.engineers + 2
    assert comparison.get("pipeline -30%").opportunities_removed == 12
    lines = (scenarios_run / "diff.csv").read_text().splitlines()
    assert (
        lines[0] == "scenario,demand_id,opportunity_id,skill,base_engineer,scenario_engineer,change"
    )
    assert len(lines) == 1 + sum(len(c.changes) for c in comparison.scenarios)
    for name in ("comparison.png", "unmet.png"):
        assert_png(scenarios_run / name)


def test_comparison_and_unmet_plots_label_axes_with_units_and_have_legends(
    scenarios_run: Path,
) -> None:
    comparison = SweepComparison.model_validate_json(
        (scenarios_run / "comparison.json").read_text()
    )
    figure = comparison_figure(comparison)
    axes = panels(figure)
    assert len(axes) == 4
    units = [ax.get_xlabel() for ax in axes]
    assert units == [
        "Expected value covered minus the base's (currency)",
        "Opportunities staffed (count)",
        "Utilization (% of available presales hours assigned)",
        "Assignments against the base's (count)",
    ]
    for ax in axes:
        assert ax.get_legend() is not None and ax.get_title(loc="left")
        ticks = [t.get_text() for t in ax.get_yticklabels()]
        assert ticks[:2] == ["base", "East +2 architects"] or not any(ticks)
    figure = unmet_figure(comparison.base, comparison.scenarios[0])
    maps = panels(figure)
    assert [labelled(ax) for ax in maps] == [("Region of the opportunity", "Skill of the role")] * 2
    bars = [ax.get_ylabel() for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert bars == [
        "Unstaffed demand (hours over the horizon)",
        "Change in unstaffed hours (negative: more staffed)",
    ]


def test_sweep_ratio_gives_the_curve_and_marginal_values(workdir: Path) -> None:
    done = run(
        "ratio",
        "--region",
        "East",
        "--from",
        "1:6",
        "--to",
        "1:1",
        "--steps",
        "6",
        "portfolio.json",
        "--out",
        "ratio",
        "--time-limit",
        "1",
        "--processes",
        "2",
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr
    curve = RatioCurve.model_validate_json((workdir / "ratio" / "ratio.json").read_text())
    counts = [p.presales for p in curve.points]
    assert counts == sorted(set(counts)) and sum(p.current for p in curve.points) == 1
    requested = [r for p in curve.points for r in p.requested]
    assert sorted(requested) == sorted(["1:6", "1:5", "1:4", "1:3", "1:2", "1:1"])
    assert curve.executor == "local"
    # Hires and releases are nested (the same people in the same order), so on these small
    # portfolios, solved to optimality, the objective only grows with headcount.
    assert all(p.status == "optimal" for p in curve.points)
    objectives = [p.objective for p in curve.points]
    assert objectives == sorted(objectives)  # type: ignore[type-var]
    for previous, point in zip(curve.points, curve.points[1:], strict=False):
        change = point.expected_value_covered - previous.expected_value_covered
        assert point.marginal_value == pytest.approx(change / (point.presales - previous.presales))
    assert_png(workdir / "ratio" / "ratio.png")
    top, bottom = panels(ratio_figure(curve))
    assert top.get_ylabel() == "Expected value covered\n(currency, whole portfolio)"
    assert labelled(bottom) == (
        "Presales engineers in region East (headcount)",
        "Marginal value\n(currency per engineer)",
    )
    assert top.get_legend() is not None and bottom.get_legend() is not None


def test_sweep_hires_ranks_candidates_and_plans_the_budget(workdir: Path) -> None:
    done = run(
        "hires",
        "portfolio.json",
        "--budget",
        "2",
        "--out",
        "hires",
        "--time-limit",
        "1",
        "--executor",
        "serial",
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr
    assert "Greedy plan for 2 hires" in done.stdout and "Method: re-solve" in done.stdout
    recommendation = HiringRecommendation.model_validate_json(
        (workdir / "hires" / "hires.json").read_text()
    )
    values = [c.value_delta for c in recommendation.ranking]
    assert values == sorted(values, reverse=True)
    assert 1 <= len(recommendation.plan) <= 2
    assert recommendation.plan[0].skill == recommendation.ranking[0].skill
    assert_png(workdir / "hires" / "hires.png")
    (ax,) = panels(hiring_figure(recommendation))
    assert ax.get_xlabel() == "Marginal expected value covered by one more engineer (currency)"
    assert ax.get_legend() is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("ratio", "--region", "Eats", "portfolio.json"),
            "error: scenario 'ratio sweep' edit 1 (set_ratio), field region: unknown region; "
            "known: Central, East, North, South, West (got 'Eats')",
        ),
        (
            ("ratio", "--region", "East", "--from", "6", "portfolio.json"),
            "error: --from: must look like 1:4 (presales:sales, both > 0) (got '6')",
        ),
        (
            ("hires", "portfolio.json", "--executor", "spark"),
            "error: --executor: unknown executor; choose from local, ray, serial (got 'spark')",
        ),
        (
            ("scenarios", "portfolio.json", "bad.json"),
            "error: bad.json $.scenarios[0].edits[0].percent: must be <= 1000 (got 5000)",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_problem(
    workdir: Path, args: tuple[str, ...], message: str
) -> None:
    bad = {"scenarios": [{"name": "x", "edits": [{"kind": "change_pipeline", "percent": 5000}]}]}
    (workdir / "bad.json").write_text(json.dumps(bad))
    done = run(*args, cwd=workdir)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [message]
