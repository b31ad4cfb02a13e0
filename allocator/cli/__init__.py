"""CLI layer (the command-line edge): the `allocator` command (`main`, the console script
`allocator.cli.main:app`), its explanation and what-if commands (`explain`, `whatif`) and
the input-error printing (`errors`).

May import every layer below it (errors, model, core, solve, io, explain, whatif, service,
store, and the web app through `allocator.api`); nothing imports the CLI.
"""
