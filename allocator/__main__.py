"""`python -m allocator` runs the command line."""

from allocator.cli.main import app

app()
