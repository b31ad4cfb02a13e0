"""The best allocation found so far and the best proven bound, shared by engines running at once.

Every engine (greedy, CP-SAT, HiGHS, the neighbourhood search) offers its solutions here; the
value of each is recomputed exactly (`compiled.evaluate`) and only feasible, better ones are
kept. Thread-safe. Reports progress (best objective, bound, seconds) to one callback.

Imports `compiled` only.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from allocator.model import SolveStatus
from allocator.solve.compiled import BoolArray, CompiledProblem, evaluate, is_feasible

Report = Callable[[int, float, float], None]
"""Called with (objective, bound, seconds since start) whenever either improves."""


@dataclass(frozen=True)
class Offer:
    """A solution as one engine found it, with where it came from."""

    chosen: BoolArray
    value: int
    source: str
    seconds: float


@dataclass(frozen=True)
class Outcome:
    """What an engine reports besides the solutions it offered to the incumbent."""

    status: SolveStatus
    """The engine's own verdict: INFEASIBLE or OPTIMAL are final, others are refined."""
    build_seconds: float
    parameters: dict[str, Any]
    solver_objective: int | None = None


class Incumbent:
    """Best feasible selection so far and the smallest proven upper bound."""

    def __init__(self, problem: CompiledProblem, report: Report | None = None) -> None:
        self.problem = problem
        self.started = time.perf_counter()
        self.best: Offer | None = None
        self.bound = math.inf
        self.first_seconds: float | None = None
        self._report = report
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @property
    def value(self) -> int | None:
        return None if self.best is None else self.best.value

    @property
    def chosen(self) -> BoolArray | None:
        return None if self.best is None else self.best.chosen

    def offer(self, chosen: BoolArray | None, source: str, checked: bool = False) -> bool:
        """Keep `chosen` if it is feasible and better than the best so far; True if kept.

        `checked` skips the feasibility check for selections an exact engine produced."""
        if chosen is None or not (checked or is_feasible(self.problem, chosen)):
            return False
        value = sum(evaluate(self.problem, chosen).values())
        with self._lock:
            if self.best is not None and value <= self.best.value:
                return False
            seconds = self.elapsed()
            self.best = Offer(chosen.copy(), value, source, seconds)
            if self.first_seconds is None:
                self.first_seconds = seconds
        self._notify()
        return True

    def tighten(self, bound: float) -> None:
        """Record a proven upper bound on the objective."""
        if not math.isfinite(bound):
            return
        with self._lock:
            if bound >= self.bound:
                return
            self.bound = bound
        self._notify()

    def proven(self) -> bool:
        """True once the incumbent meets the bound (integer objective: within 1)."""
        return self.best is not None and self.bound < self.best.value + 1

    def _notify(self) -> None:
        if self._report is not None and self.best is not None:
            self._report(self.best.value, self.bound, self.elapsed())
