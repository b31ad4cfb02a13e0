"""Actuals into the next run: the portfolio adjusted by what was really spent, and the flags.

For a run starting in ISO week W, the week read is the one before it (W-1):

- an engineer who spent more than planned there (more than `tolerance` above the plan, and at
  least half an hour) is flagged `over_plan`, and the hours beyond plan count as committed in
  the next run: `committed_hours` grows by them (work that overran goes on), never above the
  weekly capacity;
- an engineer with planned hours and no timesheet that week is flagged `no_actuals` and left
  as is (missing is not zero, nor an overrun);
- the plan's assignments on which hours were actually spent become the next run's `previous`
  assignments (continuity keeps people on the work they are doing), replacing the ones given.

>>> from allocator.model import Allocation, Assignment, Engineer, Portfolio, SolveStatus
>>> from allocator.insight.records import Actual, PlannedRun
>>> base = Portfolio(engineers=[Engineer(id="E1", region="R", committed_hours=4)])
>>> plan = Allocation(status=SolveStatus.OPTIMAL, assignments=[Assignment(
...     engineer_id="E1", opportunity_id="O1", demand_id="O1/x", hours=8, end_week=2)])
>>> spent = [Actual(engineer_id="E1", opportunity_id="O1", week="2026-W10", hours=14)]
>>> fed = feed_actuals(base, [PlannedRun("2026-W10", plan, 2)], spent, "2026-W11")
>>> fed.portfolio.engineers[0].committed_hours, fed.flags[0].kind
(10.0, 'over_plan')
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from allocator.insight.records import (
    Actual,
    PlannedRun,
    planned_hours,
    reported_weeks,
    week_after,
)
from allocator.model import Portfolio, PreviousAssignment


class EngineerFlag(BaseModel):
    """An engineer whose last week did not go as planned."""

    engineer_id: str
    week: str = Field(description="The ISO week read (the one before the next run).")
    kind: Literal["over_plan", "no_actuals"]
    planned: float = Field(description="Hours planned that week.")
    actual: float | None = Field(description="Hours reported that week; null when missing.")
    committed_before: float = Field(description="Committed hours per week before.")
    committed_after: float = Field(description="Committed hours per week in the next run.")


class FedPortfolio(BaseModel):
    """The next run's portfolio with the actuals taken in, and what was flagged."""

    portfolio: Portfolio
    week_read: str
    flags: list[EngineerFlag]
    previous_kept: int = Field(description="Assignments with hours spent, kept as previous.")


def feed_actuals(
    portfolio: Portfolio,
    runs: Sequence[PlannedRun],
    actuals: Sequence[Actual],
    next_week: str,
    tolerance: float = 0.1,
) -> FedPortfolio:
    """`portfolio` adjusted for a run starting in `next_week` (see the module doc)."""
    read = week_after(next_week, -1)
    planned: dict[str, float] = defaultdict(float)
    plan = planned_hours(runs)
    for (engineer, _, week), hours in plan.items():
        if week == read:
            planned[engineer] += hours
    spent: dict[str, float] = defaultdict(float)
    worked_on: set[tuple[str, str]] = set()
    for a in actuals:
        if a.week == read:
            spent[a.engineer_id] += a.hours
            if a.hours > 0:
                worked_on.add((a.engineer_id, a.opportunity_id))
    reported = reported_weeks(actuals)
    flags: list[EngineerFlag] = []
    engineers = []
    for e in portfolio.engineers:
        before = e.committed_hours
        after = before
        reported_week = (e.id, read) in reported
        if reported_week:
            over = spent[e.id] - planned[e.id]
            if over >= 0.5 and spent[e.id] > planned[e.id] * (1 + tolerance):
                after = min(e.capacity_hours, round(before + over, 2))
                flags.append(
                    EngineerFlag(
                        engineer_id=e.id,
                        week=read,
                        kind="over_plan",
                        planned=planned[e.id],
                        actual=spent[e.id],
                        committed_before=before,
                        committed_after=after,
                    )
                )
        elif planned[e.id] > 0:
            flags.append(
                EngineerFlag(
                    engineer_id=e.id,
                    week=read,
                    kind="no_actuals",
                    planned=planned[e.id],
                    actual=None,
                    committed_before=before,
                    committed_after=before,
                )
            )
        engineers.append(e.model_copy(update={"committed_hours": after}))
    previous = _previous(portfolio, runs, read, worked_on)
    data = portfolio.model_dump()
    data["engineers"] = [e.model_dump() for e in engineers]
    data["previous"] = [p.model_dump() for p in previous] if previous else data["previous"]
    fed = Portfolio.model_validate(data)
    return FedPortfolio(portfolio=fed, week_read=read, flags=flags, previous_kept=len(previous))


def _previous(
    portfolio: Portfolio, runs: Sequence[PlannedRun], read: str, worked_on: set[tuple[str, str]]
) -> list[PreviousAssignment]:
    """The latest run's assignments (before the next run) with hours spent in the week read."""
    started = [run for run in runs if run.start <= read]
    if not started:
        return []
    latest = max(started, key=lambda run: run.start)
    demands = portfolio.demand_by_id()
    engineers = portfolio.engineer_by_id()
    return [
        PreviousAssignment(
            engineer_id=a.engineer_id, opportunity_id=a.opportunity_id, demand_id=a.demand_id
        )
        for a in latest.allocation.assignments
        if (a.engineer_id, a.opportunity_id) in worked_on
        and a.demand_id in demands
        and a.engineer_id in engineers
    ]
