"""Presales investment and contribution: what the hours actually spent and the deals won say.

Explain/what-if layer: reads portfolios, runs' results, actuals and outcomes; never solves
except where a what-if asks for it (`calibration.calibrated_whatif`), never stores. Modules:

- `records`: actuals (hours per engineer, opportunity and ISO week) and outcomes (won with
  value, lost, no decision, open, with a date); reading them from CSV/XLSX; the plan of a
  history of runs and planned vs actual.
- `stats`: the intervals every rate carries (Wilson score for proportions, percentile
  bootstrap for means and ratios of sums), each with its sample size.
- `feedback`: actuals into the next run (hours spent beyond plan count as committed; an
  engineer over plan, or with no actuals, is flagged).
- `investment`, `calibration`, `contribution`, `evidence`: the four reports.
- `history`: a generated history (weekly runs with the real solver, noisy actuals, outcomes
  drawn from the win probabilities with a plantable bias).
- `plots`: the reliability plot and the investment plot, as PNG bytes.

Data honesty: every figure names its sample size and period; missing actuals are missing
(counted and listed), never zero.
"""
