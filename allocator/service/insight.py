"""Actuals and outcomes in the service: imports recorded in the audit chain, and the reports
over a stored portfolio's history.

Orchestration, no formats and no SQL: an import is parsed and checked by
`allocator.insight.records` (every bad row named; nothing is stored when one is bad), then
stored through the `InsightStore` protocol (implemented by `store.insight.InsightRepository`)
as rows plus one ledger record (`actuals` or `outcomes`, content: the source's name and every
row), so that `GET /v1/audit/verify` covers them like runs. A later import of the same
(engineer, opportunity, week) or opportunity supersedes the earlier one; both stay in the
ledger.

A report reads a stored portfolio, its finished runs (the result of the latest run filed
under each ISO week is that week's plan) and every stored actual and outcome (those naming
engineers or opportunities the portfolio does not know are left out).

Teams: an import belongs to the team of the key that made it; a planner or viewer reads
their team's actuals and outcomes, and the reports of their team's portfolios (another
team's portfolio is not found), counting only that team's runs, actuals and outcomes;
auditors read every team's (a report counts the portfolio's team's data).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from allocator.errors import InputIssue, InvalidInputError
from allocator.insight.calibration import CalibrationReport, calibration_report
from allocator.insight.contribution import ContributionReport, contribution_report
from allocator.insight.evidence import EvidenceReport, evidence_report
from allocator.insight.investment import GROUPINGS, InvestmentReport, investment_report
from allocator.insight.records import (
    ACTUALS_COLUMNS,
    OUTCOMES_COLUMNS,
    Actual,
    Outcome,
    PlannedActual,
    PlannedRun,
    check_references,
    parse_actuals,
    parse_outcomes,
    planned_vs_actual,
    read_rows,
    text_rows,
)
from allocator.io.formats import ExcelLimits
from allocator.model import Portfolio
from allocator.service.jobs import ConflictError
from allocator.service.keys import Principal
from allocator.service.runs import RunFilter, RunService, RunStatus


@dataclass(frozen=True)
class ImportEntry:
    """One stored import of actuals or outcomes."""

    id: int
    kind: str
    source: str
    rows: int
    ledger_seq: int
    imported_by: str
    imported_at: datetime


class InsightStore(Protocol):
    """What the imports need from storage; `store.insight.InsightRepository` implements it."""

    def add_actuals(
        self, source: str, actor: str, rows: Sequence[Actual], team: str = ...
    ) -> ImportEntry: ...
    def add_outcomes(
        self, source: str, actor: str, rows: Sequence[Outcome], team: str = ...
    ) -> ImportEntry: ...
    def actuals(self, team: str | None = None) -> list[Actual]: ...
    def outcomes(self, team: str | None = None) -> list[Outcome]: ...
    def version(self) -> tuple[int, int]: ...


MAX_ROWS = 100_000
"""Most rows one import may hold."""


@dataclass(frozen=True)
class StoredHistory:
    """A stored portfolio with its runs' plans, and the actuals and outcomes it knows."""

    portfolio: Portfolio
    runs: list[PlannedRun]
    actuals: list[Actual]
    outcomes: list[Outcome]


