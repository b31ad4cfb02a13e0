"""How the command line answers the core's errors: one line per problem, exit code 2.

Shared by every command module (`cli.py`, `cli_whatif.py`, `cli_explain.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from allocator.errors import AllocatorError, InvalidInputError

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2

errors = Console(stderr=True)


@contextmanager
def bad_input_exits() -> Iterator[None]:
    """Turn the core's errors into one line per problem on stderr and exit code 2."""
    try:
        yield
    except InvalidInputError as error:
        for line in error.lines():
            errors.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except AllocatorError as error:
        errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
