"""Explanations layer: why each opportunity got (or did not get) people, the price of
forcing a change, fairness and conflicts (`explanations`).

May import the layers below it: `allocator.errors`, `allocator.model`, `allocator.core`,
`allocator.solver`, `allocator.solve` and `allocator.io`; never what-if, service, store,
web or CLI.
"""
