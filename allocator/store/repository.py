"""The run store: SQLAlchemy 2 tables, their migrations, and the repository the service uses.

An edge. Owns every SQL statement of the package. Four kinds of rows:

- `ledger`: the append-only audit records, each sealed into the SHA-256 chain (`ledger.py`):
  `portfolio` (an uploaded portfolio), `run_accepted` (a run's full inputs: portfolio snapshot,
  policy, parameters, versions, who submitted it) and `run_finished` (its outcome and result).
  Database triggers refuse UPDATE and DELETE; `ledger_head` holds the last record's hash, and
  appending updates it first, so concurrent writers (server and worker processes) serialize.
- `runs`: the mutable queue state of each run (status, attempt, progress, summary): the
  database is the queue, worker processes claim the oldest queued run.
- `portfolios`: an index of the uploaded portfolios; their content lives in the ledger.
- `api_keys`: name, role and SHA-256 of each key.
- `scenario_sets`: the queue state of each what-if request (`scenario_service.py`); its inputs
  and its comparison are `scenario_accepted` and `scenario_finished` ledger records.

SQLite (the default, WAL journal, a file under ./var/) or PostgreSQL through
`ALLOCATOR_DATABASE_URL`. Schema changes are Alembic migrations in `allocator/store/migrations/`,
applied by `Store.migrate()`. Imports the service's record types (`runs`,
`scenario_service`), `ledger` and `keys`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url

from allocator.errors import InputIssue, InvalidInputError, NotFoundError
from allocator.service import ledger
from allocator.service.keys import KeyEntry, Role
from allocator.service.runs import (
    PortfolioEntry,
    RunFilter,
    RunState,
    RunStatus,
    RunSummary,
)
from allocator.service.scenario_sets import ScenarioSetState, ScenarioSetSummary

MIGRATIONS = Path(__file__).with_name("migrations")

metadata = MetaData()

ledger_table = Table(
    "ledger",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(20), nullable=False),
    Column("subject_id", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("content", Text, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("prev_sha256", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Index("ix_ledger_kind_subject", "kind", "subject_id"),
)
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
)
portfolios = Table(
    "portfolios",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("engineers", Integer, nullable=False),
    Column("opportunities", Integer, nullable=False),
    Column("demands", Integer, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("ledger_seq", BigInteger, ForeignKey("ledger.seq")),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
runs = Table(
    "runs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("status", String(16), nullable=False, index=True),
    Column("week", String(10), nullable=False, index=True),
    Column("submitted_by", String(200), nullable=False, index=True),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("portfolio_id", BigInteger),
    Column("portfolio_name", String(200), nullable=False),
    Column("previous_run_id", BigInteger),
    Column("time_limit", Float, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("worker", String(100), nullable=False),
    Column("cancel_requested", Boolean, nullable=False),
    Column("best_objective", Float),
    Column("best_bound", Float),
    Column("gap", Float),
    Column("progress_seconds", Float),
    Column("solve_status", String(16)),
    Column("objective", Float),
    Column("message", Text, nullable=False),
    Column("accepted_seq", BigInteger, ForeignKey("ledger.seq")),
    Column("finished_seq", BigInteger, ForeignKey("ledger.seq")),
)
scenario_sets = Table(
    "scenario_sets",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("status", String(16), nullable=False, index=True),
    Column("submitted_by", String(200), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("portfolio_id", BigInteger),
    Column("base_run_id", BigInteger),
    Column("portfolio_name", String(200), nullable=False),
    Column("scenarios", Integer, nullable=False),
    Column("time_limit", Float, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("worker", String(100), nullable=False),
    Column("solves_done", Integer, nullable=False),
    Column("solves_total", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("accepted_seq", BigInteger, ForeignKey("ledger.seq")),
    Column("finished_seq", BigInteger, ForeignKey("ledger.seq")),
    Column("kind", String(16), nullable=False, server_default="scenarios"),
)
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("name", String(100), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

ACTIVE = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


def now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def display_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, full sync and a 30 s busy wait."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


class Store:
    """The repository over one database. Safe to share between threads; each worker process
    opens its own.

    >>> store = Store("sqlite:///var/example.db")  # doctest: +SKIP
    >>> store.migrate()  # doctest: +SKIP
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -----------------------------------------------------------------------------------------
    # Schema

    def migrate(self) -> None:
        """Bring the schema to the newest migration (creates the database when new)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction. Its first statement must be a write, so that SQLite takes the
        write lock at once instead of failing to upgrade a read snapshot."""
        with self.engine.begin() as connection:
            yield connection

    # -----------------------------------------------------------------------------------------
    # Ledger

    def _append(
        self, connection: Connection, kind: str, subject_id: int, actor: str, content: Any
    ) -> int:
        """Seal `content` into a new ledger record after the head; returns its seq."""
        head = connection.execute(
            update(ledger_head)
            .where(ledger_head.c.id == 1)
            .values(seq=ledger_head.c.seq + 1)
            .returning(ledger_head.c.seq, ledger_head.c.sha256)
        ).one()
        record = ledger.seal(
            head.seq,
            kind,
            subject_id,
            actor,
            now().isoformat(),
            ledger.canonical(content),
            head.sha256,
        )
        connection.execute(insert(ledger_table).values(**record.__dict__))
        connection.execute(
            update(ledger_head).where(ledger_head.c.id == 1).values(sha256=record.sha256)
        )
        return record.seq

    def _content(self, connection: Connection, seq: int) -> Any:
        text = connection.execute(
            select(ledger_table.c.content).where(ledger_table.c.seq == seq)
        ).scalar_one()
        return json.loads(text)

    def verify_ledger(self) -> ledger.Verdict:
        """Recompute the whole chain, record by record, and compare with the stored head."""
        columns = [ledger_table.c[name] for name in ledger.Record.__dataclass_fields__]
        with self.engine.connect() as connection:
            head = connection.execute(select(ledger_head.c.seq, ledger_head.c.sha256)).one()
            rows = connection.execution_options(yield_per=200).execute(
                select(*columns).order_by(ledger_table.c.seq)
            )
            return ledger.verify(
                (ledger.Record(*row) for row in rows), head=(head.seq, head.sha256)
            )

    # -----------------------------------------------------------------------------------------
    # Portfolios

    def add_portfolio(self, entry: PortfolioEntry, content: dict[str, Any]) -> PortfolioEntry:
        """Store an uploaded portfolio: its content in the ledger, its summary in the index."""
        with self._write() as connection:
            # Insert the index row first (a write: takes the lock), then seal its content.
            portfolio_id = connection.execute(
                insert(portfolios)
                .values(
                    name=entry.name,
                    engineers=entry.engineers,
                    opportunities=entry.opportunities,
                    demands=entry.demands,
                    content_sha256=ledger.sha256(ledger.canonical(content)),
                    created_by=entry.created_by,
                    created_at=entry.created_at,
                )
                .returning(portfolios.c.id)
            ).scalar_one()
            seq = self._append(connection, "portfolio", portfolio_id, entry.created_by, content)
            connection.execute(
                update(portfolios).where(portfolios.c.id == portfolio_id).values(ledger_seq=seq)
            )
        return self.get_portfolio(portfolio_id)

    def get_portfolio(self, portfolio_id: int) -> PortfolioEntry:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(portfolios).where(portfolios.c.id == portfolio_id)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"portfolio {portfolio_id} does not exist")
        return PortfolioEntry(
            id=row.id,
            name=row.name,
            engineers=row.engineers,
            opportunities=row.opportunities,
            demands=row.demands,
            sha256=row.content_sha256,
            created_by=row.created_by,
            created_at=_utc(row.created_at) or now(),
        )

    def portfolio_content(self, portfolio_id: int) -> dict[str, Any]:
        """The portfolio as uploaded (validated), read from its ledger record."""
        with self.engine.connect() as connection:
            seq = connection.execute(
                select(portfolios.c.ledger_seq).where(portfolios.c.id == portfolio_id)
            ).scalar_one_or_none()
            if seq is None:
                raise NotFoundError(f"portfolio {portfolio_id} does not exist")
            content: dict[str, Any] = self._content(connection, seq)
        return content

    # -----------------------------------------------------------------------------------------
    # Runs

    def create_run(self, summary: RunSummary, inputs: dict[str, Any]) -> RunState:
        """Accept a run: its queue row and its `run_accepted` record, in one transaction."""
        with self._write() as connection:
            run_id = connection.execute(
                insert(runs)
                .values(
                    status=RunStatus.QUEUED.value,
                    week=summary.week,
                    submitted_by=summary.submitted_by,
                    submitted_at=summary.submitted_at,
                    portfolio_id=summary.portfolio_id,
                    portfolio_name=summary.portfolio_name,
                    previous_run_id=summary.previous_run_id,
                    time_limit=summary.time_limit,
                    seed=summary.seed,
                    attempt=0,
                    worker="",
                    cancel_requested=False,
                    message="",
                )
                .returning(runs.c.id)
            ).scalar_one()
            content = {"run_id": run_id, **inputs}
            seq = self._append(connection, "run_accepted", run_id, summary.submitted_by, content)
            connection.execute(update(runs).where(runs.c.id == run_id).values(accepted_seq=seq))
        return self.get_run(run_id)

    def get_run(self, run_id: int) -> RunState:
        with self.engine.connect() as connection:
            row = connection.execute(select(runs).where(runs.c.id == run_id)).one_or_none()
        if row is None:
            raise NotFoundError(f"run {run_id} does not exist")
        return _state(row)

    def list_runs(self, where: RunFilter, limit: int, offset: int) -> tuple[list[RunState], int]:
        """Runs matching `where`, newest first, and how many match in all."""
        conditions = []
        if where.status is not None:
            conditions.append(runs.c.status == where.status.value)
        if where.week is not None:
            conditions.append(runs.c.week == where.week)
        if where.submitted_by is not None:
            conditions.append(runs.c.submitted_by == where.submitted_by)
        if where.portfolio_id is not None:
            conditions.append(runs.c.portfolio_id == where.portfolio_id)
        with self.engine.connect() as connection:
            total = connection.execute(
                select(func.count()).select_from(runs).where(*conditions)
            ).scalar_one()
            rows = connection.execute(
                select(runs)
                .where(*conditions)
                .order_by(runs.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return [_state(row) for row in rows], total

    def queued_time_limits(self) -> list[float]:
        """The time limits of the runs waiting for a worker."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(runs.c.time_limit).where(runs.c.status == RunStatus.QUEUED.value)
                ).scalars()
            )

    def run_inputs(self, run_id: int) -> dict[str, Any]:
        """The content of the run's `run_accepted` record."""
        content = self._recorded(runs, "accepted_seq", run_id, "run")
        assert content is not None, "a run is accepted with its record"
        return content

    def run_outcome(self, run_id: int) -> dict[str, Any] | None:
        """The content of the run's `run_finished` record; None while it has not finished."""
        return self._recorded(runs, "finished_seq", run_id, "run")

    def _recorded(self, table: Table, column: str, key: int, what: str) -> dict[str, Any] | None:
        """The ledger content a row of `table` points to through `column`; None when it points
        nowhere yet; NotFoundError naming `what` when there is no such row."""
        with self.engine.connect() as connection:
            row = connection.execute(select(table.c[column]).where(table.c.id == key)).one_or_none()
            if row is None:
                raise NotFoundError(f"{what} {key} does not exist")
            if row[0] is None:
                return None
            content: dict[str, Any] = self._content(connection, row[0])
        return content

    def claim_next(self, worker: str) -> RunState | None:
        """Mark the oldest queued run as running on `worker`; None when nothing waits."""
        oldest = (
            select(func.min(runs.c.id))
            .where(runs.c.status == RunStatus.QUEUED.value)
            .scalar_subquery()
        )
        with self._write() as connection:
            claimed = connection.execute(
                update(runs)
                .where(runs.c.id == oldest, runs.c.status == RunStatus.QUEUED.value)
                .values(
                    status=RunStatus.RUNNING.value,
                    attempt=runs.c.attempt + 1,
                    worker=worker,
                    started_at=now(),
                    best_objective=None,
                    best_bound=None,
                    gap=None,
                    progress_seconds=None,
                )
                .returning(runs.c.id)
            ).scalar_one_or_none()
        return None if claimed is None else self.get_run(claimed)

    def has_queued(self) -> bool:
        with self.engine.connect() as connection:
            found = connection.execute(
                select(runs.c.id).where(runs.c.status == RunStatus.QUEUED.value).limit(1)
            ).first()
        return found is not None

    def save_progress(
        self,
        run_id: int,
        attempt: int,
        objective: float,
        bound: float | None,
        gap: float | None,
        seconds: float,
    ) -> None:
        with self._write() as connection:
            connection.execute(
                update(runs)
                .where(
                    runs.c.id == run_id,
                    runs.c.attempt == attempt,
                    runs.c.status == RunStatus.RUNNING.value,
                )
                .values(
                    best_objective=objective, best_bound=bound, gap=gap, progress_seconds=seconds
                )
            )

    def cancel_requested(self, run_id: int, attempt: int) -> bool:
        """True when the run was asked to stop, or is no longer this attempt's to run."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(runs.c.cancel_requested, runs.c.attempt, runs.c.status).where(
                    runs.c.id == run_id
                )
            ).one_or_none()
        if row is None:
            return True
        return bool(row.cancel_requested) or row.attempt != attempt or row.status != "running"

    def request_cancel(self, run_id: int, actor: str) -> RunState:
        """Cancel a queued run at once (recorded as cancelled, no result), or ask the worker
        of a running one to stop. Returns the run as it now stands."""
        with self._write() as connection:
            if connection.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == RunStatus.QUEUED.value)
                .values(status=RunStatus.CANCELLED.value, cancel_requested=True)
            ).rowcount:
                outcome = {
                    "run_id": run_id,
                    "status": RunStatus.CANCELLED.value,
                    "attempt": 0,
                    "cancelled_by": actor,
                    "result": None,
                    "error": None,
                }
                self._close_run(
                    connection, run_id, outcome, actor, message="Cancelled while queued."
                )
            else:
                connection.execute(
                    update(runs)
                    .where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value)
                    .values(cancel_requested=True)
                )
        return self.get_run(run_id)

    def finish(
        self,
        run_id: int,
        attempt: int,
        status: RunStatus,
        outcome: dict[str, Any],
        actor: str,
        solve_status: str | None = None,
        objective: float | None = None,
        message: str = "",
    ) -> bool:
        """Record the end of a run's attempt: its `run_finished` record and its final state,
        in one transaction. False (and nothing written) when the attempt is no longer current."""
        with self._write() as connection:
            changed = connection.execute(
                update(runs)
                .where(
                    runs.c.id == run_id,
                    runs.c.attempt == attempt,
                    runs.c.status == RunStatus.RUNNING.value,
                )
                .values(status=status.value)
            ).rowcount
            if not changed:
                return False
            self._close_run(connection, run_id, outcome, actor, solve_status, objective, message)
        return True

    def _close_run(
        self,
        connection: Connection,
        run_id: int,
        outcome: dict[str, Any],
        actor: str,
        solve_status: str | None = None,
        objective: float | None = None,
        message: str = "",
    ) -> None:
        seq = self._append(connection, "run_finished", run_id, actor, outcome)
        connection.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(
                finished_seq=seq,
                finished_at=now(),
                solve_status=solve_status,
                objective=objective,
                message=message,
            )
        )

    def requeue_running(self, workers: Sequence[str] | None, max_attempts: int) -> list[int]:
        """Put runs left `running` by dead workers (all of them when `workers` is None) back in
        the queue; a run that has had `max_attempts` attempts fails instead. Returns their ids."""
        condition = [runs.c.status == RunStatus.RUNNING.value]
        if workers is not None:
            condition.append(runs.c.worker.in_(list(workers)))
        with self._write() as connection:
            stuck = connection.execute(
                update(runs)
                .where(*condition)
                .values(status=RunStatus.QUEUED.value, worker="")
                .returning(runs.c.id, runs.c.attempt)
            ).all()
            for row in stuck:
                if row.attempt < max_attempts:
                    continue
                connection.execute(
                    update(runs).where(runs.c.id == row.id).values(status=RunStatus.FAILED.value)
                )
                error = f"the worker process died during each of {row.attempt} attempts"
                outcome = {
                    "run_id": row.id,
                    "status": RunStatus.FAILED.value,
                    "attempt": row.attempt,
                    "result": None,
                    "error": error,
                }
                self._close_run(connection, row.id, outcome, "server", message=error)
        return [row.id for row in stuck]

    # -----------------------------------------------------------------------------------------
    # Scenario sets (what-if requests): queue state here, inputs and outcome in the ledger

    def create_scenario_set(
        self, summary: ScenarioSetSummary, inputs: dict[str, Any]
    ) -> ScenarioSetState:
        """Accept a scenario set: its queue row and its `scenario_accepted` record."""
        with self._write() as connection:
            set_id = connection.execute(
                insert(scenario_sets)
                .values(
                    status=RunStatus.QUEUED.value,
                    kind=summary.kind,
                    submitted_by=summary.submitted_by,
                    submitted_at=summary.submitted_at,
                    portfolio_id=summary.portfolio_id,
                    base_run_id=summary.base_run_id,
                    portfolio_name=summary.portfolio_name,
                    scenarios=summary.scenarios,
                    time_limit=summary.time_limit,
                    seed=summary.seed,
                    attempt=0,
                    worker="",
                    solves_done=0,
                    solves_total=0,
                    message="",
                )
                .returning(scenario_sets.c.id)
            ).scalar_one()
            content = {"scenario_set_id": set_id, **inputs}
            seq = self._append(
                connection, "scenario_accepted", set_id, summary.submitted_by, content
            )
            connection.execute(
                update(scenario_sets).where(scenario_sets.c.id == set_id).values(accepted_seq=seq)
            )
        return self.get_scenario_set(set_id)

    def get_scenario_set(self, set_id: int) -> ScenarioSetState:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(scenario_sets).where(scenario_sets.c.id == set_id)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"scenario set {set_id} does not exist")
        return _scenario_state(row)

    def scenario_set_inputs(self, set_id: int) -> dict[str, Any]:
        """The content of the set's `scenario_accepted` record."""
        content = self._recorded(scenario_sets, "accepted_seq", set_id, "scenario set")
        assert content is not None, "a scenario set is accepted with its record"
        return content

    def scenario_set_outcome(self, set_id: int) -> dict[str, Any] | None:
        """The content of the set's `scenario_finished` record; None until it has ended."""
        return self._recorded(scenario_sets, "finished_seq", set_id, "scenario set")

    def queued_scenario_sets(self) -> int:
        with self.engine.connect() as connection:
            count: int = connection.execute(
                select(func.count())
                .select_from(scenario_sets)
                .where(scenario_sets.c.status == RunStatus.QUEUED.value)
            ).scalar_one()
        return count

    def claim_next_scenario_set(self, worker: str) -> ScenarioSetState | None:
        """Mark the oldest queued set as running on `worker`; None when nothing waits."""
        oldest = (
            select(func.min(scenario_sets.c.id))
            .where(scenario_sets.c.status == RunStatus.QUEUED.value)
            .scalar_subquery()
        )
        with self._write() as connection:
            claimed = connection.execute(
                update(scenario_sets)
                .where(
                    scenario_sets.c.id == oldest,
                    scenario_sets.c.status == RunStatus.QUEUED.value,
                )
                .values(
                    status=RunStatus.RUNNING.value,
                    attempt=scenario_sets.c.attempt + 1,
                    worker=worker,
                    started_at=now(),
                    solves_done=0,
                )
                .returning(scenario_sets.c.id)
            ).scalar_one_or_none()
        return None if claimed is None else self.get_scenario_set(claimed)

    def save_scenario_progress(self, set_id: int, attempt: int, done: int, total: int) -> None:
        with self._write() as connection:
            connection.execute(
                update(scenario_sets)
                .where(
                    scenario_sets.c.id == set_id,
                    scenario_sets.c.attempt == attempt,
                    scenario_sets.c.status == RunStatus.RUNNING.value,
                )
                .values(solves_done=done, solves_total=total)
            )

    def finish_scenario_set(
        self,
        set_id: int,
        attempt: int,
        status: RunStatus,
        outcome: dict[str, Any],
        actor: str,
        message: str = "",
    ) -> bool:
        """Record the end of a set's attempt: its `scenario_finished` record and final state.
        False (and nothing written) when the attempt is no longer current."""
        with self._write() as connection:
            changed = connection.execute(
                update(scenario_sets)
                .where(
                    scenario_sets.c.id == set_id,
                    scenario_sets.c.attempt == attempt,
                    scenario_sets.c.status == RunStatus.RUNNING.value,
                )
                .values(status=status.value)
            ).rowcount
            if not changed:
                return False
            seq = self._append(connection, "scenario_finished", set_id, actor, outcome)
            connection.execute(
                update(scenario_sets)
                .where(scenario_sets.c.id == set_id)
                .values(finished_seq=seq, finished_at=now(), message=message)
            )
        return True

    def requeue_running_scenario_sets(self, max_attempts: int) -> list[int]:
        """Put sets left `running` by a dead server back in the queue; a set that has had
        `max_attempts` attempts fails instead. Returns their ids."""
        with self._write() as connection:
            stuck = connection.execute(
                update(scenario_sets)
                .where(scenario_sets.c.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.QUEUED.value, worker="")
                .returning(scenario_sets.c.id, scenario_sets.c.attempt)
            ).all()
            for row in stuck:
                if row.attempt < max_attempts:
                    continue
                connection.execute(
                    update(scenario_sets)
                    .where(scenario_sets.c.id == row.id)
                    .values(status=RunStatus.FAILED.value)
                )
                error = f"the server stopped during each of {row.attempt} attempts"
                outcome = {
                    "scenario_set_id": row.id,
                    "status": RunStatus.FAILED.value,
                    "attempt": row.attempt,
                    "comparison": None,
                    "error": error,
                }
                seq = self._append(connection, "scenario_finished", row.id, "server", outcome)
                connection.execute(
                    update(scenario_sets)
                    .where(scenario_sets.c.id == row.id)
                    .values(finished_seq=seq, finished_at=now(), message=error)
                )
        return [row.id for row in stuck]

    # -----------------------------------------------------------------------------------------
    # API keys

    def add_key(self, name: str, role: Role, key_sha256: str) -> KeyEntry:
        """Store a key's hash. A name may have one active key at a time."""
        created = now()
        with self._write() as connection:
            connection.execute(
                insert(api_keys).values(
                    name=name, role=role.value, key_sha256=key_sha256, created_at=created
                )
            )
            active = connection.execute(
                select(func.count())
                .select_from(api_keys)
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            ).scalar_one()
            if active > 1:  # Raising rolls the insert back.
                message = "an active key has this name; revoke it first"
                raise InvalidInputError([InputIssue("--name", "", message, name)])
        return KeyEntry(name=name, role=role, created_at=created, revoked_at=None)

    def find_key(self, key_sha256: str) -> KeyEntry | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(api_keys).where(
                    api_keys.c.key_sha256 == key_sha256, api_keys.c.revoked_at.is_(None)
                )
            ).one_or_none()
        return None if row is None else _key(row)

    def list_keys(self) -> list[KeyEntry]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(api_keys).order_by(api_keys.c.id)).all()
        return [_key(row) for row in rows]

    def revoke_key(self, name: str) -> int:
        """Revoke the active keys named `name`; returns how many."""
        with self._write() as connection:
            return connection.execute(
                update(api_keys)
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now())
            ).rowcount


