"""Presales allocation engine: assigns presales engineers to sales opportunities with CP-SAT.

Layers, imports pointing down only:
    edges    cli, cli_explain, cli_whatif, cli_errors, formats (files), uploads, api,
             routers/*, store, migrations, settings, keys, ledger, plots
    service  runs (queue + workers), scenario_service, explain, report, baselines,
             scenarios, sweep, compare, ratios, hiring
    solver   solver (strategy), cpsat, mip (HiGHS), lns, bounds, heuristics, incumbent,
             formulation, compiled, check (independent checker), rules, gap, generate
    domain   model, errors
"""

__version__ = "0.1.0"
