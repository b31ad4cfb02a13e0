"""Presales allocation engine: assigns presales engineers to sales opportunities with CP-SAT.

Layers, bottom up; imports point down only (tests/test_layers.py checks every import).
`model.py`, `solver.py` and `api.py` stay at the top level as the front doors of the domain,
the solve entry point and the HTTP app:
    cli/      main (the `allocator` command), explain, whatif, insight, errors   edges
    web/      routes/* (one per resource), uploads; app: api.py           edges
    store/    repository (the jobs table and its queue methods), insight, migrations/
    service/  jobs (one queue, workers, recovery for every kind), runs, scenario_sets,
              explanations (per-kind views), insight (imports, reports), ledger, keys,
              settings
    explain/  explanations, job         whatif/  scenarios, sweep, compare, ratios, hiring, plots,
                                                 job
    insight/  records (actuals, outcomes, plan), stats, feedback, investment, calibration,
              contribution, evidence, history (the generator), plots  (beside explain, whatif)
    solve/    compiled, formulation, cpsat, conflicts, mip (HiGHS), lns, bounds, heuristics,
              incumbent, baselines, gap, job; strategy: solver.py     io/  formats, report
    core/     rules, check (independent checker), generate, recent (kept answers)
    domain    model.py, errors.py
"""

__version__ = "0.1.0"
