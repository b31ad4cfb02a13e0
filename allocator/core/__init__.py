"""Core layer: the domain's hard rules (`rules`), the independent checker (`check`) and the
portfolio generator (`generate`), behind the domain front door `allocator.model`.

May import `allocator.errors`, `allocator.model` and other core modules only; never the solver,
io, explanations, what-if, service, store, web or CLI layers.
"""
