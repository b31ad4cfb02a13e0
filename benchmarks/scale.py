"""Scale benchmark: generated portfolios S, M, L, XL; how compile time, first solution,
objective, bound, gap and memory grow with size, next to baselines measured in the same run.

Each size runs in a fresh subprocess (so that peak memory is its own):
- compile time and candidate pairs;
- our solver for `--time-limit` seconds: time to the first feasible allocation, and the best
  objective and proven bound at 10, 30 and 60 s (read from the progress timeline of one run);
- the value-density greedy (the best status-quo-style baseline) on the same portfolio;
- with `--plain`, plain CP-SAT on the same formulation (default parameters, no warm start);
- the LP bound: HiGHS's LP relaxation when it solves within `--lp-limit` seconds, else the
  Lagrangian bound (valid, a little weaker); the ratio objective / LP bound per checkpoint;
- peak resident memory of the subprocess.

Examples:
    python benchmarks/scale.py --sizes S,M,L --time-limit 60
    python benchmarks/scale.py --sizes XL --time-limit 60 --json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.core.generate import generate
from allocator.model import POINT_SCALE
from allocator.solve import cpsat
from allocator.solve.bounds import lagrangian_bound
from allocator.solve.compiled import compile_portfolio, evaluate
from allocator.solve.heuristics import greedy_selection
from allocator.solve.mip import solve_mip
from allocator.solve.relaxation import column_generation
from allocator.solver import SolveOptions, solve_compiled

SIZES = {"S": (50, 200), "M": (200, 1000), "L": (1000, 5000), "XL": (3000, 15000)}
CHECKPOINTS = (10.0, 30.0, 60.0, 120.0)


def measure(
    size: str, time_limit: float, seed: int, lp_limit: float, plain: bool, fast: bool = False
) -> dict:
    engineers, opportunities = SIZES[size]
    portfolio = generate(engineers, opportunities, seed=seed)
    started = time.perf_counter()
    problem = compile_portfolio(portfolio)
    compile_seconds = time.perf_counter() - started

    started = time.perf_counter()
    greedy = greedy_selection(problem)
    greedy_seconds = time.perf_counter() - started
    greedy_value = sum(evaluate(problem, greedy).values()) if greedy is not None else 0

    timeline: list[tuple[float, float, float]] = []
    options = SolveOptions(time_limit=time_limit, workers=2, seed=seed, reproducible=not fast)
    solve_started = time.perf_counter()
    result = solve_compiled(
        problem,
        options,
        on_progress=lambda p: timeline.append((p.seconds, p.objective, p.best_bound)),
    )
    solve_seconds = time.perf_counter() - solve_started
    objective = result.objective / POINT_SCALE
    bound = None if result.best_bound is None else result.best_bound / POINT_SCALE

    lp_bound, lp_kind, lp_seconds = _lp_bound(problem, greedy_value, lp_limit)
    row = {
        "size": size,
        "engineers": engineers,
        "opportunities": opportunities,
        "demands": problem.n_demands,
        "pairs": problem.n_pairs,
        "compile_seconds": round(compile_seconds, 3),
        "first_feasible_seconds": _round(result.first_solution_seconds),
        "greedy_seconds": round(greedy_seconds, 3),
        "greedy_objective": greedy_value / POINT_SCALE,
        "objective": objective,
        "best_bound": bound,
        "gap": None if bound is None else round((bound - objective) / max(1.0, abs(bound)), 5),
        "status": result.status.value,
        "mode": "fast" if fast else "default",
        "engine": result.parameters.get("engine"),
        "wall_seconds": round(compile_seconds + solve_seconds, 2),
        "wall_clock_cut": result.parameters.get("wall_clock_cut"),
        "lp_bound": lp_bound,
        "lp_bound_kind": lp_kind,
        "lp_seconds": lp_seconds,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    for mark in CHECKPOINTS:
        seen = [t for t in timeline if t[0] <= mark]
        value = seen[-1][1] if seen else None
        row[f"objective_at_{mark:.0f}s"] = value
        row[f"bound_at_{mark:.0f}s"] = seen[-1][2] if seen else None
        bound_then = seen[-1][2] if seen else None
        row[f"gap_at_{mark:.0f}s"] = (
            None
            if bound_then is None or value is None
            else round((bound_then - value) / max(1.0, abs(bound_then)), 5)
        )
        row[f"lp_ratio_at_{mark:.0f}s"] = (
            None if value is None or not lp_bound else round(value / lp_bound, 5)
        )
    if plain:
        params = {"num_workers": 2, "max_time_in_seconds": time_limit, "random_seed": seed}
        run = cpsat.run_cpsat(problem, params)
        row["plain_cpsat_objective"] = (
            None if run.objective is None else run.objective / POINT_SCALE
        )
        row["plain_cpsat_first_seconds"] = _round(run.first_solution_seconds)
    return row


def _lp_bound(problem, target: int, limit: float) -> tuple[float | None, str, float]:
    """The LP bound: HiGHS on the whole LP when small; else the LP by column generation
    (`solve/relaxation.py`), run to convergence within `limit` (its value is then the LP over
    every pair, without the one-role-per-opportunity rows); else the best proven bound."""
    started = time.perf_counter()
    if problem.n_pairs <= 100_000:
        lp = solve_mip(problem, limit, relax=True)
        if math.isfinite(lp.bound):
            return lp.bound / POINT_SCALE, "lp", round(time.perf_counter() - started, 2)
    prices = lagrangian_bound(problem, target, time_limit=limit, max_iterations=60)
    plan = column_generation(problem, prices, None, started + limit, max_rounds=100)
    kind = "lp (column generation)" if plan.converged else "lp duals, not converged"
    return plan.bound.bound / POINT_SCALE, kind, round(time.perf_counter() - started, 2)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="S,M,L,XL")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lp-limit", type=float, default=60.0)
    parser.add_argument("--plain", action="store_true", help="Also run plain CP-SAT.")
    parser.add_argument("--fast", action="store_true", help="--fast mode instead of the default.")
    parser.add_argument("--json", action="store_true", help="One JSON object per row.")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # Internal: measure one size here.
    args = parser.parse_args(argv)
    if args.one:
        row = measure(args.one, args.time_limit, args.seed, args.lp_limit, args.plain, args.fast)
        print(json.dumps(row))
        return
    rows = []
    for size in args.sizes.split(","):
        command = (
            [
                sys.executable,
                __file__,
                "--one",
                size,
                "--time-limit",
                str(args.time_limit),
                "--seed",
                str(args.seed),
                "--lp-limit",
                str(args.lp_limit),
            ]
            + (["--plain"] if args.plain else [])
            + (["--fast"] if args.fast else [])
        )
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        row = json.loads(output.strip().splitlines()[-1])
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            _print(row)
    if not args.json:
        print(
            f"\nmachine: {os.cpu_count()} cores; time limit {args.time_limit:g} s; seed {args.seed}"
        )


def _print(row: dict) -> None:
    def fmt(value: object, pattern: str = "{:,.0f}") -> str:
        return "-" if value is None else pattern.format(value)

    print(
        f"{row['size']:3} {row['engineers']:>5}x{row['opportunities']:<6} pairs {row['pairs']:>9,} "
        f"compile {row['compile_seconds']:6.2f}s first {fmt(row['first_feasible_seconds'], '{:.2f}')}s "
        f"greedy {fmt(row['greedy_objective'])} "
        + " ".join(
            f"@{m:.0f}s {fmt(row[f'objective_at_{m:.0f}s'])} (gap {fmt(row[f'gap_at_{m:.0f}s'], '{:.2%}')},"
            f" /LP {fmt(row[f'lp_ratio_at_{m:.0f}s'], '{:.3f}')})"
            for m in CHECKPOINTS
        )
        + f" {row['lp_bound_kind']} bound {fmt(row['lp_bound'])} peak {row['peak_rss_mib']:.0f} MiB"
        + f" wall {row['wall_seconds']:.1f}s{' (cut)' if row['wall_clock_cut'] else ''}",
        flush=True,
    )


if __name__ == "__main__":
    main()
