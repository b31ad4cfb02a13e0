"""The `allocator` command line, run as a real process: exit codes, output and files.

Exit codes: 0 success, 1 a check failed, 2 bad input (one line per problem on stderr).
Every solve is short (a 20 x 50 generated portfolio, at most 2 s) so that the file stays fast.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from clikit import invoke

from allocator.io.formats import load_portfolio

ENGINEERS, OPPORTUNITIES = 20, 50
GENERATED_FILES = [
    "demands.csv",
    "engineers.csv",
    "opportunities.csv",
    "policy.json",
    "portfolio.json",
    "skills.csv",
    "stage_templates.csv",
]


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`allocator ARGS` in `cwd`, in this process (typer's CliRunner)."""
    return invoke(*args, cwd=cwd)


@pytest.mark.slow
def test_the_real_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    """One smoke test through `python -m allocator`: the rest of this file runs in-process."""
    command = [sys.executable, "-m", "allocator", "generate", "--engineers", "5"]
    command += ["--opportunities", "10", "--seed", "1", "--out", "small"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "small" / "engineers.csv").exists()


def generate(cwd: Path, out: str, seed: int = 3) -> subprocess.CompletedProcess[str]:
    return run(
        "generate",
        "--engineers",
        str(ENGINEERS),
        "--opportunities",
        str(OPPORTUNITIES),
        "--seed",
        str(seed),
        "--out",
        out,
        cwd=cwd,
    )


