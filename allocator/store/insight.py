"""The repository of actuals and outcomes over a `Store`.

Owns the SQL of imports: each import writes its rows and one ledger record (kind `actuals` or
`outcomes`, subject = the import's number within its kind, content = the source's name and
every row) in one transaction, through the store's own ledger append, so that the audit
chain covers them like runs. Rows point at their import's ledger record (`import_seq`);
reading keeps, per (engineer, opportunity, week) or per opportunity, the row of the latest
import. Rows belong to the team of the key that imported them (the record names it), and are
read per team. The tables are declared with the others in `repository.py`; schema:
migrations 0007 and 0009 (the team).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    func,
    insert,
    select,
    update,
)

from allocator.insight.records import Actual, Outcome, OutcomeKind
from allocator.service.insight import ImportEntry
from allocator.service.keys import DEFAULT_TEAM
from allocator.store.repository import (
    Store,
    _utc,
    actuals_table,
    ledger_table,
    now,
    outcomes_table,
)


class InsightRepository:
    """Imports of actuals and outcomes in `store`'s database (see the module doc)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_actuals(
        self, source: str, actor: str, rows: Sequence[Actual], team: str = DEFAULT_TEAM
    ) -> ImportEntry:
        values = [a.model_dump() for a in rows]
        return self._add("actuals", actuals_table, source, actor, values, team)

    def add_outcomes(
        self, source: str, actor: str, rows: Sequence[Outcome], team: str = DEFAULT_TEAM
    ) -> ImportEntry:
        values = [
            {
                "opportunity_id": o.opportunity_id,
                "outcome": o.outcome.value,
                "value": o.value,
                "decided_on": o.date,
            }
            for o in rows
        ]
        return self._add("outcomes", outcomes_table, source, actor, values, team)

    def _add(
        self,
        kind: str,
        table: Table,
        source: str,
        actor: str,
        values: list[dict[str, Any]],
        team: str,
    ) -> ImportEntry:
        with self.store._write() as connection:
            # The rows first (a write: takes the lock), then the record that seals them.
            connection.execute(insert(table), [{**row, "team": team} for row in values])
            number = self._count(connection, kind) + 1
            content = {
                "source": source,
                "team": team,
                "rows": [
                    {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
                    for row in values
                ],
            }
            seq = self.store._append(connection, kind, number, actor, content)
            connection.execute(
                update(table).where(table.c.import_seq.is_(None)).values(import_seq=seq)
            )
            recorded = connection.execute(
                select(ledger_table.c.recorded_at).where(ledger_table.c.seq == seq)
            ).scalar_one()
        return ImportEntry(
            id=number,
            kind=kind,
            source=source,
            rows=len(values),
            ledger_seq=seq,
            imported_by=actor,
            imported_at=_utc(datetime.fromisoformat(recorded)) or now(),
        )

    @staticmethod
    def _count(connection: Connection, kind: str) -> int:
        return int(
            connection.execute(
                select(func.count()).select_from(ledger_table).where(ledger_table.c.kind == kind)
            ).scalar_one()
        )

    def version(self) -> tuple[int, int]:
        """The number of the latest import of actuals and of outcomes (0 before any): two
        indexed look-ups, so that a cached report can tell it is still current."""
        with self.store.engine.connect() as connection:
            return (
                self._latest(connection, "actuals"),
                self._latest(connection, "outcomes"),
            )

    @staticmethod
    def _latest(connection: Connection, kind: str) -> int:
        found = connection.execute(
            select(func.max(ledger_table.c.subject_id)).where(ledger_table.c.kind == kind)
        ).scalar_one()
        return int(found or 0)

    def actuals(self, team: str | None = None) -> list[Actual]:
        """Every stored actual of `team` (None: of every team), the latest import's row per
        (engineer, opportunity, week)."""
        mine = [] if team is None else [actuals_table.c.team == team]
        with self.store.engine.connect() as connection:
            rows = connection.execute(
                select(actuals_table)
                .where(*mine)
                .order_by(actuals_table.c.import_seq, actuals_table.c.id)
            ).all()
        latest = {  # Per team: every team's, for an auditor, keeps each team's latest.
            (r.team, r.engineer_id, r.opportunity_id, r.week): Actual(
                engineer_id=r.engineer_id,
                opportunity_id=r.opportunity_id,
                week=r.week,
                hours=r.hours,
            )
            for r in rows
        }
        return list(latest.values())

    def outcomes(self, team: str | None = None) -> list[Outcome]:
        """Every stored outcome of `team` (None: of every team), the latest import's row per
        opportunity."""
        mine = [] if team is None else [outcomes_table.c.team == team]
        with self.store.engine.connect() as connection:
            rows = connection.execute(
                select(outcomes_table)
                .where(*mine)
                .order_by(outcomes_table.c.import_seq, outcomes_table.c.id)
            ).all()
        latest = {
            (r.team, r.opportunity_id): Outcome(
                opportunity_id=r.opportunity_id,
                outcome=OutcomeKind(r.outcome),
                value=r.value,
                date=r.decided_on,
            )
            for r in rows
        }
        return list(latest.values())
