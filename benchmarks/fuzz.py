"""Shape fuzz (issue 9): generated portfolios of every shape, solved in both modes, all checked.

Not part of `make test`: it takes minutes. The cases (`--list` prints them):
- every shape of `allocator.core.shapes` at sizes S to M (20 x 80 up to 200 x 1,000; crm with
  its small team: 8 x 200 up to 36 x 2,089), several generation seeds each, the solver's seed
  varying with the case;
- per shape, portfolios with directives drawn at random: extra time off, pins (a random
  subset of the value-density baseline's own assignments on that portfolio, so that the pins
  can all hold), forbids (pairs that baseline does not use) and previous assignments (some
  kept from the baseline, some random);
- `issue9-crash`: the crash of issue 9 point 1 (generate 200 x 1000 seed 11, solve seed 3,
  time limit 20 s, 2 workers), with its own time limit.
Each portfolio is solved by `allocator.solver.solve` in the default (reproducible) mode and in
the fast mode (`SolveOptions(reproducible=False)`). Every exception is caught, counted and
printed with its case (shape, sizes, seeds) and traceback. Every result goes through JSON and
the independent checker, as `allocator check` does it; a result without a solution (every
case here is feasible), a checker violation or an objective that the checker does not
recompute is a failure. The wall time of each solve is reported against its limit; with
`--strict-time` a solve whose wall time exceeds its limit by more than 10 % fails too (issue
9: `--time-limit` is what the user waits for). With `--repeat` every default-mode solve runs
twice and must give the same assignments and objective (the reproducible mode's promise).
With `--isolate` each case runs in its own subprocess, so that a crash of the process itself
(a native abort in an engine) is counted as an exception of that case, not the end of the fuzz.

Prints one line per solve, then a summary per shape and mode, and exits 1 when any solve
raised or failed (2 when the arguments are wrong).

Examples:
    python benchmarks/fuzz.py                                   # all cases, 3 s per solve
    python benchmarks/fuzz.py --time-limit 5 --json > fuzz.jsonl
    python benchmarks/fuzz.py --only crm --modes fast           # a subset
    python benchmarks/fuzz.py --only issue9-crash
    python benchmarks/fuzz.py --only '20x80|8x200' --repeat --strict-time
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import traceback
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.core.check import check
from allocator.core.shapes import SHAPES, generate_shape
from allocator.model import Allocation, Portfolio
from allocator.solve.baselines import run_baseline
from allocator.solver import SolveOptions, solve

MODES = ("default", "fast")
SIZES = [(20, 80), (50, 200), (100, 500), (200, 1000)]
CRM_SIZES = [(8, 200), (16, 600), (24, 1200), (36, 2089)]
SEEDS_PER_SIZE = (3, 3, 2, 2)
"""Generation seeds at each size (more at the small, cheap sizes)."""
DIRECTED_SIZES = [(20, 80), (50, 200), (100, 500)]
DIRECTED_CRM_SIZES = [(8, 200), (16, 600), (36, 2089)]
OBJECTIVE_TOLERANCE = 0.011
"""Points: the solver and the checker count in hundredths of a point."""
TIME_TOLERANCE = 1.1
"""With --strict-time: a solve may take at most this times its limit, wall clock."""


KINDS = ("exception", "no solution", "checker", "objective", "over time", "not reproducible")
"""The kinds of failure, as counted in the summary."""


@dataclass(frozen=True)
class Case:
    """One portfolio to solve in each mode."""

    name: str
    shape: str
    engineers: int
    opportunities: int
    seed: int
    solve_seed: int = 0
    directives: bool = False
    """Add time off, pins, forbids and previous assignments drawn at random (seed + 1000)."""
    time_limit: float | None = None
    """Seconds per solve; None: the run's --time-limit."""
    workers: int = 2


@dataclass
class Outcome:
    """One solve of one case in one mode."""

    case: str
    shape: str
    mode: str
    engineers: int
    opportunities: int
    seed: int
    solve_seed: int
    directives: bool
    time_limit: float
    pins: int = 0
    forbids: int = 0
    previous: int = 0
    demands: int = 0
    status: str = ""
    engine: str = ""
    objective: float | None = None
    best_bound: float | None = None
    greedy: float | None = None
    """The value-density baseline's objective on the same portfolio."""
    wall_seconds: float = 0.0
    failure: str = ""
    """'' when the solve passed; else one of KINDS."""
    detail: list[str] = field(default_factory=list)


