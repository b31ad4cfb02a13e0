"""`allocator explain` on a result file: the paragraph, the JSON, and bad input exiting 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from clikit import invoke

from allocator.core.generate import generate
from allocator.io.formats import load_allocation, write_portfolio_csv


def allocator(*args: str) -> subprocess.CompletedProcess[str]:
    return invoke(*args)


def test_explain_a_result_file(tmp_path: Path) -> None:
    folder = write_portfolio_csv(generate(8, 20, seed=2), tmp_path / "p")
    result = tmp_path / "result.json"
    solved = allocator("solve", str(folder), "--out", str(result), "--time-limit", "2")
    assert solved.returncode == 0, solved.stderr
    allocation = load_allocation(result)
    first = allocation.assignments[0]

    told = allocator(
        "explain", str(result), "--portfolio", str(folder), "--opportunity", first.opportunity_id
    )
    assert told.returncode == 0, told.stderr
    assert told.stdout.startswith(f"{first.opportunity_id} (tier ")
    assert f"{first.engineer_id} serves {first.demand_id}" in told.stdout.replace("\n", " ")

    as_json = allocator(
        "explain",
        str(result),
        "--portfolio",
        str(folder),
        "--engineer",
        first.engineer_id,
        "--json",
    )
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["engineer_id"] == first.engineer_id

    fair = allocator("explain", str(result), "--portfolio", str(folder), "--fairness")
    assert fair.returncode == 0 and "least senior quarter" in fair.stdout


def test_explain_bad_input_exits_2(tmp_path: Path) -> None:
    folder = write_portfolio_csv(generate(4, 6, seed=1), tmp_path / "p")
    result = tmp_path / "result.json"
    assert (
        allocator("solve", str(folder), "--out", str(result), "--time-limit", "1").returncode == 0
    )
    no_portfolio = allocator("explain", str(result), "--opportunity", "OPP-00001")
    assert no_portfolio.returncode == 2
    assert no_portfolio.stderr.strip() == "error: --portfolio: is required with a result file"
    unknown = allocator("explain", str(result), "--portfolio", str(folder), "--opportunity", "X")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: no opportunity 'X' in this run"
    nothing = allocator("explain", str(result), "--portfolio", str(folder))
    assert nothing.returncode == 2 and "--opportunity" in nothing.stderr
