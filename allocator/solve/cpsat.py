"""CP-SAT as an engine: load the shared formulation, run once, name conflicts.

- `build_model` loads `formulation.formulate(problem)` into CP-SAT's protocol buffer (no Python
  expression trees, so large models build fast).
- `run_cpsat` runs it once with given parameters, a hint, a progress callback and a stop event.
- `find_conflict_sets` names every minimal set of pins, forbids and required demands that
  cannot all hold (CP-SAT's sufficient assumptions, shrunk by deletion; more sets found by
  re-solving with one item of every known set removed), and says whether the list is complete.

Imports `compiled`, `conflicts` (the words) and `formulation` (and the status enum from the
domain).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from allocator.model import SolveStatus
from allocator.solve.compiled import BoolArray, CompiledProblem
from allocator.solve.conflicts import Conflicts
from allocator.solve.formulation import Formulation, formulate

DETERMINISTIC_PER_SECOND = 0.4
"""CP-SAT deterministic seconds per wall-clock second on these models (single worker, full
linear relaxation), measured on the 2-core reference machine: 0.36-0.40. Reproducible runs
budget deterministic time (the same on any machine and under any load) and use this rate to
keep a run near the seconds asked for."""


def deterministic_limits(seconds: float) -> dict[str, float]:
    """Parameters that stop a reproducible run after about `seconds` of wall clock: a
    deterministic limit, and a wall clock cap of twice as much (+5 s) as the only safety net."""
    return {
        "max_deterministic_time": seconds * DETERMINISTIC_PER_SECOND,
        "max_time_in_seconds": 2 * seconds + 5,
    }


STATUS = {
    cp_model.OPTIMAL: SolveStatus.OPTIMAL,
    cp_model.FEASIBLE: SolveStatus.FEASIBLE,
    cp_model.INFEASIBLE: SolveStatus.INFEASIBLE,
    cp_model.MODEL_INVALID: SolveStatus.INVALID,
    cp_model.UNKNOWN: SolveStatus.UNKNOWN,
}

OnSolution = Callable[[int, float, float], None]
"""Called on each improving solution with (objective, bound, seconds since the run began)."""


@dataclass
class CpsatModel:
    """A CP-SAT model and the formulation it was loaded from (for hints and names)."""

    model: cp_model.CpModel
    formulation: Formulation

    def set_hint(self, problem: CompiledProblem, chosen: BoolArray) -> None:
        values = self.formulation.hint(problem, chosen)
        proto = self.model.proto
        proto.clear_solution_hint()
        proto.solution_hint.vars.extend(list(values))
        proto.solution_hint.values.extend(list(values.values()))


def build_model(problem: CompiledProblem, diagnose: bool = False) -> CpsatModel:
    """The CP-SAT model of `problem` (see `formulation.py`). With `diagnose`, pins, forbids
    and required demands get assumption literals and there is no objective."""
    f = formulate(problem, diagnose=diagnose, names=problem.n_pairs <= 20000)
    model = cp_model.CpModel()
    proto = model.proto
    for lower, upper, name in zip(f.lower, f.upper, f.names, strict=True):
        var = proto.variables.add()
        var.domain.extend([lower, upper])
        if name:
            var.name = name
    for variables, coeffs, lower, upper, enforce in zip(
        f.row_vars, f.row_coeffs, f.row_lower, f.row_upper, f.row_enforce, strict=True
    ):
        constraint = proto.constraints.add()
        if enforce >= 0:
            constraint.enforcement_literal.append(enforce)
        constraint.linear.vars.extend(variables)
        constraint.linear.coeffs.extend(coeffs)
        constraint.linear.domain.extend([lower, upper])
    if diagnose:
        proto.assumptions.extend(f.assumptions())
    else:
        # CP-SAT minimises: negate, and let the scaling factor -1 report the maximised value.
        proto.objective.vars.extend(list(f.objective))
        proto.objective.coeffs.extend([-c for c in f.objective.values()])
        proto.objective.offset = float(-f.offset)
        proto.objective.scaling_factor = -1.0
    return CpsatModel(model, f)


@dataclass(frozen=True)
class CpsatRun:
    """One CP-SAT run: its status, the chosen pairs when it found a solution, its figures."""

    status: SolveStatus
    chosen: BoolArray | None
    objective: int | None
    """CP-SAT's own objective value of `chosen`."""
    bound: float
    """CP-SAT's proven upper bound; math.inf when it proved none."""
    seconds: float
    deterministic_seconds: float
    first_solution_seconds: float | None