class InsightService:
    """Imports and reports over the run service's store.

    >>> insight = InsightService(run_service, InsightRepository(store))  # doctest: +SKIP
    """

    def __init__(self, runs: RunService, store: InsightStore) -> None:
        self.runs = runs
        self.store = store

    # -----------------------------------------------------------------------------------------
    # Imports

    def import_actuals(
        self,
        source: str,
        rows: list[dict[str, str]],
        principal: Principal,
        portfolio_id: int | Portfolio | None = None,
        json_rows: bool = False,
    ) -> ImportEntry:
        """Store actuals (rows of text cells); `portfolio_id` (or a portfolio) checks their
        references."""
        actuals = parse_actuals(source, self._bounded(source, rows), _locate(json_rows))
        self._check(source, portfolio_id, actuals, [], principal)
        return self.store.add_actuals(source, principal.name, actuals, principal.team)

    def import_outcomes(
        self,
        source: str,
        rows: list[dict[str, str]],
        principal: Principal,
        portfolio_id: int | Portfolio | None = None,
        json_rows: bool = False,
    ) -> ImportEntry:
        """Store outcomes (rows of text cells); `portfolio_id` checks their references."""
        outcomes = parse_outcomes(source, self._bounded(source, rows), _locate(json_rows))
        self._check(source, portfolio_id, [], outcomes, principal)
        return self.store.add_outcomes(source, principal.name, outcomes, principal.team)

    def _check(
        self,
        source: str,
        portfolio_id: int | Portfolio | None,
        actuals: list[Actual],
        outcomes: list[Outcome],
        principal: Principal,
    ) -> None:
        """Something to store (blank rows are skipped), and references the portfolio knows
        (a stored one of the principal's team: another team's is not found)."""
        if not actuals and not outcomes:
            raise InvalidInputError([InputIssue(source, "", "holds no rows but blank ones")])
        if isinstance(portfolio_id, Portfolio):
            check_references(portfolio_id, actuals, outcomes)
        elif portfolio_id is not None:
            self.runs.portfolio_scoped(portfolio_id, principal)
            check_references(self.runs.get_portfolio(portfolio_id)[1], actuals, outcomes)

    @staticmethod
    def _bounded(source: str, rows: list[dict[str, str]]) -> list[dict[str, str]]:
        if not rows:
            raise InvalidInputError([InputIssue(source, "", "holds no rows")])
        if len(rows) > MAX_ROWS:
            raise InvalidInputError([InputIssue(source, "", f"holds more than {MAX_ROWS} rows")])
        return rows

    def actuals(
        self, principal: Principal, week: str | None = None, engineer_id: str | None = None
    ) -> list[Actual]:
        """The actuals `principal` may read: their team's (an auditor's: every team's)."""
        return [
            a
            for a in self.store.actuals(_team_read(principal))
            if (week is None or a.week == week)
            and (engineer_id is None or a.engineer_id == engineer_id)
        ]

    def outcomes(self, principal: Principal) -> list[Outcome]:
        """The outcomes `principal` may read: their team's (an auditor's: every team's)."""
        return self.store.outcomes(_team_read(principal))

    # -----------------------------------------------------------------------------------------
    # Reports

    def history(self, portfolio_id: int, principal: Principal | None = None) -> StoredHistory:
        """The stored portfolio, the plans of its finished runs, and what its team knows of
        it. With `principal`, another team's portfolio is NotFoundError."""
        if principal is not None:
            self.runs.portfolio_scoped(portfolio_id, principal)
        entry, portfolio = self.runs.get_portfolio(portfolio_id)
        latest: dict[str, int] = {}
        offset = 0
        while True:
            where = RunFilter(status=RunStatus.DONE, portfolio_id=portfolio_id, team=entry.team)
            page, total = self.runs.list_runs(where, 200, offset)
            for state in page:
                latest[state.week] = max(latest.get(state.week, 0), state.id)
            offset += len(page)
            if not page or offset >= total:
                break
        runs = []
        for week, run_id in sorted(latest.items()):
            try:
                _, allocation = self.runs.result(run_id)
            except ConflictError:  # A done run always has a result; kept safe.
                continue
            runs.append(PlannedRun(week, allocation, portfolio.horizon_weeks))
        return self.history_of(portfolio, runs, entry.team)

    def weekly_history(
        self, run_ids: Sequence[int], team: str | None = None
    ) -> StoredHistory | None:
        """The history of a sequence of runs on changing snapshots (the web app's weekly
        runs): the portfolio of the latest finished one, and as each ISO week's plan the
        latest finished run filed under it, with `team`'s actuals and outcomes (None: every
        team's); None when none has finished."""
        done = [s for s in (self.runs.get_run(i) for i in run_ids) if s.status is RunStatus.DONE]
        if not done:
            return None
        portfolio = self.runs.accepted(max(s.id for s in done)).portfolio
        latest: dict[str, int] = {}
        for state in done:
            latest[state.week] = max(latest.get(state.week, 0), state.id)
        runs = [
            PlannedRun(week, self.runs.result(run_id)[1], portfolio.horizon_weeks)
            for week, run_id in sorted(latest.items())
        ]
        return self.history_of(portfolio, runs, team)

    def history_of(
        self, portfolio: Portfolio, runs: list[PlannedRun], team: str | None = None
    ) -> StoredHistory:
        """The history of `portfolio` with the stored actuals and outcomes of `team` (None:
        every team's) it knows."""
        engineers = portfolio.engineer_by_id()
        opportunities = portfolio.opportunity_by_id()
        actuals = [
            a
            for a in self.store.actuals(team)
            if a.engineer_id in engineers and a.opportunity_id in opportunities
        ]
        outcomes = [o for o in self.store.outcomes(team) if o.opportunity_id in opportunities]
        return StoredHistory(portfolio, runs, actuals, outcomes)

    def _history(self, source: int | StoredHistory) -> StoredHistory:
        """A report's history: given, or read for a stored portfolio's id."""
        return source if isinstance(source, StoredHistory) else self.history(source)

    def version(self) -> tuple[int, int]:
        """How many imports of actuals and of outcomes are stored: a report over the same
        runs and the same version reads the same."""
        return self.store.version()

    def investment(
        self,
        portfolio_id: int | StoredHistory,
        by: str = "stage",
        level_rates: Mapping[str, float] | None = None,
    ) -> InvestmentReport:
        if by not in GROUPINGS:
            raise InvalidInputError(
                [InputIssue("query", "by", f"must be one of {', '.join(GROUPINGS)}", by)]
            )
        h = self._history(portfolio_id)
        return investment_report(
            h.portfolio, h.actuals, h.outcomes, h.runs, level_rates, ["all", by]
        )

    def calibration(self, portfolio_id: int | StoredHistory) -> CalibrationReport:
        h = self._history(portfolio_id)
        return calibration_report(h.portfolio, h.outcomes)

    def contribution(
        self, portfolio_id: int | StoredHistory, engineer_id: str | None = None
    ) -> ContributionReport:
        h = self._history(portfolio_id)
        if engineer_id is not None and engineer_id not in h.portfolio.engineer_by_id():
            raise InvalidInputError(
                [InputIssue("query", "engineer_id", "unknown engineer", engineer_id)]
            )
        asked = None if engineer_id is None else [engineer_id]
        return contribution_report(h.portfolio, h.actuals, h.outcomes, h.runs, asked)

    def ratios(self, portfolio_id: int | StoredHistory) -> EvidenceReport:
        h = self._history(portfolio_id)
        return evidence_report(h.portfolio, h.actuals, h.outcomes)

    def planned_vs_actual(self, portfolio_id: int | StoredHistory) -> list[PlannedActual]:
        h = self._history(portfolio_id)
        return planned_vs_actual(h.runs, h.actuals)


def _team_read(principal: Principal) -> str | None:
    """The team whose rows `principal` reads; None: every team's (auditors)."""
    return None if principal.sees_all else principal.team


def _locate(json_rows: bool) -> Callable[[int], str] | None:
    """Rows sent as JSON are named by their path (`$.rows[0]`), file rows by their line."""
    return (lambda index: f"$.rows[{index}]") if json_rows else None


def rows_from_file(
    name: str, data: bytes, limits: ExcelLimits | None = None
) -> list[dict[str, str]]:
    """An uploaded CSV or .xlsx file's rows (text cells); a workbook within `limits`."""
    return read_rows(name, data, limits)


def rows_from_json(records: Sequence[Mapping[str, object]], kind: str) -> list[dict[str, str]]:
    """JSON objects as rows of the kind's columns (`actuals` or `outcomes`)."""
    return text_rows(records, ACTUALS_COLUMNS if kind == "actuals" else OUTCOMES_COLUMNS)
