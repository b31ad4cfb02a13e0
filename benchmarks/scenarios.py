"""Scenario sweep benchmark: 20 what-if scenarios on the M portfolio (200 engineers x 1,000
opportunities), solved by the local executor (spawned worker processes) and by Ray on a local
instance, with the wall time of each and whether they give the same numbers.

Each sweep solves 22 times: the base from scratch, then the base again and the 20 scenarios
warm-started from it (see `allocator/whatif/sweep.py`). Reported per executor: wall seconds
(including process start-up, or Ray start-up and shutdown); per scenario: expected value
covered, its change against the base, objective, status; then every scenario whose
status, objective, terms or assignments differ between the executors.

Examples:
    python benchmarks/scenarios.py                          # local, then ray; 5 s per solve
    python benchmarks/scenarios.py --executors local --time-limit 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.core.generate import generate
from allocator.solve.compiled import compile_portfolio
from allocator.whatif.compare import compare_sweep
from allocator.whatif.scenarios import (
    AddEngineers,
    ChangeCapacity,
    ChangePipeline,
    ChangePolicy,
    Profile,
    RemoveEngineers,
    Scenario,
    Selection,
    SetRatio,
)
from allocator.whatif.sweep import SweepOptions, SweepResult, fingerprint, run_sweep


def hire(skill: str, region: str, count: int = 1) -> AddEngineers:
    return AddEngineers(profile=Profile(skills={skill: 4}, region=region), count=count)


SCENARIOS = [
    Scenario(name="East +2 architects", edits=(hire("solution_architect", "East", 2),)),
    Scenario(name="North +2 consultants", edits=(hire("presales_consultant", "North", 2),)),
    Scenario(name="Central +1 specialist", edits=(hire("product_specialist", "Central"),)),
    Scenario(name="South +3 consultants", edits=(hire("presales_consultant", "South", 3),)),
    Scenario(name="West +1 cloud", edits=(hire("cloud", "West"),)),
    Scenario(name="5 least used leave", edits=(RemoveEngineers(select=Selection(), count=5),)),
    Scenario(
        name="no West network",
        edits=(RemoveEngineers(select=Selection(region="West", skill="network")),),
    ),
    Scenario(name="capacity -10%", edits=(ChangeCapacity(percent=-10),)),
    Scenario(
        name="East +4 h/week", edits=(ChangeCapacity(select=Selection(region="East"), hours=4),)
    ),
    Scenario(
        name="North architects -20%",
        edits=(
            ChangeCapacity(
                select=Selection(region="North", skill="solution_architect"), percent=-20
            ),
        ),
    ),
    Scenario(name="East 1:2", edits=(SetRatio(region="East", ratio="1:2"),)),
    Scenario(name="North 1:3", edits=(SetRatio(region="North", ratio="1:3"),)),
    Scenario(
        name="finance 1:4",
        edits=(
            SetRatio(
                industry="finance",
                ratio="1:4",
                profile=Profile(skills={"presales_consultant": 4}, region="Central"),
            ),
        ),
    ),
    Scenario(name="government 1:3", edits=(SetRatio(industry="government", ratio="1:3"),)),
    Scenario(name="no travel penalty", edits=(ChangePolicy(changes={"travel_penalty": 0}),)),
    Scenario(
        name="tier A x3",
        edits=(ChangePolicy(changes={"tier_factors": {"A": 3.0, "B": 1.2, "C": 1.0}}),),
    ),
    Scenario(name="pipeline +10%", edits=(ChangePipeline(percent=10),)),
    Scenario(name="East pipeline +25%", edits=(ChangePipeline(percent=25, region="East"),)),
    Scenario(
        name="finance pipeline -20%", edits=(ChangePipeline(percent=-20, industry="finance"),)
    ),
    Scenario(
        name="East growth, staffed",
        edits=(
            ChangePipeline(percent=10, region="East"),
            hire("solution_architect", "East", 3),
        ),
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engineers", type=int, default=200)
    parser.add_argument("--opportunities", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=5.0, help="Per solve.")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--executors", default="local,ray")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    args = parser.parse_args()

    portfolio = generate(args.engineers, args.opportunities, seed=args.seed)
    pairs = compile_portfolio(portfolio).n_pairs
    print(
        f"Portfolio: {args.engineers} engineers x {args.opportunities} opportunities "
        f"(seed {args.seed}), {len(portfolio.demands)} demands, {pairs:,} candidate pairs; "
        f"{len(SCENARIOS)} scenarios, {args.time_limit:g} s per solve, "
        f"{args.processes} processes; {os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}"
    )
    results: dict[str, SweepResult] = {}
    for name in args.executors.split(","):
        options = SweepOptions(
            time_limit=args.time_limit,
            seed=0,
            processes=args.processes,
            executor=name,  # type: ignore[arg-type]
        )
        started = time.perf_counter()
        results[name] = run_sweep(portfolio, SCENARIOS, options)
        print(f"\n{name}: {time.perf_counter() - started:.1f} s wall for 22 solves")
        comparison = compare_sweep(results[name])
        base = comparison.base
        print(f"{'scenario':<24} {'value covered':>14} {'vs base':>12} {'objective':>11}  status")
        print(
            f"{'base':<24} {base.expected_value_covered:>14,.0f} {'':>12} "
            f"{base.objective or 0:>11,.2f}  {base.status}"
        )
        for c in comparison.scenarios:
            f = c.figures
            print(
                f"{c.name:<24} {f.expected_value_covered:>14,.0f} {c.value_delta:>+12,.0f} "
                f"{f.objective or 0:>11,.2f}  {f.status}"
            )
        if args.json:
            print(
                json.dumps(comparison.model_dump(exclude={"scenarios": {"__all__": {"changes"}}}))
            )
    if len(results) > 1:
        (first, a), *others = results.items()
        for second, b in others:
            differ = [
                x.name
                for x, y in zip([a.base, *a.scenarios], [b.base, *b.scenarios], strict=True)
                if fingerprint(x.allocation) != fingerprint(y.allocation)
            ]
            if not differ:
                print(f"\n{first} and {second}: the same numbers for all 21 results")
            else:
                print(f"\n{first} and {second} differ on {len(differ)} of 21: {', '.join(differ)}")
                for x, y in zip([a.base, *a.scenarios], [b.base, *b.scenarios], strict=True):
                    if x.name in differ:
                        print(
                            f"  {x.name:<24} objective {x.allocation.objective} vs "
                            f"{y.allocation.objective}"
                        )


if __name__ == "__main__":
    main()