class _Watcher(cp_model.CpSolverSolutionCallback):
    def __init__(self, on_solution: OnSolution | None) -> None:
        super().__init__()
        self.started = time.perf_counter()
        self.first: float | None = None
        self.on_solution = on_solution

    def on_solution_callback(self) -> None:
        elapsed = time.perf_counter() - self.started
        if self.first is None:
            self.first = elapsed
        if self.on_solution is not None:
            self.on_solution(round(self.objective_value), self.best_objective_bound, elapsed)


def run_cpsat(
    problem: CompiledProblem,
    parameters: dict[str, Any],
    hint: BoolArray | None = None,
    on_solution: OnSolution | None = None,
    stop: threading.Event | None = None,
    model: CpsatModel | None = None,
) -> CpsatRun:
    """Run CP-SAT once on `problem` (or on a `model` already built for it)."""
    built = model if model is not None else build_model(problem)
    if hint is not None:
        built.set_hint(problem, hint)
    solver = cp_model.CpSolver()
    for name, value in parameters.items():
        setattr(solver.parameters, name, value)
    watcher = _Watcher(on_solution)
    done = _stop_when_set(solver, stop)
    try:
        code = solver.solve(built.model, watcher)
    finally:
        done.set()
    status = STATUS.get(code, SolveStatus.UNKNOWN)
    chosen = None
    objective = None
    if status.has_solution:
        values = np.array(list(solver.response_proto.solution), dtype=np.int64)
        chosen = values[: problem.n_pairs].astype(bool)
        objective = round(solver.objective_value)
    # Without a solution CP-SAT's bound field is not a proof (it reads 0): report none.
    proven = status.has_solution and math.isfinite(solver.best_objective_bound)
    return CpsatRun(
        status=status,
        chosen=chosen,
        objective=objective,
        bound=solver.best_objective_bound if proven else math.inf,
        seconds=time.perf_counter() - watcher.started,
        deterministic_seconds=solver.deterministic_time,
        first_solution_seconds=watcher.first,
    )


def _stop_when_set(solver: cp_model.CpSolver, stop: threading.Event | None) -> threading.Event:
    """Stop the search as soon as `stop` is set; the returned event ends the watch."""
    done = threading.Event()
    if stop is None:
        return done

    def watch() -> None:
        while not done.is_set():
            if stop.wait(0.05):
                solver.stop_search()
                return

    threading.Thread(target=watch, daemon=True).start()
    return done


def find_conflicts(problem: CompiledProblem, time_limit: float = 10.0) -> list[str]:
    """One minimal set of pins, forbids and required demands that cannot all hold, in words
    (the first of `find_conflict_sets`); empty when the hard rules alone already conflict."""
    found = find_conflict_sets(problem, time_limit)
    return found.sets[0] if found.sets else []


