"""I/O layer: portfolio and result formats (JSON, CSV folders, XLSX) and the plain figures
(`report`) computed from an allocation; later imports and exports.

May import `allocator.errors`, `allocator.model`, `allocator.core` and `allocator.solve`
(at the same level as solve); never explanations, what-if, service, store, web or CLI.
"""