def cases() -> list[Case]:
    """Every case of the fuzz, in the order it runs (deterministic)."""
    out: list[Case] = []
    for shape in SHAPES:
        sizes = CRM_SIZES if shape == "crm" else SIZES
        for (engineers, opportunities), seeds in zip(sizes, SEEDS_PER_SIZE, strict=True):
            for seed in range(1, seeds + 1):
                out.append(
                    Case(
                        f"{shape}-{engineers}x{opportunities}-s{seed}",
                        shape,
                        engineers,
                        opportunities,
                        seed,
                        solve_seed=(seed + engineers) % 5,
                    )
                )
        for k, (engineers, opportunities) in enumerate(
            DIRECTED_CRM_SIZES if shape == "crm" else DIRECTED_SIZES
        ):
            seed = 21 + k
            out.append(
                Case(
                    f"{shape}-{engineers}x{opportunities}-s{seed}-directives",
                    shape,
                    engineers,
                    opportunities,
                    seed,
                    solve_seed=k,
                    directives=True,
                )
            )
    out.append(Case("issue9-crash", "standard", 200, 1000, 11, 3, time_limit=20.0, workers=2))
    return out


def build(case: Case) -> Portfolio:
    """The case's portfolio, with its random directives when it has them."""
    portfolio = generate_shape(case.shape, case.engineers, case.opportunities, case.seed)
    return with_directives(portfolio, case.seed + 1000) if case.directives else portfolio


