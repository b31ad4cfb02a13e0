"""Conflict sets in words: what the minimal conflicts of an infeasible run mean.

Pure text, no solver: `cpsat.find_conflict_sets` finds the sets in a worker, and the HTTP
server words them again for an explanation (`explain.explain_conflicts`) without loading
OR-Tools.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Conflicts:
    """The minimal conflicts of an infeasible problem, in words."""

    sets: list[list[str]]
    """Minimal conflict sets: each cannot hold on its own, every proper subset can."""
    complete: bool
    """True when `sets` is every minimal conflict set: the problem becomes feasible exactly
    when at least one item of every set is removed. False when the search stopped early."""
    minimal: bool = True
    """False when the time limit ended a deletion check undecided: a set may then hold an
    item it does not need (it still cannot hold on its own)."""


def describe_conflicts(sets: list[list[str]], complete: bool, minimal: bool = True) -> str:
    """What `sets` (conflict sets, minimal or not, complete or not) mean, in words.

    >>> print(describe_conflicts([["pin E1 -> O1", "forbid E1 -> O1"]], True))
    ... # doctest: +NORMALIZE_WHITESPACE
    The hard rules cannot all hold: pin E1 -> O1; forbid E1 -> O1. Removing any one of them
    makes the run feasible.
    """
    if not sets:
        return "The hard rules cannot all hold."
    listed = ", and also ".join(f"({n}) {'; '.join(s)}" for n, s in enumerate(sets, start=1))
    if not minimal:
        return (
            f"The hard rules cannot all hold: {listed}. No set can hold on its own, but the "
            "search stopped at its time limit before it could show that each of its items is "
            "needed or that no other conflict remains."
        )
    if len(sets) == 1 and complete:
        return (
            f"The hard rules cannot all hold: {'; '.join(sets[0])}. "
            "Removing any one of them makes the run feasible."
        )
    if complete:
        return (
            f"The hard rules cannot all hold, for {len(sets)} reasons: {listed}. No set can hold "
            "on its own, and removing any one item of a set lets the rest of it hold; the run "
            "becomes feasible once at least one item of every set is removed."
        )
    return (
        f"The hard rules cannot all hold: {listed}. No set can hold on its own, and removing "
        "any one item of a set lets the rest of it hold; the search for further conflicts "
        "stopped before it had tried every way of removing these (at its time limit, or at "
        "20 sets), so others may remain once they are resolved."
    )
