"""Public GAP benchmark: our core against plain CP-SAT and HiGHS, side by side in one run.

Every instance is solved by three solvers, one after the other, with the same time limit:
- `ours`: the instance compiled by `allocator.solve.gap.compile_gap` and solved by the allocation
  core's engine (`allocator.search.solve_problem`), exactly as portfolios are solved;
- `cpsat`: plain CP-SAT (one boolean per pair, exactly-one per job, linear capacity);
- `highs`: HiGHS MIP on the same model (highspy).
Each row reports the objective (cost), the proven bound, the status, the seconds used, the
time to the first feasible solution, the best objective found by 10 s, and the gap to the
best-known value of benchmarks/data/gap/INDEX.csv. Instances without a best-known value (the
generated `large` suite) are compared with the best objective and the best bound any solver
found on them in the same run.

Suites: `orlib` (gap1-12), `cde` (types C, D, E, 10-20 agents x 100-200 jobs), `abcde`, and
`large`: Yagiura-type C, D, E instances of 40 x 400 and 80 x 1600 that
`benchmarks/gap_generate.py` generated (seed 1) into benchmarks/data/gap/generated/.

Examples:
    python benchmarks/gap.py --suite cde --time-limit 60
    python benchmarks/gap.py --suite large --time-limit 60
    python benchmarks/gap.py --instance benchmarks/data/gap/chu1997/d20200 --time-limit 60 --json
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import highspy
import numpy as np
from ortools.sat.python import cp_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.errors import InvalidInputError
from allocator.model import POINT_SCALE
from allocator.solve.gap import GapInstance, agents_of, compile_gap, read_gap
from allocator.solve.mip import quiet_highs
from allocator.solver import SolveOptions, solve_compiled

DATA = Path(__file__).resolve().parent / "data" / "gap"
SUITES = {
    "orlib": [f"cattrysse1994/gap{k}-{i}" for k in range(1, 13) for i in range(5)],
    "cde": [f"{t}{m:02d}{n}" for t in "cde" for m in (10, 20) for n in (100, 200)],
    "abcde": [f"{t}{m:02d}{n}" for t in "abcde" for m in (5, 10, 20) for n in (100, 200)],
    "large": [f"generated/{t}{m}{n}-s1" for m, n in ((40, 400), (80, 1600)) for t in "cde"],
}
CHECKPOINT = 10.0


@dataclass
class Row:
    instance: str
    solver: str
    objective: float | None
    best_bound: float | None
    status: str
    seconds: float
    first_feasible_seconds: float | None
    objective_at_10s: float | None
    best_known: float | None = None
    gap_to_best_known: float | None = None
    gap_to_best_in_run: float | None = None
    """Against the best objective any solver found on the instance in this run."""
    gap_to_best_bound_in_run: float | None = None
    """Against the best bound any solver proved on the instance in this run."""
    agents: int = 0
    jobs: int = 0
    timeline: list[tuple[float, float]] = field(default_factory=list, repr=False)


class Timeline:
    """Incumbents as (seconds, objective in the instance's sense), from solver callbacks."""

    def __init__(self, sense: str) -> None:
        self.started = time.perf_counter()
        self.sign = 1 if sense == "min" else -1
        self.points: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    def record(self, value: float) -> None:
        with self.lock:
            if not self.points or self.sign * value < self.sign * self.points[-1][1]:
                self.points.append((time.perf_counter() - self.started, value))

    def first(self) -> float | None:
        return self.points[0][0] if self.points else None

    def at(self, seconds: float) -> float | None:
        before = [cost for t, cost in self.points if t <= seconds]
        return before[-1] if before else None


def run_ours(instance: GapInstance, time_limit: float, sense: str, seed: int) -> Row:
    problem = compile_gap(instance, "min" if sense == "min" else "max")
    timeline = Timeline(sense)
    sign = -1 if sense == "min" else 1  # The core maximises; a cost is its negation.
    result = solve_compiled(
        problem,
        SolveOptions(time_limit=time_limit, workers=2, seed=seed, reproducible=False),
        on_progress=lambda progress: timeline.record(
            round(sign * progress.objective * POINT_SCALE)
        ),
    )
    seconds = time.perf_counter() - timeline.started
    objective = bound = None
    if result.status.has_solution:
        agent_of_job = agents_of(problem, result.chosen)
        assert (agent_of_job >= 0).all() and instance.is_feasible(agent_of_job), "infeasible"
        objective = float(instance.cost_of(agent_of_job))
        assert objective == sign * result.objective, "objective mismatch"
        timeline.record(objective)
        bound = None if result.best_bound is None else float(sign * result.best_bound)
    return _row(instance, "ours", objective, bound, result.status.value, seconds, timeline)


def run_plain_cpsat(instance: GapInstance, time_limit: float, sense: str, seed: int) -> Row:
    m, n = instance.agents, instance.jobs
    model = cp_model.CpModel()
    x = [[model.new_bool_var(f"x{i}_{j}") for j in range(n)] for i in range(m)]
    for j in range(n):
        model.add_exactly_one(x[i][j] for i in range(m))
    for i in range(m):
        model.add(
            sum(int(instance.resources[i, j]) * x[i][j] for j in range(n))
            <= int(instance.capacities[i])
        )
    cost = sum(int(instance.costs[i, j]) * x[i][j] for i in range(m) for j in range(n))
    model.minimize(cost) if sense == "min" else model.maximize(cost)
    timeline = Timeline(sense)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = seed

    class Watch(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            timeline.record(self.objective_value)

    code = solver.solve(model, Watch())
    seconds = time.perf_counter() - timeline.started
    found = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    objective = float(solver.objective_value) if found else None
    return _row(
        instance,
        "cpsat",
        objective,
        float(solver.best_objective_bound),
        solver.status_name(code).lower(),
        seconds,
        timeline,
    )


def run_highs(instance: GapInstance, time_limit: float, sense: str, seed: int) -> Row:
    m, n = instance.agents, instance.jobs
    h = quiet_highs(threads=2)  # Resets HiGHS's process-wide scheduler if ours used another size.
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("random_seed", seed)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.999)
    count = m * n  # column i*n + j
    h.addVars(count, np.zeros(count), np.ones(count))
    h.changeColsCost(count, np.arange(count, dtype=np.int32), instance.costs.ravel().astype(float))
    h.changeColsIntegrality(
        count, np.arange(count, dtype=np.int32), np.full(count, highspy.HighsVarType.kInteger)
    )
    if sense == "max":
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    job_starts = np.arange(0, n * m, m, dtype=np.int32)
    job_index = np.array([i * n + j for j in range(n) for i in range(m)], dtype=np.int32)
    h.addRows(n, np.ones(n), np.ones(n), n * m, job_starts, job_index, np.ones(n * m))
    agent_starts = np.arange(0, m * n, n, dtype=np.int32)
    h.addRows(
        m,
        np.full(m, -highspy.kHighsInf),
        instance.capacities.astype(float),
        m * n,
        agent_starts,
        np.arange(m * n, dtype=np.int32),
        instance.resources.ravel().astype(float),
    )
    timeline = Timeline(sense)
    h.cbMipImprovingSolution.subscribe(
        lambda event: timeline.record(event.data_out.objective_function_value)
    )
    h.run()
    seconds = time.perf_counter() - timeline.started
    info = h.getInfo()
    found = info.primal_solution_status == 2
    return _row(
        instance,
        "highs",
        float(info.objective_function_value) if found else None,
        float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None,
        h.modelStatusToString(h.getModelStatus()).lower(),
        seconds,
        timeline,
    )


def _row(
    instance: GapInstance,
    solver: str,
    objective: float | None,
    bound: float | None,
    status: str,
    seconds: float,
    timeline: Timeline,
) -> Row:
    return Row(
        instance=instance.name,
        solver=solver,
        objective=objective,
        best_bound=bound,
        status=status,
        seconds=round(seconds, 3),
        first_feasible_seconds=None if timeline.first() is None else round(timeline.first(), 3),
        objective_at_10s=timeline.at(CHECKPOINT),
        agents=instance.agents,
        jobs=instance.jobs,
        timeline=timeline.points,
    )


SOLVERS: dict[str, Callable[[GapInstance, float, str, int], Row]] = {
    "ours": run_ours,
    "cpsat": run_plain_cpsat,
    "highs": run_highs,
}


def best_known() -> dict[tuple[str, str], float]:
    with open(DATA / "INDEX.csv") as handle:
        return {
            (row["instance"], row["objective_sense"]): float(row["best_known"])
            for row in csv.DictReader(handle)
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instance", action="append", default=[], help="Instance file (repeat).")
    parser.add_argument("--suite", choices=sorted(SUITES), help="A bundled set of instances.")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--sense", choices=["min", "max"], default="min")
    parser.add_argument("--solvers", default="ours,cpsat,highs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="One JSON object per row.")
    args = parser.parse_args(argv)

    paths = [Path(p) for p in args.instance]
    if args.suite:
        paths += [DATA / name if "/" in name else _find(name) for name in SUITES[args.suite]]
    if not paths:
        parser.error("give --instance PATH or --suite NAME")
    known = best_known()
    rows = []
    for path in paths:
        try:
            instance = read_gap(path)
        except InvalidInputError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        mine = []
        for name in args.solvers.split(","):
            row = SOLVERS[name](instance, args.time_limit, args.sense, args.seed)
            key = (path.name, args.sense)
            if key in known:
                row.best_known = known[key]
                if row.objective is not None:
                    sign = 1 if args.sense == "min" else -1
                    row.gap_to_best_known = sign * (row.objective - known[key]) / abs(known[key])
            mine.append(row)
            if not args.json:
                _print_row(row)
        _compare_within_run(mine, args.sense)
        rows += mine
        if args.json:
            for row in mine:
                data = asdict(row)
                data.pop("timeline")
                print(json.dumps(data), flush=True)
    if not args.json:
        _print_summary(rows)


def _find(name: str) -> Path:
    for folder in ("chu1997", "yagiura2004", "cattrysse1994", "generated"):
        if (DATA / folder / name).exists():
            return DATA / folder / name
    raise SystemExit(f"no bundled instance {name}")


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _fmt(value: float | None, pattern: str = "{:.0f}") -> str:
    return "-" if value is None else pattern.format(value)


def _print_row(row: Row) -> None:
    gap = _fmt(None if row.gap_to_best_known is None else 100 * row.gap_to_best_known, "{:.3f}%")
    print(
        f"{row.instance:12} {row.solver:6} obj {_fmt(row.objective):>8} bound "
        f"{_fmt(row.best_bound, '{:.1f}'):>9} {row.status:10} {row.seconds:7.2f}s first "
        f"{_fmt(row.first_feasible_seconds, '{:.2f}')}s @10s {_fmt(row.objective_at_10s):>8} "
        f"gap {gap}",
        flush=True,
    )


def _compare_within_run(rows: list[Row], sense: str) -> None:
    """Gaps of one instance's rows to the best objective and the best bound any of them found."""
    sign = 1 if sense == "min" else -1
    found = [sign * r.objective for r in rows if r.objective is not None]
    bounds = [sign * r.best_bound for r in rows if r.best_bound is not None]
    for row in rows:
        if row.objective is None:
            continue
        if found:
            best = sign * min(found)
            row.gap_to_best_in_run = sign * (row.objective - best) / max(1.0, abs(best))
        if bounds:
            bound = sign * max(bounds)  # The tightest: highest for min, lowest for max.
            row.gap_to_best_bound_in_run = sign * (row.objective - bound) / max(1.0, abs(bound))


def _print_summary(rows: list[Row]) -> None:
    unknown = [r for r in rows if r.best_known is None]
    if unknown:
        print()
        print("instances without a best-known value: gap to the best found / best bound in run")
        for row in unknown:
            found = _fmt(_pct(row.gap_to_best_in_run), "{:.3f}%")
            bound = _fmt(_pct(row.gap_to_best_bound_in_run), "{:.3f}%")
            print(f"{row.instance:14} {row.solver:6} {found:>9} {bound:>9}")
        print(
            f"{'solver':8} {'instances':>9} {'mean vs best found':>19} {'mean vs best bound':>19}"
        )
        for solver in dict.fromkeys(r.solver for r in unknown):
            mine = [r for r in unknown if r.solver == solver]
            found_gaps = [
                100 * r.gap_to_best_in_run for r in mine if r.gap_to_best_in_run is not None
            ]
            bound_gaps = [
                100 * r.gap_to_best_bound_in_run
                for r in mine
                if r.gap_to_best_bound_in_run is not None
            ]
            missing = len(mine) - len(found_gaps)
            print(
                f"{solver:8} {len(mine):9d} "
                f"{_fmt(np.mean(found_gaps) if found_gaps else None, '{:.3f}%'):>19} "
                f"{_fmt(np.mean(bound_gaps) if bound_gaps else None, '{:.3f}%'):>19}"
                + (f"  ({missing} without a solution)" if missing else "")
            )
    if any(r.best_known is not None for r in rows):
        print()
        print(f"{'solver':8} {'instances':>9} {'mean gap':>9} {'worst gap':>9} {'optimal':>8}")
    for solver in dict.fromkeys(r.solver for r in rows):
        mine = [r for r in rows if r.solver == solver and r.gap_to_best_known is not None]
        if not mine:
            continue
        gaps = [100 * r.gap_to_best_known for r in mine if r.gap_to_best_known is not None]
        optimal = sum(r.status == "optimal" for r in mine)
        print(f"{solver:8} {len(mine):9d} {np.mean(gaps):8.3f}% {max(gaps):8.3f}% {optimal:8d}")
    print(f"machine: {os.cpu_count()} cores; time limit per solver per instance as given")


if __name__ == "__main__":
    main()
