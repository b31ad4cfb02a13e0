"""A child process that ends with its parent: solver processes never outlive what started them.

`die_with_parent()` is called first thing in a spawned child (a job worker, a sweep's pool
process). It sets two watches, so that a parent killed with SIGKILL (which runs no clean-up)
takes its children along within a fraction of a second:

- on Linux, `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills the child the moment the
  parent (strictly: the parent's thread that started it) ends, even while the child is deep in
  a solver's C++ code;
- everywhere, a daemon thread that waits on the parent's multiprocessing sentinel (a pipe
  whose other end only the parent holds: it reads end-of-file when the parent dies) and, for a
  child started some other way, polls `os.getppid()`; either ends the process with exit code
  `ORPHANED`.

Imports only the standard library (the job workers import it before any solver).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading

ORPHANED = 70
"""The exit code of a child that ended because its parent had died."""

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None = None, poll_seconds: float = 0.5) -> bool:
    """Watch the parent (`parent_pid`, by default the current parent); end this process when it
    dies. Returns whether the kernel watch (Linux prctl) is set; the thread is set always."""
    expected = os.getppid() if parent_pid is None else parent_pid
    kernel = _set_pdeathsig()
    if os.getppid() != expected:  # The parent died before the watch was set.
        os._exit(ORPHANED)
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None) if parent is not None else None
    watcher = threading.Thread(
        target=_watch,
        args=(expected, sentinel, poll_seconds),
        name="allocator-parent-watch",
        daemon=True,
    )
    watcher.start()
    return kernel


def _set_pdeathsig() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, sentinel: int | None, poll_seconds: float) -> None:
    while os.getppid() == parent_pid:
        if sentinel is not None:
            if multiprocessing.connection.wait([sentinel], timeout=poll_seconds):
                break  # End of file: the parent is gone.
        else:
            threading.Event().wait(poll_seconds)
    os._exit(ORPHANED)
