"""Service layer: background work (the run queue and workers, scenario sets), the hash-chained
ledger records, API keys and the service settings.

May import everything below it (errors, model, core, solver, solve, io, explain, whatif);
never the store, web or CLI layers.
"""
