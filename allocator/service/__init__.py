"""Service layer: background work (one job pipeline: `jobs` holds the queue, the workers and
recovery; `runs`, `scenario_sets` and `explanations` are its kinds, each with typed records and
a pure handler in solve/, whatif/ or explain/), the hash-chained ledger records, API keys and
the service settings. `jobs`, `portfolios`, `ledger`, `keys` and `settings` load no solver.

May import everything below it (errors, model, core, solver, solve, io, explain, whatif);
never the store, web or CLI layers.
"""
