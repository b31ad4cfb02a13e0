"""HiGHS on the shared formulation: a MIP solve, and the LP relaxation as a proven bound.

The same `formulation.formulate` that CP-SAT loads, loaded into HiGHS. Used as a second
engine beside CP-SAT (each hands the other its incumbent) and as the LP bound that large
runs report their gap against.

Imports `compiled` and `formulation`; no domain or CP-SAT.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np

from allocator.solve.compiled import BoolArray, CompiledProblem
from allocator.solve.formulation import INT_INFINITY, Formulation, formulate


@dataclass(frozen=True)
class MipResult:
    """What HiGHS found: the best selection (if any), its objective and the proven bound."""

    chosen: BoolArray | None
    objective: float | None
    bound: float
    optimal: bool
    seconds: float
    status: str


def _silence_banner() -> None:
    """HiGHS prints a banner on stdout when the first instance of a process is made."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


_silence_banner()


_scheduler = {"threads": -1}
_scheduler_lock = threading.Lock()


def quiet_highs(threads: int = 1) -> highspy.Highs:
    """A new HiGHS instance that prints nothing and runs on `threads` threads.

    HiGHS shares one thread scheduler per process, sized by the first run: a later instance
    asking for another number of threads does not run at all (status "Not Set"). So the
    scheduler is reset whenever the number changes; HiGHS runs one at a time here."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    with _scheduler_lock:
        if _scheduler["threads"] != threads:
            h.resetGlobalScheduler(True)
            _scheduler["threads"] = threads
    h.setOptionValue("threads", int(threads))
    return h


def load(f: Formulation, relax: bool = False, threads: int = 1) -> highspy.Highs:
    """A HiGHS instance holding the formulation (maximise)."""
    if any(enforce >= 0 for enforce in f.row_enforce):
        raise ValueError("HiGHS cannot load a diagnose-mode formulation (enforcement literals)")
    h = quiet_highs(threads)
    n = f.n_vars
    h.addVars(n, np.array(f.lower, dtype=np.float64), np.array(f.upper, dtype=np.float64))
    if f.objective:
        columns = np.fromiter(f.objective, dtype=np.int32, count=len(f.objective))
        costs = np.fromiter(f.objective.values(), dtype=np.float64, count=len(f.objective))
        h.changeColsCost(len(columns), columns, costs)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    h.changeObjectiveOffset(float(f.offset))
    if not relax:
        integer = np.full(n, highspy.HighsVarType.kInteger)
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), integer)
    sizes = np.array([len(v) for v in f.row_vars], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    indices = np.fromiter((v for row in f.row_vars for v in row), dtype=np.int32, count=sizes.sum())
    values = np.fromiter(
        (c for row in f.row_coeffs for c in row), dtype=np.float64, count=sizes.sum()
    )
    lower = np.array([_side(x) for x in f.row_lower], dtype=np.float64)
    upper = np.array([_side(x) for x in f.row_upper], dtype=np.float64)
    h.addRows(len(sizes), lower, upper, int(sizes.sum()), starts, indices, values)
    return h


def _side(value: int) -> float:
    if abs(value) >= INT_INFINITY:
        return math.copysign(highspy.kHighsInf, value)
    return float(value)


def solve_mip(
    problem: CompiledProblem,
    time_limit: float,
    threads: int = 1,
    hint: BoolArray | None = None,
    relax: bool = False,
    seed: int = 0,
    on_solution: Callable[[BoolArray], object] | None = None,
    on_bound: Callable[[float], object] | None = None,
    interrupt: Callable[[], bool] | None = None,
) -> MipResult:
    """Solve with HiGHS (the MIP, or with `relax` its LP relaxation, whose value is a bound).

    `on_solution` receives each improving selection, `on_bound` each dual bound HiGHS reports
    (maximisation), and `interrupt` is polled to stop early.
    """
    started = time.perf_counter()
    f = formulate(problem)
    h = load(f, relax=relax, threads=threads)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("random_seed", int(seed))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.999)
    if hint is not None and not relax:
        values = np.zeros(f.n_vars)
        for var, value in f.hint(problem, hint).items():
            values[var] = value
        solution = highspy.HighsSolution()
        solution.col_value = values.tolist()
        h.setSolution(solution)
    if on_solution is not None:

        def improved(event: Any) -> None:
            values = np.asarray(event.data_out.mip_solution)[: problem.n_pairs]
            on_solution(values > 0.5)

        h.cbMipImprovingSolution.subscribe(improved)
    if on_bound is not None or interrupt is not None:

        def poll(event: Any) -> None:
            bound = event.data_out.mip_dual_bound
            # Before the root node is done the reported bound is not yet meaningful.
            if on_bound is not None and math.isfinite(bound) and event.data_out.mip_node_count > 0:
                on_bound(bound)
            if interrupt is not None and interrupt():
                event.interrupt()

        h.cbMipInterrupt.subscribe(poll)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    text = h.modelStatusToString(status)
    seconds = time.perf_counter() - started
    optimal = status == highspy.HighsModelStatus.kOptimal
    if relax:
        bound = info.objective_function_value if optimal else math.inf
        return MipResult(None, None, bound, optimal, seconds, text)
    chosen = None
    objective = None
    if info.primal_solution_status == 2:  # A feasible solution exists.
        col = np.asarray(h.getSolution().col_value)[: problem.n_pairs]
        chosen = col > 0.5
        objective = info.objective_function_value
        if on_solution is not None:
            on_solution(chosen)
    proved = optimal or info.mip_node_count > 0
    bound = info.mip_dual_bound if proved and math.isfinite(info.mip_dual_bound) else math.inf
    if optimal and objective is not None:
        bound = objective
    if on_bound is not None and math.isfinite(bound):
        on_bound(bound)
    return MipResult(chosen, objective, bound, optimal, seconds, text)