def find_conflict_sets(
    problem: CompiledProblem, time_limit: float = 10.0, max_sets: int = 20
) -> Conflicts:
    """Every minimal set of pins, forbids and required demands that cannot all hold.

    CP-SAT's sufficient assumptions give a first set, shrunk by deletion until removing any
    member makes the rest feasible. Then, for each minimal way of removing one item of every
    set found so far, the rest is solved again: a new conflict is shrunk the same way and
    added; when every such removal is feasible, the list is complete (each minimal conflict
    avoids some minimal removal, so none can be missing). Stops, not complete, after
    `time_limit` seconds or `max_sets` sets.
    """
    deadline = time.perf_counter() + time_limit
    built = build_model(problem, diagnose=True)
    f = built.formulation
    proto = built.model.proto
    for p, labels in problem.pair_other_forbids.items():  # Each forbid of a pair holds it off.
        for label in labels:
            if label not in f.forbid_literals:
                f.forbid_literals[label] = len(proto.variables)
                proto.variables.add().domain.extend([0, 1])
            row = proto.constraints.add()
            row.enforcement_literal.append(f.forbid_literals[label])
            row.linear.vars.append(p)
            row.linear.coeffs.append(1)
            row.linear.domain.extend([0, 0])
    names = {lit: problem.pins[i].label for i, lit in enumerate(f.pin_literals)}
    names.update({lit: label for label, lit in f.forbid_literals.items()})
    names.update(
        {lit: f"required demand {problem.demand_ids[d]}" for d, lit in f.required_literals.items()}
    )
    # An item is a name: identical pins are one item, kept or removed together.
    items = list(dict.fromkeys(names[lit] for lit in f.assumptions()))
    item_of = {name: i for i, name in enumerate(items)}
    literals: list[list[int]] = [[] for _ in items]
    for lit in f.assumptions():
        literals[item_of[names[lit]]].append(lit)
    everything = list(range(len(items)))
    exact = True
    undecided = 0

    def infeasible(subset: list[int]) -> list[int] | None:
        """The items of CP-SAT's sufficient assumptions when `subset` (items) is proven
        infeasible, else None."""
        nonlocal exact, undecided
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            exact = False
            undecided += 1
            return None
        proto.assumptions.clear()
        proto.assumptions.extend(lit for i in subset for lit in literals[i])
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.max_time_in_seconds = remaining
        code = solver.solve(built.model)
        if code == cp_model.INFEASIBLE:
            core = {
                item_of[names[lit]] for lit in solver.sufficient_assumptions_for_infeasibility()
            }
            return [i for i in subset if i in core] or list(subset)
        if code not in (cp_model.FEASIBLE, cp_model.OPTIMAL):
            exact = False  # Not proven either way.
            undecided += 1
        return None

    minimal = True

    def shrink(core: list[int]) -> list[int]:
        nonlocal minimal
        index = 0
        while index < len(core):
            trial = core[:index] + core[index + 1 :]
            before = undecided
            smaller = infeasible(trial)
            if smaller is None:
                minimal = minimal and undecided == before
                index += 1
            else:
                kept = set(smaller)
                core = [i for i in trial if i in kept]
        return core

    first = infeasible(everything)
    if first is None:
        return Conflicts([], complete=exact)
    sets = [shrink(first)]
    feasible_removals: set[frozenset[int]] = set()
    complete = False
    while exact and len(sets) < max_sets:
        removals, truncated = minimal_hitting_sets(sets, limit=500)
        for removal in removals:
            if removal in feasible_removals:
                continue
            core = infeasible([i for i in everything if i not in removal])
            if core is not None:
                sets.append(shrink(core))
                break
            feasible_removals.add(removal)
        else:
            # Every minimal removal is feasible: no minimal conflict is missing.
            complete = exact and not truncated
            break
    named = [[items[i] for i in core] for core in sets]
    return Conflicts(named, complete=complete, minimal=minimal)


def minimal_hitting_sets(sets: list[list[int]], limit: int) -> tuple[list[frozenset[int]], bool]:
    """Up to `limit` minimal sets holding at least one member of every set in `sets`,
    smallest first, and whether there may be more."""
    found: set[frozenset[int]] = set()
    steps = 0
    truncated = False

    def grow(chosen: frozenset[int]) -> None:
        nonlocal steps, truncated
        steps += 1
        if len(found) >= limit or steps > 50 * limit:
            truncated = True
            return
        missed = next((s for s in sets if chosen.isdisjoint(s)), None)
        if missed is None:
            found.add(chosen)
            return
        for lit in missed:
            grow(chosen | {lit})

    grow(frozenset())
    minimal = [h for h in found if not any(other < h for other in found)]
    return sorted(minimal, key=lambda h: (len(h), sorted(h))), truncated
