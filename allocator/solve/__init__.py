"""Solve layer: compiled candidate pairs, the one formulation, the engines (CP-SAT, HiGHS),
the large-neighbourhood search, bounds, heuristics, the shared incumbent, the baselines and
the GAP benchmark reader, behind the solve entry point and strategy `allocator.solver`.

May import `allocator.errors`, `allocator.model`, `allocator.core` and other solve modules;
never io, explanations, what-if, service, store, web or CLI.
"""