def _state(row: Row[Any]) -> RunState:
    return RunState(
        id=row.id,
        status=RunStatus(row.status),
        week=row.week,
        submitted_by=row.submitted_by,
        submitted_at=_utc(row.submitted_at) or now(),
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        portfolio_id=row.portfolio_id,
        portfolio_name=row.portfolio_name,
        previous_run_id=row.previous_run_id,
        time_limit=row.time_limit,
        seed=row.seed,
        attempt=row.attempt,
        cancel_requested=bool(row.cancel_requested),
        best_objective=row.best_objective,
        best_bound=row.best_bound,
        gap=row.gap,
        progress_seconds=row.progress_seconds,
        solve_status=row.solve_status,
        objective=row.objective,
        message=row.message,
    )


def _key(row: Row[Any]) -> KeyEntry:
    return KeyEntry(
        name=row.name,
        role=Role(row.role),
        created_at=_utc(row.created_at) or now(),
        revoked_at=_utc(row.revoked_at),
    )


def _scenario_state(row: Row[Any]) -> ScenarioSetState:
    return ScenarioSetState(
        id=row.id,
        status=RunStatus(row.status),
        kind=row.kind,
        submitted_by=row.submitted_by,
        submitted_at=_utc(row.submitted_at) or now(),
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        portfolio_id=row.portfolio_id,
        base_run_id=row.base_run_id,
        portfolio_name=row.portfolio_name,
        scenarios=row.scenarios,
        time_limit=row.time_limit,
        seed=row.seed,
        attempt=row.attempt,
        solves_done=row.solves_done,
        solves_total=row.solves_total,
        message=row.message,
    )