def with_directives(portfolio: Portfolio, seed: int) -> Portfolio:
    """The portfolio with random time off, then pins, forbids and previous assignments.

    The pins are a random subset of the value-density baseline's assignments on the portfolio
    with its new time off, so one allocation (that baseline's) holds every pin and avoids every
    forbid: the portfolio stays feasible.
    """
    rng = np.random.default_rng(seed)
    data = portfolio.model_dump(mode="json")
    horizon = portfolio.horizon_weeks
    for engineer in data["engineers"]:
        if rng.random() < 0.2:
            week = str(int(rng.integers(1, horizon + 1)))
            hours = min(float(engineer["capacity_hours"]), 8.0 * int(rng.integers(1, 5)))
            engineer["time_off"][week] = hours
    portfolio = Portfolio.model_validate(data)
    base = run_baseline(portfolio, "value_density")
    used = base.assignments
    take = rng.permutation(len(used))
    pinned = [used[int(i)] for i in take[: max(1, len(used) // 20)]] if used else []
    pins = [
        {
            "engineer_id": a.engineer_id,
            "opportunity_id": a.opportunity_id,
            # Half pin the demand, half only the opportunity.
            "demand_id": a.demand_id if k % 2 == 0 else "",
            "set_by": "fuzz",
        }
        for k, a in enumerate(pinned)
    ]
    served = {(a.engineer_id, a.demand_id) for a in used}
    on_opportunity = {(a.engineer_id, a.opportunity_id) for a in used}
    engineers = [e.id for e in portfolio.engineers]
    demands = list(portfolio.demands)
    forbids: list[dict[str, str]] = []
    for _ in range(max(1, len(engineers) // 4)):
        engineer = engineers[int(rng.integers(len(engineers)))]
        demand = demands[int(rng.integers(len(demands)))]
        whole = bool(rng.random() < 0.5)
        if (engineer, demand.opportunity_id) in on_opportunity and (
            whole or (engineer, demand.id) in served
        ):
            continue
        forbids.append(
            {
                "engineer_id": engineer,
                "opportunity_id": demand.opportunity_id,
                "demand_id": "" if whole else demand.id,
                "set_by": "fuzz",
            }
        )
    previous = [
        {"engineer_id": a.engineer_id, "opportunity_id": a.opportunity_id, "demand_id": a.demand_id}
        for a in (used[int(i)] for i in take[len(pinned) : len(pinned) + len(used) // 10])
    ]
    for _ in range(max(1, len(engineers) // 5)):
        demand = demands[int(rng.integers(len(demands)))]
        previous.append(
            {
                "engineer_id": engineers[int(rng.integers(len(engineers)))],
                "opportunity_id": demand.opportunity_id,
                "demand_id": demand.id if rng.random() < 0.5 else "",
            }
        )
    data = portfolio.model_dump(mode="json")
    data.update(pins=pins, forbids=_unique(forbids), previous=_unique(previous))
    return Portfolio.model_validate(data)


def _unique(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: dict[tuple[str, ...], dict[str, str]] = {}
    for row in rows:
        seen.setdefault((row["engineer_id"], row["opportunity_id"], row["demand_id"]), row)
    return list(seen.values())


def run_case(
    case: Case, modes: list[str], time_limit: float, repeat: bool = False, strict: bool = False
) -> list[Outcome]:
    """Solve the case in each mode; never raises. See the module doc for `repeat`, `strict`."""
    limit = case.time_limit if case.time_limit is not None else time_limit
    template = Outcome(
        case.name,
        case.shape,
        "",
        case.engineers,
        case.opportunities,
        case.seed,
        case.solve_seed,
        case.directives,
        limit,
    )
    try:
        portfolio = build(case)
        greedy = run_baseline(portfolio, "value_density")
    except Exception:
        failed = _copy(template, mode="generate")
        failed.failure = "exception"
        failed.detail = traceback.format_exc().splitlines()
        return [failed]
    outcomes = []
    for mode in modes:
        outcome = _copy(template, mode=mode)
        outcome.pins, outcome.forbids = len(portfolio.pins), len(portfolio.forbids)
        outcome.previous, outcome.demands = len(portfolio.previous), len(portfolio.demands)
        outcome.greedy = greedy.objective
        options = SolveOptions(
            time_limit=limit,
            workers=case.workers,
            seed=case.solve_seed,
            reproducible=mode == "default",
        )
        started = time.perf_counter()
        try:
            result = solve(portfolio, options)
            outcome.wall_seconds = round(time.perf_counter() - started, 2)
            _judge(portfolio, result, outcome)
            if not outcome.failure and strict and outcome.wall_seconds > TIME_TOLERANCE * limit:
                outcome.failure = "over time"
                outcome.detail = [f"{outcome.wall_seconds} s of wall time for a {limit:g} s limit"]
            if not outcome.failure and repeat and mode == "default":
                again = solve(portfolio, options)
                if _picked(again) != _picked(result) or again.objective != result.objective:
                    outcome.failure = "not reproducible"
                    outcome.detail = [
                        f"objective {result.objective} then {again.objective}; "
                        f"{len(_picked(result) ^ _picked(again))} assignments differ"
                    ]
        except Exception:
            outcome.wall_seconds = round(time.perf_counter() - started, 2)
            outcome.failure = "exception"
            outcome.detail = traceback.format_exc().splitlines()
        outcomes.append(outcome)
    return outcomes


def _picked(result: Allocation) -> set[tuple[str, str]]:
    return {(a.engineer_id, a.demand_id) for a in result.assignments}


def _copy(outcome: Outcome, mode: str) -> Outcome:
    data = asdict(outcome)
    data["mode"] = mode
    return Outcome(**data)


def _judge(portfolio: Portfolio, result: Allocation, outcome: Outcome) -> None:
    """Fill the outcome from the result; the checker reads the result as written to JSON."""
    outcome.status = result.status.value
    outcome.engine = str(result.solver.parameters.get("engine", ""))
    outcome.objective, outcome.best_bound = result.objective, result.best_bound
    if not result.status.has_solution:
        outcome.failure = "no solution"
        outcome.detail = [f"status {result.status.value}: {result.message}", *result.conflicts]
        return
    written = Allocation.model_validate_json(result.model_dump_json())
    report = check(portfolio, written)
    if not report.ok:
        outcome.failure = "checker"
        outcome.detail = [str(v) for v in report.violations[:20]]
        return
    if abs(report.objective - (result.objective or 0.0)) > OBJECTIVE_TOLERANCE:
        outcome.failure = "objective"
        outcome.detail = [f"solver {result.objective}, checker {report.objective}"]


# ---------------------------------------------------------------------------------------------
# Output


def _fmt(value: float | None, pattern: str = "{:,.0f}") -> str:
    return "-" if value is None else pattern.format(value)


def print_outcome(outcome: Outcome) -> None:
    ratio = (
        outcome.objective / outcome.greedy
        if outcome.objective is not None and outcome.greedy
        else None
    )
    directives = (
        f" pins {outcome.pins} forbids {outcome.forbids} previous {outcome.previous}"
        if outcome.directives
        else ""
    )
    print(
        f"{outcome.case:42} {outcome.mode:7} {outcome.status or '-':10} "
        f"{outcome.engine or '-':9} obj {_fmt(outcome.objective):>12} "
        f"bound {_fmt(outcome.best_bound):>12} x greedy {_fmt(ratio, '{:.3f}'):>6} "
        f"{outcome.wall_seconds:6.2f}/{outcome.time_limit:g} s "
        f"{'OK' if not outcome.failure else 'FAIL ' + outcome.failure}{directives}",
        flush=True,
    )
    if outcome.failure:
        print(
            f"  case {outcome.case}: shape {outcome.shape}, {outcome.engineers} x "
            f"{outcome.opportunities}, generate seed {outcome.seed}, solve seed "
            f"{outcome.solve_seed}, mode {outcome.mode}, time limit {outcome.time_limit:g}",
            flush=True,
        )
        for line in outcome.detail:
            print(f"  | {line}", flush=True)


def print_summary(outcomes: list[Outcome]) -> None:
    groups: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.shape, outcome.mode].append(outcome)
    print()
    print(
        "| shape | mode | solves | exceptions | no solution | checker rejected | objective "
        "mismatch | over time | not reproducible | mean x greedy | min x greedy "
        "| max wall / limit |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (shape, mode), rows in groups.items():
        count = {kind: sum(r.failure == kind for r in rows) for kind in KINDS}
        ratios = [r.objective / r.greedy for r in rows if r.objective is not None and r.greedy]
        over = [r.wall_seconds / r.time_limit for r in rows if r.time_limit]
        print(
            f"| {shape} | {mode} | {len(rows)} | {count['exception']} | {count['no solution']} "
            f"| {count['checker']} | {count['objective']} | {count['over time']} "
            f"| {count['not reproducible']} "
            f"| {_fmt(np.mean(ratios) if ratios else None, '{:.3f}')} "
            f"| {_fmt(min(ratios) if ratios else None, '{:.3f}')} "
            f"| {_fmt(max(over) if over else None, '{:.2f}')} |"
        )
    failed = [o for o in outcomes if o.failure]
    print()
    print(
        f"{len(outcomes)} solves of {len({o.case for o in outcomes})} portfolios: "
        f"{sum(o.failure == 'exception' for o in outcomes)} exceptions, "
        f"{len(failed)} failures in all; machine: {os.cpu_count()} cores"
    )
    for o in failed:
        print(f"  FAIL {o.failure}: {o.case} mode {o.mode} (solve seed {o.solve_seed})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time-limit", type=float, default=3.0, help="Seconds per solve.")
    parser.add_argument("--modes", default=",".join(MODES), help="default,fast")
    parser.add_argument("--only", help="Run only the cases whose name matches this regex.")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="Comma-separated shapes.")
    parser.add_argument("--limit", type=int, help="Run at most this many cases.")
    parser.add_argument("--list", action="store_true", help="Print the cases and exit.")
    parser.add_argument("--json", action="store_true", help="One JSON object per solve.")
    parser.add_argument(
        "--repeat", action="store_true", help="Solve each default-mode case twice; compare."
    )
    parser.add_argument(
        "--strict-time", action="store_true", help="Fail solves over 1.1 x their time limit."
    )
    parser.add_argument(
        "--isolate", action="store_true", help="Run each case in its own subprocess."
    )
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    if any(mode not in MODES for mode in modes):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    shapes = set(args.shapes.split(","))
    if not shapes <= set(SHAPES):
        parser.error(f"--shapes: choose from {', '.join(SHAPES)}")
    chosen = [
        c
        for c in cases()
        if c.shape in shapes and (args.only is None or re.search(args.only, c.name))
    ][: args.limit]
    if args.list:
        for c in chosen:
            print(json.dumps(asdict(c)))
        print(f"{len(chosen)} cases", file=sys.stderr)
        return 0
    outcomes: list[Outcome] = []
    for case in chosen:
        if args.isolate:
            found = run_isolated(case, args)
        else:
            found = run_case(case, modes, args.time_limit, args.repeat, args.strict_time)
        for outcome in found:
            outcomes.append(outcome)
            if args.json:
                print(json.dumps(_json(outcome)), flush=True)
            else:
                print_outcome(outcome)
    if not args.json:
        print_summary(outcomes)
    return 1 if any(o.failure for o in outcomes) else 0


def run_isolated(case: Case, args: argparse.Namespace) -> list[Outcome]:
    """`run_case` in a fresh subprocess; a process that dies is the case's exception."""
    command = [sys.executable, __file__, "--only", f"^{re.escape(case.name)}$", "--json"]
    command += ["--time-limit", str(args.time_limit), "--modes", args.modes]
    command += ["--repeat"] if args.repeat else []
    command += ["--strict-time"] if args.strict_time else []
    limit = case.time_limit if case.time_limit is not None else args.time_limit
    budget = 120 + 6 * limit * len(args.modes.split(","))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=budget)
        lines, code, errors = done.stdout.splitlines(), done.returncode, done.stderr
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout or b""
        lines = (out.decode() if isinstance(out, bytes) else out).splitlines()
        code, errors = None, f"killed after {budget:g} s"
    outcomes = [Outcome(**json.loads(line)) for line in lines if line.startswith("{")]
    if code not in (0, 1) or not outcomes:
        died = Outcome(
            case.name,
            case.shape,
            "process",
            case.engineers,
            case.opportunities,
            case.seed,
            case.solve_seed,
            case.directives,
            limit,
            failure="exception",
            detail=[f"the case's process ended with exit code {code}", *errors.splitlines()[-20:]],
        )
        outcomes.append(died)
    return outcomes


def _json(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)


if __name__ == "__main__":
    raise SystemExit(main())
