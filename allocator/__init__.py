"""Presales allocation engine: assigns presales engineers to sales opportunities with CP-SAT.

Layers, imports pointing down only:
    edges    cli, formats (files), api, store
    service  report, baselines, (explain, scenarios)
    solver   solver (CP-SAT core), check (independent checker), rules
    domain   model, errors
"""

__version__ = "0.1.0"
