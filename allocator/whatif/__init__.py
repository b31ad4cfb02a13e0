"""What-if layer: scenarios and their edits, sweeps, comparisons with the base, ratio curves,
hiring plans and their plots.

May import the layers below it: `allocator.errors`, `allocator.model`, `allocator.core`,
`allocator.solver`, `allocator.solve` and `allocator.io`; never explanations, service,
store, web or CLI.
"""
