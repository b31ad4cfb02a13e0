"""Uplift benchmark: the optimizer against the status quo on the same portfolios.

For generated portfolios where demand exceeds capacity, each method allocates the same
portfolio: the optimizer (`allocator solve`) and the baselines (seniority first, first come
first served, value density). Reported per method:
- expected value covered (currency) and the ratio to the best baseline;
- share of tier-A opportunities staffed;
- spread of utilization across engineers (standard deviation and 90th-10th percentile of
  hours assigned / hours available);
- share of requested expected value covered for the most senior quarter of requesters and
  for the least senior quarter, and a permutation test of the difference (p-value: how often
  a random split of requesters into two such groups differs as much).

Examples:
    python benchmarks/uplift.py --sizes S,M --time-limit 30
    python benchmarks/uplift.py --sizes L --time-limit 60 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.core.check import check
from allocator.core.generate import generate
from allocator.core.rules import hours_free
from allocator.model import Allocation, Portfolio, expected_value
from allocator.solve.baselines import BASELINES, run_baseline
from allocator.solver import SolveOptions, solve

SIZES = {"S": (50, 200), "M": (200, 1000), "L": (1000, 5000)}


def figures(portfolio: Portfolio, allocation: Allocation, rng: np.random.Generator) -> dict:
    """The fairness and value figures of one allocation."""
    staffed = set(allocation.staffed_opportunities)
    asking = {d.opportunity_id for d in portfolio.demands}
    opps = [o for o in portfolio.opportunities if o.id in asking]
    ev = np.array([expected_value(o, portfolio.policy) for o in opps])
    got = np.array([o.id in staffed for o in opps])
    tier_a = np.array([o.tier == "A" for o in opps])
    seniority = np.array([o.requester_seniority_years for o in opps])
    top = seniority >= np.quantile(seniority, 0.75)
    bottom = seniority <= np.quantile(seniority, 0.25)

    def share(mask: np.ndarray) -> float:
        return float((ev * got)[mask].sum() / max(1e-9, ev[mask].sum()))

    difference = share(top) - share(bottom)
    # Permutation test: shuffle seniority among opportunities, same group sizes.
    trials = 2000
    extreme = 0
    for _ in range(trials):
        order = rng.permutation(len(opps))
        a, b = order[: top.sum()], order[top.sum() : top.sum() + bottom.sum()]
        mask_a = np.zeros(len(opps), bool)
        mask_b = np.zeros(len(opps), bool)
        mask_a[a] = True
        mask_b[b] = True
        extreme += abs(share(mask_a) - share(mask_b)) >= abs(difference)
    hours: dict[str, float] = {e.id: 0.0 for e in portfolio.engineers}
    for a in allocation.assignments:
        hours[a.engineer_id] += a.hours * (a.end_week - a.start_week + 1)
    utilization = np.array(
        [
            hours[e.id] / max(1e-9, hours_free(e, portfolio.weeks()))
            for e in portfolio.engineers
            if hours_free(e, portfolio.weeks()) > 0
        ]
    )
    return {
        "expected_value_covered": round(float((ev * got).sum()), 0),
        "tier_a_staffed_share": round(float(got[tier_a].mean()) if tier_a.any() else 0.0, 4),
        "utilization_std": round(float(utilization.std()), 4),
        "utilization_p90_p10": round(
            float(np.quantile(utilization, 0.9) - np.quantile(utilization, 0.1)), 4
        ),
        "senior_quarter_share": round(share(top), 4),
        "junior_quarter_share": round(share(bottom), 4),
        "seniority_difference": round(difference, 4),
        "seniority_p_value": round(extreme / trials, 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="S,M")
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    for size in args.sizes.split(","):
        engineers, opportunities = SIZES[size]
        portfolio = generate(engineers, opportunities, seed=args.seed)
        methods = {name: run_baseline(portfolio, name) for name in BASELINES}
        options = SolveOptions(time_limit=args.time_limit, workers=2, seed=args.seed)
        methods["optimizer"] = solve(portfolio, options)
        rows = []
        for name, allocation in methods.items():
            report = check(portfolio, allocation)
            row = {"size": size, "method": name, "checker_ok": report.ok}
            row.update(figures(portfolio, allocation, rng))
            rows.append(row)
        best = max(r["expected_value_covered"] for r in rows if r["method"] != "optimizer")
        for row in rows:
            row["vs_best_baseline"] = round(row["expected_value_covered"] / max(1.0, best), 4)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"{size:2} {row['method']:24} EV {row['expected_value_covered']:>14,.0f} "
                    f"x{row['vs_best_baseline']:.3f}  tier A {row['tier_a_staffed_share']:.1%}  "
                    f"util sd {row['utilization_std']:.3f} p90-p10 {row['utilization_p90_p10']:.3f}  "
                    f"senior {row['senior_quarter_share']:.1%} junior {row['junior_quarter_share']:.1%} "
                    f"(p {row['seniority_p_value']:.3f})  check {'ok' if row['checker_ok'] else 'FAILED'}",
                    flush=True,
                )
    if not args.json:
        print(f"\nmachine: {os.cpu_count()} cores; optimizer time limit {args.time_limit:g} s")


if __name__ == "__main__":
    main()