def solve(cwd: Path, folder: str, out: str, *more: str) -> subprocess.CompletedProcess[str]:
    return run(
        "solve",
        folder,
        "--out",
        out,
        "--seed",
        "1",
        "--time-limit",
        "2",
        "--workers",
        "1",
        *more,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding `gen/` (generated, seed 3) and `result.json` (solved)."""
    cwd = tmp_path_factory.mktemp("cli")
    made = generate(cwd, "gen")
    assert made.returncode == 0, made.stderr
    solved = solve(cwd, "gen", "result.json")
    assert solved.returncode == 0, solved.stderr
    (cwd / "solve.stdout").write_text(solved.stdout)
    return cwd


def result_of(work: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((work / "result.json").read_text())
    return data


def copy_generated(work: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "portfolio"
    shutil.copytree(work / "gen", folder)
    return folder


def edit_line(path: Path, row: int, old: str, new: str) -> None:
    """Replace `old` by `new` once in line `row` of a CSV file (the header is row 1)."""
    lines = path.read_text().splitlines(keepends=True)
    assert old in lines[row - 1], (old, lines[row - 1])
    lines[row - 1] = lines[row - 1].replace(old, new, 1)
    path.write_text("".join(lines))


def field(path: Path, row: int, column: str) -> str:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    return lines[row - 1].split(",")[header.index(column)]


# --------------------------------------------------------------------------------------------
# generate


def test_generate_writes_a_csv_folder(work: Path) -> None:
    folder = work / "gen"
    assert sorted(p.name for p in folder.iterdir()) == GENERATED_FILES
    assert len((folder / "engineers.csv").read_text().splitlines()) == ENGINEERS + 1
    assert len((folder / "opportunities.csv").read_text().splitlines()) == OPPORTUNITIES + 1
    assert json.loads((folder / "portfolio.json").read_text()) == {
        "name": "generated-20x50-seed3",
        "horizon_weeks": 2,
    }
    portfolio = load_portfolio(folder)
    assert (len(portfolio.engineers), len(portfolio.opportunities)) == (ENGINEERS, OPPORTUNITIES)


def test_generate_is_deterministic_for_a_seed(work: Path, tmp_path: Path) -> None:
    again = generate(tmp_path, "again")
    other = generate(tmp_path, "other", seed=4)
    assert (again.returncode, other.returncode) == (0, 0)
    demands = len(load_portfolio(work / "gen").demands)
    wrote = f"Wrote {ENGINEERS} engineers, {OPPORTUNITIES} opportunities, {demands} demands"
    assert again.stdout.split() == f"{wrote} to again".split()
    for name in GENERATED_FILES:
        assert (tmp_path / "again" / name).read_bytes() == (work / "gen" / name).read_bytes()
    assert (tmp_path / "other" / "engineers.csv").read_bytes() != (
        work / "gen" / "engineers.csv"
    ).read_bytes()


def test_generate_to_a_json_document(work: Path, tmp_path: Path) -> None:
    made = run(
        *("generate", "--engineers", "20", "--opportunities", "50", "--seed", "3"),
        *("--out", "gen.json", "--name", "named"),
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    from_json = load_portfolio(tmp_path / "gen.json")
    from_csv = load_portfolio(work / "gen")
    assert from_json.name == "named"
    assert from_json.model_dump(exclude={"name"}) == from_csv.model_dump(exclude={"name"})


# --------------------------------------------------------------------------------------------
# solve and check


def test_solve_prints_the_summary(work: Path) -> None:
    stdout = (work / "solve.stdout").read_text()
    for label in ("Allocation of generated-20x50-seed3", "Status", "Objective (points)", "Gap"):
        assert label in stdout
    assert "Objective terms (points)" in stdout
    assert "expected_value" in stdout
    assert stdout.rstrip().endswith("Full result written to result.json")
    objective = result_of(work)["objective"]
    assert f"{objective:,.2f}" in stdout


def test_solve_writes_the_result_json(work: Path) -> None:
    result = result_of(work)
    assert {"status", "objective", "best_bound", "gap", "terms", "assignments"} <= set(result)
    assert result["status"] in ("optimal", "feasible")
    assert isinstance(result["objective"], float)
    assert isinstance(result["best_bound"], float)
    assert result["best_bound"] >= result["objective"] - 0.01
    assert 0 <= result["gap"] <= 1
    assert set(result["terms"]) == {
        "expected_value",
        "skill_fit",
        "region_match",
        "continuity",
        "load_balance",
    }
    assert sum(result["terms"].values()) == pytest.approx(result["objective"], abs=0.05)
    assignments = result["assignments"]
    assert isinstance(assignments, list)
    assert assignments, "a 20 x 50 portfolio staffs some opportunities"
    for assignment in assignments:
        assert {"engineer_id", "opportunity_id", "demand_id"} <= set(assignment)
        assert assignment["demand_id"].startswith(assignment["opportunity_id"] + "/")
    demands = [a["demand_id"] for a in assignments]
    assert len(demands) == len(set(demands))


def test_check_accepts_the_solved_result(work: Path) -> None:
    checked = run("check", "gen", "result.json", cwd=work)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    count = len(result_of(work)["assignments"])
    assert checked.stdout.startswith(f"OK: {count} assignments hold every hard rule; objective ")
    assert checked.stdout.rstrip().endswith("recomputed.")


def test_check_rejects_a_demand_served_twice(work: Path, tmp_path: Path) -> None:
    result = result_of(work)
    first = result["assignments"][0]
    other = next(
        f"ENG-{i:04d}" for i in range(1, ENGINEERS + 1) if f"ENG-{i:04d}" != first["engineer_id"]
    )
    result["assignments"].append({**first, "engineer_id": other})
    (tmp_path / "tampered.json").write_text(json.dumps(result))
    checked = run("check", work / "gen", "tampered.json", cwd=tmp_path)
    assert checked.returncode == 1
    lines = checked.stdout.splitlines()
    assert f"violation: Demand served twice: {first['demand_id']} is served by 2 engineers" in lines
    violations = [line for line in lines if line.startswith("violation: ")]
    assert lines[-1] == f"{len(violations)} violations."


def test_check_rejects_a_changed_objective(work: Path, tmp_path: Path) -> None:
    result = result_of(work)
    true_objective = result["objective"]
    result["objective"] = 12345.5
    (tmp_path / "tampered.json").write_text(json.dumps(result))
    checked = run("check", work / "gen", "tampered.json", cwd=tmp_path)
    assert checked.returncode == 1
    *violations, total = checked.stdout.splitlines()
    prefix = "violation: Figure misreported: objective is reported as 12345.5, recomputed "
    assert violations[0].startswith(prefix)
    assert float(violations[0].removeprefix(prefix)) == true_objective
    assert "violation: Figure misreported: objective 12345.5 is not the sum of its terms" in (
        violations
    )
    assert all(v.startswith("violation: Figure misreported: ") for v in violations)
    assert total == f"{len(violations)} violations."


def test_check_of_a_bad_result_file_is_bad_input(work: Path, tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text('{"status": "done"}')
    checked = run("check", work / "gen", "result.json", cwd=tmp_path)
    assert checked.returncode == 2
    assert checked.stderr.splitlines() == [
        "error: result.json $.status: Input should be 'optimal', 'feasible', 'infeasible', "
        "'invalid' or 'unknown' (got 'done')"
    ]


# --------------------------------------------------------------------------------------------
# Bad input: exit 2, one line naming file, row, column and value


@pytest.mark.parametrize("problem", ["unknown skill", "negative hours", "duplicate id"])
def test_solve_rejects_a_bad_csv_row(work: Path, tmp_path: Path, problem: str) -> None:
    folder = copy_generated(work, tmp_path)
    demands, engineers = folder / "demands.csv", folder / "engineers.csv"
    if problem == "unknown skill":
        skill = field(demands, 3, "skill")
        edit_line(demands, 3, f",{skill},", ",juggling,")
        expected = "demands.csv row 3, column skill: unknown skill (got 'juggling')"
    elif problem == "negative hours":
        level, hours = field(demands, 4, "min_proficiency"), field(demands, 4, "hours")
        edit_line(demands, 4, f",{level},{hours},", f",{level},-3,")
        expected = "demands.csv row 4, column hours: must be >= 0 (got '-3')"
    else:
        with engineers.open("a") as handle:
            handle.write("ENG-0002,Dup Licate,North,network:3,power,40,0,,100,3,Associate\n")
        expected = f"engineers.csv row {ENGINEERS + 2}, column id: duplicate id (got 'ENG-0002')"
    solved = solve(tmp_path, "portfolio", "out.json")
    assert solved.returncode == 2
    assert solved.stderr.splitlines() == [f"error: {expected}"]
    assert solved.stdout == ""
    assert not (tmp_path / "out.json").exists()


def test_solve_with_a_missing_path(tmp_path: Path) -> None:
    solved = solve(tmp_path, "nowhere", "out.json")
    assert solved.returncode == 2
    assert solved.stderr.splitlines() == ["error: nowhere: no such file or folder"]


def test_check_with_a_missing_result(work: Path, tmp_path: Path) -> None:
    checked = run("check", work / "gen", "missing.json", cwd=tmp_path)
    assert checked.returncode == 2
    assert checked.stderr.splitlines() == ["error: missing.json: no such file"]


# --------------------------------------------------------------------------------------------
# Baselines


def test_solve_with_a_baseline(work: Path, tmp_path: Path) -> None:
    solved = solve(work, "gen", str(tmp_path / "baseline.json"), "--baseline", "seniority_first")
    assert solved.returncode == 0, solved.stderr
    assert "seniority_first" in solved.stdout
    result = json.loads((tmp_path / "baseline.json").read_text())
    assert result["solver"]["name"] == "seniority_first"
    assert result["status"] == "feasible"
    assert result["best_bound"] is None
    assert result["objective"] <= result_of(work)["best_bound"] + 0.01
    checked = run("check", "gen", tmp_path / "baseline.json", cwd=work)
    assert checked.returncode == 0, checked.stdout


def test_solve_with_an_unknown_baseline(work: Path, tmp_path: Path) -> None:
    solved = solve(work, "gen", str(tmp_path / "out.json"), "--baseline", "nonsense")
    assert solved.returncode == 2
    assert solved.stderr.splitlines() == [
        "error: --baseline: unknown baseline; choose from seniority_first, "
        "first_come_first_served, value_density (got 'nonsense')"
    ]
    assert not (tmp_path / "out.json").exists()


def test_check_of_an_infeasible_result_says_its_conflicts_were_re_proved(tmp_path: Path) -> None:
    """`solve` then `check` on a portfolio whose pin and forbid clash: exit 0, and the words
    say what was checked (not "0 assignments hold every hard rule")."""
    portfolio = {
        "engineers": [{"id": "E1", "region": "North", "skills": {"a": 3}}],
        "opportunities": [
            {
                "id": "O1",
                "industry": "power",
                "region": "North",
                "value": 1000,
                "win_probability": 0.5,
            }
        ],
        "demands": [{"opportunity_id": "O1", "skill": "a", "hours": 8}],
        "pins": [{"engineer_id": "E1", "opportunity_id": "O1"}],
        "forbids": [{"engineer_id": "E1", "opportunity_id": "O1"}],
    }
    (tmp_path / "p.json").write_text(json.dumps(portfolio))
    solved = run("solve", "p.json", "--out", "r.json", "--time-limit", "5", cwd=tmp_path)
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "infeasible", solved.stdout
    checked = run("check", "p.json", "r.json", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("OK: infeasible, and each of the 1 conflict set(s)")
