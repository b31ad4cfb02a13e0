"""The memory cap of a worker process, and how a job that hits it is told.

A worker caps its own address space (`RLIMIT_AS`, where the platform has it) at
`ALLOCATOR_WORKER_MEMORY_MB`, so that one job cannot take the machine, and the server beside
it, down: an allocation past the cap fails in that worker (Python's `MemoryError`, which ends
the job `failed` with the words of `failure_text`), and the server goes on answering. Imports
nothing from the package.
"""

from __future__ import annotations

import contextlib

try:
    import resource
except ImportError:  # Not on this platform (Windows): no cap.
    resource = None  # type: ignore[assignment]


def cap_memory(megabytes: int) -> int | None:
    """Cap this process's address space at `megabytes` MiB (0: no cap). Returns the cap set,
    in bytes, or None when none was (no `resource`, or a hard limit already lower)."""
    if not megabytes or resource is None or not hasattr(resource, "RLIMIT_AS"):
        return None
    wanted = megabytes * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
        return wanted
    return None


def failure_text(failure: BaseException) -> str:
    """How a job's failure is recorded: `Type: message`, and for a job that ran out of
    memory, the cap it ran into."""
    if isinstance(failure, MemoryError):
        cap = _current_cap()
        limit = f" of {cap // 2**20} MiB (ALLOCATOR_WORKER_MEMORY_MB)" if cap else ""
        return (
            f"MemoryError: the job needed more memory than the worker's cap{limit}; "
            "make the portfolio smaller (fewer candidate pairs) or raise the cap"
        )
    return f"{type(failure).__name__}: {failure}"


def _current_cap() -> int | None:
    if resource is None or not hasattr(resource, "RLIMIT_AS"):
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft
