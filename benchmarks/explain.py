"""Explanation speed: one unstaffed opportunity's full explanation, price included.

Generates a portfolio (default L: 1,000 engineers x 5,000 opportunities), solves it once, then
times, for several unstaffed opportunities: building the run's look-ups (`Run.of`: compile +
mapping the result, done once per run and cached by a service) and one full explanation
(roles, reasons, the price of forcing it by re-solve, what it would take).

Example:
    python benchmarks/explain.py --engineers 1000 --opportunities 5000 --time-limit 30
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.core.generate import generate
from allocator.explain.explanations import Run, explain_opportunity
from allocator.solver import SolveOptions, solve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engineers", type=int, default=1000)
    parser.add_argument("--opportunities", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=30.0, help="The run's own solve.")
    parser.add_argument("--price-limit", type=float, default=2.0, help="Each price re-solve.")
    parser.add_argument("--count", type=int, default=5, help="Opportunities explained.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    portfolio = generate(args.engineers, args.opportunities, seed=args.seed)
    allocation = solve(portfolio, SolveOptions(time_limit=args.time_limit, seed=args.seed))
    started = time.perf_counter()
    run = Run.of(portfolio, allocation)
    setup = time.perf_counter() - started
    unstaffed = [
        o.id for o in portfolio.opportunities if o.id not in run.staffed and run.roles_of.get(o.id)
    ]
    # The most valuable unstaffed ones: the ones a sales director asks about.
    unstaffed.sort(key=lambda o: -run.value[o])
    rows = []
    for opportunity_id in unstaffed[: args.count]:
        started = time.perf_counter()
        explanation = explain_opportunity(run, opportunity_id, time_limit=args.price_limit)
        seconds = time.perf_counter() - started
        price = explanation.price
        row = {
            "opportunity_id": opportunity_id,
            "explain_seconds": round(seconds, 3),
            "run_setup_seconds": round(setup, 3),
            "price_seconds": None if price is None else round(price.seconds, 3),
            "price_points": None if price is None else price.objective_change,
            "price_method": None if price is None else price.method,
        }
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(
                f"{opportunity_id}: explanation {seconds:.2f} s (price {row['price_seconds']} s, "
                f"{row['price_points']} points); run set-up {setup:.2f} s once",
                flush=True,
            )
    if not args.json and rows:
        worst = max(r["explain_seconds"] for r in rows)
        print(
            f"\n{args.engineers} x {args.opportunities}: worst explanation {worst:.2f} s, "
            f"set-up {setup:.2f} s once per run; machine {os.cpu_count()} cores"
        )


if __name__ == "__main__":
    main()
