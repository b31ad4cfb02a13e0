"""The reports the web app shows (investment, calibration, contribution), worked out off the
request: each is computed once per state of its inputs in a background thread and kept.

At 1,000 engineers x 5,000 opportunities a report takes about a second (the bootstrap
intervals, the plans of every weekly run) and its plot as much again, over the 300 ms a page
may take: a page asks `ReportDesk.ready`, which answers the kept report at once, or None after
starting its computation (the page then says so and polls). A report's inputs are the team's
weekly runs (the plan of the latest finished one per ISO week, its snapshot as the portfolio;
the team's current plan before any run finished) and the team's actuals and outcomes; their
state is the team, its last finished run (or the plan's version) and the number of the latest
import of each kind, so an import or a new run makes the next view compute afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from allocator.errors import AllocatorError
from allocator.insight.calibration import DIMENSIONS, CalibrationReport
from allocator.insight.contribution import ContributionReport
from allocator.insight.investment import InvestmentReport
from allocator.service.insight import InsightService, StoredHistory
from allocator.service.keys import Principal
from allocator.service.workspace import WorkspaceService

log = logging.getLogger("allocator.reporting")

KINDS = ("investment", "calibration", "contribution")
INVESTMENT_BY = ("stage", "industry", "region", "tier")
CALIBRATION_BY = DIMENSIONS
KEEP = 16
"""Reports kept (each kind and grouping per state of the inputs)."""


@dataclass(frozen=True)
class ReadyReport:
    """A computed report, its plot and what it was computed over."""

    kind: str
    by: str
    report: InvestmentReport | CalibrationReport | ContributionReport
    png: bytes
    weekly_runs: int
    portfolio: str
    seconds: float


@dataclass
class Failed:
    """A report that could not be computed, and why (shown instead of the report)."""

    message: str


@dataclass
class _Desk:
    done: OrderedDict[Hashable, ReadyReport | Failed] = field(default_factory=OrderedDict)
    busy: set[Hashable] = field(default_factory=set)
    histories: OrderedDict[Hashable, StoredHistory | None] = field(default_factory=OrderedDict)


class ReportDesk:
    """Reports over the workspace's weekly runs, computed in the background and kept."""

    def __init__(self, insight: InsightService, workspace: WorkspaceService) -> None:
        self.insight = insight
        self.workspace = workspace
        self._desk = _Desk()
        self._lock = threading.Lock()
        self._history_lock = threading.Lock()

    def state(self, principal: Principal, team: str | None = None) -> Hashable:
        """The state of the inputs of the team's reports: the team, its last finished weekly
        run (or its plan's version before one) and the latest import of actuals and of
        outcomes. Cheap: read on every view."""
        chosen = self.workspace.team_of(principal, team)
        last = self.workspace.last_done_run(principal, chosen)
        runs: Hashable = (
            ("plan", self.workspace.current(principal, chosen)[1].version)
            if last is None
            else ("run", last.id)
        )
        return chosen, runs, self.insight.version()

    def ready(
        self, kind: str, by: str, principal: Principal, team: str | None = None
    ) -> ReadyReport | Failed | None:
        """The team's report as of now (`principal`'s team; an auditor may choose one), or
        None while it is being computed (started here when it is not yet). NotFoundError
        before the team imported a plan."""
        state = self.state(principal, team)
        key = (state, kind, by)
        with self._lock:
            found = self._desk.done.get(key)
            if found is not None:
                self._desk.done.move_to_end(key)
                return found
            if key in self._desk.busy:
                return None
            self._desk.busy.add(key)
        threading.Thread(target=self._compute, args=(key, principal), daemon=True).start()
        return None

    def _compute(self, key: tuple[Hashable, str, str], principal: Principal) -> None:
        state, kind, by = key
        started = time.perf_counter()
        result: ReadyReport | Failed
        try:
            history = self._history(state, principal)
            if history is None:
                raise LookupError("nothing to report on yet")
            report, png = _COMPUTE[kind](self.insight, history, by)
            result = ReadyReport(
                kind=kind,
                by=by,
                report=report,
                png=png,
                weekly_runs=len(history.runs),
                portfolio=history.portfolio.name,
                seconds=time.perf_counter() - started,
            )
        except (AllocatorError, LookupError) as error:
            result = Failed(str(error))
        except Exception as error:  # Logged and shown; the next state tries again.
            log.exception("the %s report could not be computed", kind)
            result = Failed(f"the report could not be computed: {error}")
        with self._lock:
            self._desk.busy.discard(key)
            self._desk.done[key] = result
            while len(self._desk.done) > KEEP:
                self._desk.done.popitem(last=False)

    def _history(self, state: Hashable, principal: Principal) -> StoredHistory | None:
        """The inputs for `state`, read once for every report over it."""
        assert isinstance(state, tuple)
        team = state[0]
        with self._history_lock:
            if state in self._desk.histories:
                return self._desk.histories[state]
            run_ids = self.workspace.run_ids(principal, team)
            history = self.insight.weekly_history(run_ids, team)
            if history is None and self.workspace.exists(principal, team):
                plan = self.workspace.plan(principal, team)
                history = self.insight.history_of(plan, [], team)
            self._desk.histories[state] = history
            while len(self._desk.histories) > 2:
                self._desk.histories.popitem(last=False)
            return history


def _investment(insight: InsightService, history: StoredHistory, by: str) -> tuple[Any, bytes]:
    from allocator.insight.plots import investment_png  # Matplotlib: only to draw.

    report = insight.investment(history, by)
    return report, investment_png(report, by)


def _calibration(insight: InsightService, history: StoredHistory, by: str) -> tuple[Any, bytes]:
    from allocator.insight.plots import reliability_png

    report = insight.calibration(history)
    return report, reliability_png(report, by)


def _contribution(insight: InsightService, history: StoredHistory, _: str) -> tuple[Any, bytes]:
    from allocator.insight.plots import contribution_png

    report = insight.contribution(history)
    return report, contribution_png(report)


_COMPUTE: dict[str, Callable[[InsightService, StoredHistory, str], tuple[Any, bytes]]] = {
    "investment": _investment,
    "calibration": _calibration,
    "contribution": _contribution,
}
