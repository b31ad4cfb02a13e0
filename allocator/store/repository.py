"""The store: SQLAlchemy 2 tables, their migrations, and the repository the service uses.

Owns every SQL statement of the package. Four kinds of rows:

- `ledger`: the append-only audit records, each sealed into the SHA-256 chain (`ledger.py`):
  `portfolio` (an uploaded portfolio), `run_accepted` / `run_finished` (a run's full inputs and
  its outcome), `scenario_accepted` / `scenario_finished` (a what-if request and its
  comparison). Database triggers refuse UPDATE and DELETE; `ledger_head` holds the last
  record's hash, and appending updates it first, so concurrent writers (server and worker
  processes) serialize.
- `jobs`: the mutable queue state of every kind of background work (`service/jobs.py`): kind,
  number within the kind (the id in its URLs), status, attempt, worker and lease, progress,
  cancel flag, a summary for lists, and pointers to its accepted and finished ledger records
  (explanations, whose records are derived from audited ones, keep them on the job). The
  database is the queue: worker processes claim the first queued job of any kind.
  `runs` and `scenario_sets` are read-only views over it, for whoever queries them by hand.
- `portfolios`: an index of the uploaded portfolios; their content lives in the ledger.
- `api_keys`: name, role and SHA-256 of each key.
- `actuals`, `outcomes`: the rows of actuals and outcomes imports, each pointing at its
  import's ledger record (`actuals` / `outcomes`); `store/insight.py` writes and reads them.

SQLite (the default, WAL journal, a file under ./var/) or PostgreSQL through
`ALLOCATOR_DATABASE_URL`. Schema changes are Alembic migrations in `allocator/store/migrations/`,
applied by `Store.migrate()`. Imports the light service modules only (`jobs`, `portfolios`,
`ledger`, `keys`): importing the store loads no solver.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
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
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from allocator.errors import InputIssue, InvalidInputError, NotFoundError
from allocator.service import ledger
from allocator.service.jobs import (
    Ending,
    JobFilter,
    JobKind,
    JobProgress,
    JobState,
    JobStatus,
    NewJob,
    ended_record,
)
from allocator.service.keys import DEFAULT_TEAM, KeyEntry, Role, checked_name
from allocator.service.portfolios import PortfolioEntry
from allocator.service.seals import (
    KEY_CHANGED,
    KEY_CREATED,
    KEY_RECORDS,
    KEY_REVOKED,
    Seal,
    SealMismatchError,
    key_mismatches,
)
from allocator.service.workspace import PlanRequest, WorkspaceRow

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD_REVISION = max(path.name[:4] for path in (MIGRATIONS / "versions").glob("[0-9]" * 4 + "_*.py"))
"""The newest migration: each file under migrations/versions starts with its revision
(`0009_team_workspaces.py` holds revision "0009"; tests/test_store.py holds Alembic to it)."""
Read = TypeVar("Read")

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
    Column("team", String(100), nullable=False, server_default=DEFAULT_TEAM, index=True),
)
jobs = Table(
    "jobs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("submitted_by", String(200), nullable=False, index=True),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("time_limit", Float, nullable=False),
    Column("week", String(10), index=True),
    Column("portfolio_id", BigInteger, index=True),
    Column("attempt", Integer, nullable=False),
    Column("lease", Integer, nullable=False, server_default="0"),
    Column("worker", String(100), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("cancel_requested", Boolean, nullable=False),
    Column("progress", Text),
    Column("summary", Text, nullable=False),
    Column("result_status", String(16)),
    Column("objective", Float),
    Column("message", Text, nullable=False),
    Column("accepted_seq", BigInteger, ForeignKey("ledger.seq")),
    Column("finished_seq", BigInteger, ForeignKey("ledger.seq")),
    Column("inputs", Text),
    Column("outcome", Text),
    Column("team", String(100), nullable=False, server_default=DEFAULT_TEAM, index=True),
    UniqueConstraint("kind", "number", name="uq_jobs_kind_number"),
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
    Column("team", String(100), nullable=False, server_default=DEFAULT_TEAM),
)
actuals_table = Table(  # Rows of `actuals` imports; their SQL is in `store/insight.py`.
    "actuals",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("import_seq", BigInteger, ForeignKey("ledger.seq")),
    Column("engineer_id", String(200), nullable=False),
    Column("opportunity_id", String(200), nullable=False),
    Column("week", String(10), nullable=False, index=True),
    Column("hours", Float, nullable=False),
    Column("team", String(100), nullable=False, server_default=DEFAULT_TEAM, index=True),
)
outcomes_table = Table(  # Rows of `outcomes` imports.
    "outcomes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("import_seq", BigInteger, ForeignKey("ledger.seq")),
    Column("opportunity_id", String(200), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),
    Column("value", Float),
    Column("decided_on", Date, nullable=False),
    Column("team", String(100), nullable=False, server_default=DEFAULT_TEAM, index=True),
)
workspace_table = Table(  # One living plan per team.
    "workspace",
    metadata,
    Column("team", String(100), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("content", Text, nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("run_ids", Text, nullable=False),
)
plan_requests = Table(
    "plan_requests",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("requester", String(200), nullable=False, index=True),
    Column("opportunity_id", String(200), nullable=False),
    Column("content", Text, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("run_id", BigInteger),
    Column("team", String(100), nullable=False, server_default=DEFAULT_TEAM, index=True),
)

QUEUED, RUNNING = JobStatus.QUEUED.value, JobStatus.RUNNING.value


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


def make_engine(url: str, reads: bool = False) -> Engine:
    """An engine for `url`; SQLite files get WAL, full sync and a 30 s busy wait. A server
    database's connections are tested before each use, unless the engine is for single-statement
    `reads`: then each statement is its own transaction (no BEGIN, no ROLLBACK when the
    connection goes back to the pool) and nothing is tested; each of those is a round trip
    (`Store.read` reconnects once instead)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if reads:
            return create_engine(
                url,
                isolation_level="AUTOCOMMIT",
                pool_reset_on_return=None,
                pool_size=10,
                max_overflow=20,
            )
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
        self.read_engine = self.engine if self.dialect == "sqlite" else make_engine(url, True)
        """Polled single-statement reads (`read`): one round trip each."""
        self.seal_cache: dict[tuple[int, str], Seal] = {}
        """Sealed figures by (record number, content hash): `audit.seals_by_subject`."""
        self.ended_seals: dict[tuple[str, int], list[Seal]] = {}
        """The seals of ended jobs by (kind, number): `audit.job_seals`."""

    def close(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -----------------------------------------------------------------------------------------
    # Schema

    def migrate(self) -> None:
        """Bring the schema to the newest migration (creates the database when new). Every
        process that opens the store calls this: a database already there costs one read, and
        Alembic is loaded only to change a schema."""
        if self.revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The schema's migration, or None for a database without one (new, or not ours)."""
        try:
            with self.engine.connect() as connection:
                version = connection.execute(text("SELECT version_num FROM alembic_version"))
                return version.scalar()
        except DBAPIError:
            return None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction. Its first statement must be a write, so that SQLite takes the
        write lock at once instead of failing to upgrade a read snapshot."""
        with self.engine.begin() as connection:
            yield connection

    def read(self, work: Callable[[Connection], Read]) -> Read:
        """`work` on a connection of the read engine (each statement its own transaction),
        again on a new connection when the first one turns out to be dropped (the database
        restarted): one round trip per statement, not four (test, BEGIN, read, ROLLBACK)."""
        try:
            with self.read_engine.connect() as connection:
                return work(connection)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        with self.read_engine.connect() as connection:
            return work(connection)

    # -----------------------------------------------------------------------------------------
    # Ledger

    def _append(
        self,
        connection: Connection,
        kind: str,
        subject_id: int,
        actor: str,
        content: Any,
        text: str | None = None,
    ) -> int:
        """Seal `content` into a new ledger record after the head; returns its seq. `text`:
        its canonical JSON when the caller has it already."""
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
            ledger.canonical(content) if text is None else text,
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

    def verify_ledger(self, checkpoints: Sequence[ledger.Checkpoint] = ()) -> ledger.Verdict:
        """Recompute the whole chain, record by record, compare its end with the stored head
        and each checkpoint with its record; then check every jobs, portfolio and key row
        against its sealed records (`audit.verify`)."""
        from allocator.store import audit

        return audit.verify(self, checkpoints)

    def head(self) -> tuple[int, str]:
        """The chain's last record: number and hash (0 and 64 zeros when empty)."""
        with self.engine.connect() as connection:
            row = connection.execute(select(ledger_head.c.seq, ledger_head.c.sha256)).one()
        return int(row.seq), str(row.sha256)

    def job_seals(self, kind: JobKind, numbers: Sequence[int]) -> dict[int, list[Seal]]:
        """The sealed records of jobs `numbers` of `kind`, as figures, by job number."""
        from allocator.store import audit

        return audit.job_seals(self, kind, numbers)

    def get_job_sealed(self, kind: JobKind, number: int) -> tuple[JobState, list[Seal]]:
        """The job and its sealed records, as figures, in one round trip."""
        from allocator.store import audit

        return audit.job_with_seals(self, kind, number)

    # -----------------------------------------------------------------------------------------
    # Portfolios

    def add_portfolio(
        self, entry: PortfolioEntry, content: dict[str, Any], text: str | None = None
    ) -> PortfolioEntry:
        """Store an uploaded portfolio: its content in the ledger, its summary in the index.
        `text`: the content's canonical JSON when the caller has it already (it is the
        largest record there is: serialized once)."""
        text = ledger.canonical(content) if text is None else text
        with self._write() as connection:
            # Insert the index row first (a write: takes the lock), then seal its content.
            portfolio_id = connection.execute(
                insert(portfolios)
                .values(
                    name=entry.name,
                    engineers=entry.engineers,
                    opportunities=entry.opportunities,
                    demands=entry.demands,
                    content_sha256=ledger.sha256(text),
                    created_by=entry.created_by,
                    created_at=entry.created_at,
                    team=entry.team,
                )
                .returning(portfolios.c.id)
            ).scalar_one()
            seq = self._append(
                connection, "portfolio", portfolio_id, entry.created_by, content, text
            )
            connection.execute(
                update(portfolios).where(portfolios.c.id == portfolio_id).values(ledger_seq=seq)
            )
        return self.get_portfolio(portfolio_id)

    def get_portfolio(self, portfolio_id: int) -> PortfolioEntry:
        """The portfolio's index row, checked against its sealed record (SealMismatchError)."""
        from allocator.store import audit

        with self.engine.connect() as connection:
            row = connection.execute(
                select(portfolios).where(portfolios.c.id == portfolio_id)
            ).one_or_none()
            if row is None:
                raise NotFoundError(f"portfolio {portfolio_id} does not exist")
            problems = audit.portfolio_problems(self, connection, row)
        if problems:
            raise SealMismatchError(
                f"portfolio {portfolio_id}: its index row does not match its sealed record "
                f"({'; '.join(problems)}); `allocator audit verify` names every such row"
            )
        return PortfolioEntry(
            id=row.id,
            name=row.name,
            engineers=row.engineers,
            opportunities=row.opportunities,
            demands=row.demands,
            sha256=row.content_sha256,
            created_by=row.created_by,
            created_at=_utc(row.created_at) or now(),
            team=row.team,
        )

    def uploaded_bytes(self, actor: str) -> int:
        """Characters of portfolio content (canonical JSON) `actor` has stored, in all."""
        size = func.coalesce(func.sum(func.length(ledger_table.c.content)), 0)
        with self.engine.connect() as connection:
            found = connection.execute(
                select(size).where(
                    ledger_table.c.kind == "portfolio", ledger_table.c.actor == actor
                )
            ).scalar_one()
        return int(found)

    def portfolio_content(self, portfolio_id: int) -> dict[str, Any]:
        """The portfolio as uploaded (validated), read from its ledger record."""
        with self.engine.connect() as connection:
            seq = connection.execute(
                select(portfolios.c.ledger_seq).where(portfolios.c.id == portfolio_id)
            ).scalar_one_or_none()
            if seq is None:
                raise NotFoundError(f"portfolio {portfolio_id} does not exist")
            sealed = connection.execute(
                select(ledger_table.c.kind, ledger_table.c.subject_id).where(
                    ledger_table.c.seq == seq
                )
            ).one()
            if (sealed.kind, sealed.subject_id) != ("portfolio", portfolio_id):
                raise SealMismatchError(
                    f"portfolio {portfolio_id}: its index row points to ledger record {seq} "
                    f"({sealed.kind} of {sealed.subject_id}), not its own"
                )
            content: dict[str, Any] = self._content(connection, seq)
        return content

    # -----------------------------------------------------------------------------------------
    # Jobs: runs, scenario sets and explanations; queue state here, records in the ledger

    def create_job(
        self,
        job: NewJob,
        content: Callable[[int], dict[str, Any]],
        admit: Callable[[Sequence[float]], None] | None = None,
    ) -> JobState:
        """Accept a job: its queue row and its accepted record (a ledger record for audited
        kinds), in one transaction. Numbers count up per kind. `admit` is called, inside the
        transaction, with the time limits of the submitter's queued and running jobs; it
        raises to refuse (nothing is stored)."""
        ledger_kinds = job.kind.ledger_kinds
        with self._write() as connection:
            # Lock the ledger head first (a write: takes the lock), so that numbering,
            # admission and appending serialize between processes on every database.
            connection.execute(
                update(ledger_head).where(ledger_head.c.id == 1).values(seq=ledger_head.c.seq)
            )
            if admit is not None:
                active = connection.execute(
                    select(jobs.c.time_limit).where(
                        jobs.c.submitted_by == job.submitted_by,
                        jobs.c.status.in_((QUEUED, RUNNING)),
                    )
                ).scalars()
                admit(list(active))
            number = connection.execute(
                select(func.coalesce(func.max(jobs.c.number), 0) + 1).where(
                    jobs.c.kind == job.kind.value
                )
            ).scalar_one()
            record = content(number)
            job_id = connection.execute(
                insert(jobs)
                .values(
                    kind=job.kind.value,
                    number=number,
                    priority=job.kind.priority,
                    status=QUEUED,
                    submitted_by=job.submitted_by,
                    submitted_at=job.submitted_at,
                    time_limit=job.time_limit,
                    week=job.week,
                    portfolio_id=job.portfolio_id,
                    team=job.team,
                    attempt=0,
                    worker="",
                    cancel_requested=False,
                    summary=json.dumps(dict(job.summary), sort_keys=True),
                    message="",
                    inputs=None if ledger_kinds else ledger.canonical(record),
                )
                .returning(jobs.c.id)
            ).scalar_one()
            if ledger_kinds:
                seq = self._append(connection, ledger_kinds[0], number, job.submitted_by, record)
                connection.execute(update(jobs).where(jobs.c.id == job_id).values(accepted_seq=seq))
        return self.get_job(job.kind, number)

    def get_job(self, kind: JobKind, number: int) -> JobState:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(jobs).where(jobs.c.kind == kind.value, jobs.c.number == number)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"{kind.label} {number} does not exist")
        return _job(row)

    def list_jobs(self, where: JobFilter, limit: int, offset: int) -> tuple[list[JobState], int]:
        """Jobs of a kind matching `where`, newest first, and how many match in all."""
        conditions = [jobs.c.kind == where.kind.value]
        if where.status is not None:
            conditions.append(jobs.c.status == where.status.value)
        if where.week is not None:
            conditions.append(jobs.c.week == where.week)
        if where.submitted_by is not None:
            conditions.append(jobs.c.submitted_by == where.submitted_by)
        if where.portfolio_id is not None:
            conditions.append(jobs.c.portfolio_id == where.portfolio_id)
        if where.team is not None:
            conditions.append(jobs.c.team == where.team)
        with self.engine.connect() as connection:
            total = connection.execute(
                select(func.count()).select_from(jobs).where(*conditions)
            ).scalar_one()
            rows = connection.execute(
                select(jobs)
                .where(*conditions)
                .order_by(jobs.c.number.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return [_job(row) for row in rows], total

    def queued_time_limits(self, kind: JobKind | None = JobKind.RUN) -> list[float]:
        """The time limits of the jobs (of `kind`; of every kind for None) waiting."""
        condition = [jobs.c.status == QUEUED]
        if kind is not None:
            condition.append(jobs.c.kind == kind.value)
        with self.engine.connect() as connection:
            return list(connection.execute(select(jobs.c.time_limit).where(*condition)).scalars())

    def job_inputs(self, kind: JobKind, number: int) -> dict[str, Any]:
        """The job's accepted record."""
        content = self._recorded(kind, "accepted_seq", "inputs", number)
        assert content is not None, "a job is accepted with its record"
        return content

    def job_outcome(self, kind: JobKind, number: int) -> dict[str, Any] | None:
        """The job's finished record; None while it has not ended."""
        return self._recorded(kind, "finished_seq", "outcome", number)

    def _recorded(
        self, kind: JobKind, pointer: str, column: str, number: int
    ) -> dict[str, Any] | None:
        """The record a job points to (in the ledger, or on the job for unaudited kinds);
        None when there is none yet; NotFoundError when there is no such job."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(jobs.c[pointer], jobs.c[column]).where(
                    jobs.c.kind == kind.value, jobs.c.number == number
                )
            ).one_or_none()
            if row is None:
                raise NotFoundError(f"{kind.label} {number} does not exist")
            if row[0] is not None:
                sealed = connection.execute(
                    select(ledger_table.c.kind, ledger_table.c.subject_id).where(
                        ledger_table.c.seq == row[0]
                    )
                ).one()
                expected = (kind.ledger_kinds or ("", ""))[pointer == "finished_seq"]
                if (sealed.kind, sealed.subject_id) != (expected, number):
                    raise SealMismatchError(
                        f"{kind.label} {number}: its row points to ledger record {row[0]} "
                        f"({sealed.kind} of {sealed.subject_id}), not its own {expected}"
                    )
                content: dict[str, Any] = self._content(connection, row[0])
                return content
        return None if row[1] is None else dict(json.loads(row[1]))

    def running_workers(self) -> list[str]:
        """The names of the workers that hold running jobs."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(jobs.c.worker).where(jobs.c.status == RUNNING).distinct()
                ).scalars()
            )

    def has_queued(self) -> bool:
        with self.engine.connect() as connection:
            found = connection.execute(
                select(jobs.c.id).where(jobs.c.status == QUEUED).limit(1)
            ).first()
        return found is not None

    def claim_job(self, worker: str, lease_seconds: float) -> JobState | None:
        """Mark the first queued job (by priority, then age) as running on `worker`, under a
        new lease number; None when nothing waits. On PostgreSQL the row is picked `FOR
        UPDATE SKIP LOCKED`, so claimers on many machines never wait on one another's pick
        (SQLite serialises writers anyway and leaves the clause out)."""
        first = (
            select(jobs.c.id)
            .where(jobs.c.status == QUEUED)
            .order_by(jobs.c.priority, jobs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        started = now()
        with self._write() as connection:
            claimed = connection.execute(
                update(jobs)
                .where(jobs.c.id == first, jobs.c.status == QUEUED)
                .values(
                    status=RUNNING,
                    attempt=jobs.c.attempt + 1,
                    lease=jobs.c.lease + 1,
                    worker=worker,
                    started_at=started,
                    lease_until=started + timedelta(seconds=lease_seconds),
                    progress=None,
                )
                .returning(jobs.c.kind, jobs.c.number)
            ).one_or_none()
        return None if claimed is None else self.get_job(JobKind(claimed[0]), claimed[1])

    def _held(self, kind: JobKind, number: int, lease: int) -> list[Any]:
        """The job, if it still runs under lease number `lease` (the fence of every write a
        worker makes)."""
        return [
            jobs.c.kind == kind.value,
            jobs.c.number == number,
            jobs.c.lease == lease,
            jobs.c.status == RUNNING,
        ]

    def save_job_progress(
        self,
        kind: JobKind,
        number: int,
        lease: int,
        progress: JobProgress | None,
        lease_seconds: float,
    ) -> bool:
        """Write a running job's progress (None: keep it) and renew its lease (the
        heartbeat). False, and nothing written, when lease `lease` no longer holds the job."""
        values: dict[str, Any] = {"lease_until": now() + timedelta(seconds=lease_seconds)}
        if progress is not None:
            values["progress"] = progress.model_dump_json(exclude_none=True)
        with self._write() as connection:
            return bool(
                connection.execute(
                    update(jobs).where(*self._held(kind, number, lease)).values(**values)
                ).rowcount
            )

    def job_cancel_requested(self, kind: JobKind, number: int, lease: int) -> bool:
        """True when the job was asked to stop, or lease `lease` no longer holds it."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(jobs.c.cancel_requested, jobs.c.lease, jobs.c.status).where(
                    jobs.c.kind == kind.value, jobs.c.number == number
                )
            ).one_or_none()
        if row is None:
            return True
        return bool(row.cancel_requested) or row.lease != lease or row.status != RUNNING

    def cancel_job(self, kind: JobKind, number: int, actor: str) -> JobState:
        """Cancel a queued job at once (recorded as cancelled, no result), or ask the worker
        of a running one to stop. Returns the job as it now stands."""
        with self._write() as connection:
            if connection.execute(
                update(jobs)
                .where(jobs.c.kind == kind.value, jobs.c.number == number, jobs.c.status == QUEUED)
                .values(status=JobStatus.CANCELLED.value, cancel_requested=True)
            ).rowcount:
                outcome = ended_record(
                    kind, number, JobStatus.CANCELLED, 0, None, cancelled_by=actor
                )
                ending = Ending(JobStatus.CANCELLED, outcome, message="Cancelled while queued.")
                self._close_job(connection, kind, number, ending, actor)
            else:
                connection.execute(
                    update(jobs)
                    .where(
                        jobs.c.kind == kind.value, jobs.c.number == number, jobs.c.status == RUNNING
                    )
                    .values(cancel_requested=True)
                )
        return self.get_job(kind, number)

    def finish_job(
        self, kind: JobKind, number: int, lease: int, ending: Ending, actor: str
    ) -> bool:
        """Record the end of a job's attempt: its finished record and its final state, in one
        transaction. False (and nothing written) when lease `lease` no longer holds the job."""
        with self._write() as connection:
            changed = connection.execute(
                update(jobs)
                .where(*self._held(kind, number, lease))
                .values(status=ending.status.value)
            ).rowcount
            if not changed:
                return False
            self._close_job(connection, kind, number, ending, actor)
        return True

    def _close_job(
        self, connection: Connection, kind: JobKind, number: int, ending: Ending, actor: str
    ) -> None:
        # The row's end time is the sealed one, so that reads can check it against the record.
        sealed_end = ending.outcome.get("finished_at")
        finished_at = datetime.fromisoformat(sealed_end) if sealed_end else now()
        values: dict[str, Any] = {
            "finished_at": finished_at,
            "result_status": ending.result_status,
            "objective": ending.objective,
            "message": ending.message,
            "lease_until": None,
        }
        ledger_kinds = kind.ledger_kinds
        if ledger_kinds:
            values["finished_seq"] = self._append(
                connection, ledger_kinds[1], number, actor, ending.outcome
            )
        else:
            values["outcome"] = ledger.canonical(ending.outcome)
        connection.execute(
            update(jobs).where(jobs.c.kind == kind.value, jobs.c.number == number).values(**values)
        )

    def requeue_jobs(
        self,
        workers: Sequence[str] | None,
        max_attempts: int,
        expired: bool = False,
        counted: bool = True,
        max_claims: int | None = None,
    ) -> dict[JobKind, list[int]]:
        """Put jobs left `running` by dead workers (all of them when `workers` is None; with
        `expired`, also those whose lease ran out) back in the queue. With `counted` the
        attempt counts and a job that has had `max_attempts` attempts fails instead; without
        (its server died, not the job) the attempt is given back, and a job claimed
        `max_claims` times fails. Returns their numbers by kind."""
        condition: list[Any] = [jobs.c.status == RUNNING]
        chosen: list[Any] = []
        if workers is not None:
            chosen.append(jobs.c.worker.in_(list(workers)))
            if expired:
                chosen.append(jobs.c.lease_until < now())
            condition.append(or_(*chosen))
        values: dict[str, Any] = {"status": QUEUED, "worker": "", "lease_until": None}
        if not counted:
            values["attempt"] = jobs.c.attempt - 1
        with self._write() as connection:
            stuck = connection.execute(
                update(jobs)
                .where(*condition)
                .values(**values)
                .returning(jobs.c.kind, jobs.c.number, jobs.c.attempt, jobs.c.lease)
            ).all()
            found: dict[JobKind, list[int]] = {kind: [] for kind in JobKind}
            for row in sorted(stuck, key=lambda r: (r.kind, r.number)):
                kind = JobKind(row.kind)
                found[kind].append(row.number)
                if counted and row.attempt >= max_attempts:
                    error = f"the worker process died during each of {row.attempt} attempts"
                elif not counted and max_claims is not None and row.lease >= max_claims:
                    error = (
                        f"the server holding it stopped {row.lease - row.attempt} times "
                        f"while it ran ({row.lease} claims)"
                    )
                else:
                    continue
                connection.execute(
                    update(jobs)
                    .where(jobs.c.kind == kind.value, jobs.c.number == row.number)
                    .values(status=JobStatus.FAILED.value)
                )
                outcome = ended_record(kind, row.number, JobStatus.FAILED, row.attempt, error)
                ending = Ending(JobStatus.FAILED, outcome, message=error)
                self._close_job(connection, kind, row.number, ending, "server")
        return found

    # -----------------------------------------------------------------------------------------
    # API keys

    def add_key(
        self, name: str, role: Role, key_sha256: str, team: str = DEFAULT_TEAM, actor: str = "cli"
    ) -> KeyEntry:
        """Store a key's hash, and seal it (`key_created`: name, role, team, hash). A name may
        have one active key at a time; name and team are 1 to 100 printable characters."""
        name, team = checked_name(name, "--name"), checked_name(team, "--team")
        created = now()
        with self._write() as connection:
            key_id = connection.execute(
                insert(api_keys)
                .values(
                    name=name,
                    role=role.value,
                    team=team,
                    key_sha256=key_sha256,
                    created_at=created,
                )
                .returning(api_keys.c.id)
            ).scalar_one()
            active = connection.execute(
                select(func.count())
                .select_from(api_keys)
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            ).scalar_one()
            if active > 1:  # Raising rolls the insert back.
                message = "an active key has this name; revoke it first"
                raise InvalidInputError([InputIssue("--name", "", message, name)])
            content = {"name": name, "role": role.value, "team": team, "key_sha256": key_sha256}
            self._append(connection, KEY_CREATED, key_id, actor, content)
        return KeyEntry(name=name, role=role, created_at=created, revoked_at=None, team=team)

    def change_key(
        self, name: str, role: Role | None, team: str | None, actor: str = "cli"
    ) -> KeyEntry:
        """Give the active key named `name` another role or team, sealed (`key_changed`)."""
        changes: dict[str, Any] = {}
        if role is not None:
            changes["role"] = role.value
        if team is not None:
            changes["team"] = checked_name(team, "--team")
        with self._write() as connection:
            key_id = connection.execute(
                update(api_keys)
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(**changes)
                .returning(api_keys.c.id)
            ).scalar_one_or_none()
            if key_id is None:
                raise InvalidInputError(
                    [InputIssue("NAME", "", "no active key has this name", name)]
                )
            self._append(connection, KEY_CHANGED, key_id, actor, {"name": name, **changes})
            row = connection.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
        return _key(row)

    def find_key(self, key_sha256: str) -> KeyEntry | None:
        """The active key with this hash; SealMismatchError when its row (its role, its
        team) differs from its sealed records: a key raised in the database is refused."""
        from allocator.store import audit

        with self.engine.connect() as connection:
            row = connection.execute(
                select(api_keys).where(
                    api_keys.c.key_sha256 == key_sha256, api_keys.c.revoked_at.is_(None)
                )
            ).one_or_none()
            if row is None:
                return None
            history = audit.seals_by_subject(self, connection, KEY_RECORDS, [row.id])
        problems = key_mismatches(audit.key_row_figures(row), history.get(row.id, []))
        if problems:
            raise SealMismatchError(
                f"the row of key {row.name!r} does not match its sealed records: {problems[0]}"
            )
        return _key(row)

    def list_keys(self) -> list[KeyEntry]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(api_keys).order_by(api_keys.c.id)).all()
        return [_key(row) for row in rows]

    def revoke_key(self, name: str, actor: str = "cli") -> int:
        """Revoke the active keys named `name`, sealed (`key_revoked`); returns how many."""
        with self._write() as connection:
            revoked = list(
                connection.execute(
                    update(api_keys)
                    .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                    .values(revoked_at=now())
                    .returning(api_keys.c.id)
                ).scalars()
            )
            for key_id in revoked:
                self._append(connection, KEY_REVOKED, key_id, actor, {"name": name})
            return len(revoked)

    # -----------------------------------------------------------------------------------------
    # The workspace (the living plan) and the requests filed into it

    def workspace_version(self, team: str) -> int | None:
        with self.engine.connect() as connection:
            found: int | None = connection.execute(
                select(workspace_table.c.version).where(workspace_table.c.team == team)
            ).scalar_one_or_none()
        return found

    def get_workspace(self, team: str) -> WorkspaceRow | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(workspace_table).where(workspace_table.c.team == team)
            ).one_or_none()
        if row is None:
            return None
        return WorkspaceRow(
            version=row.version,
            content=json.loads(row.content),
            updated_by=row.updated_by,
            updated_at=_utc(row.updated_at) or now(),
            run_ids=tuple(json.loads(row.run_ids)),
            team=row.team,
        )

    def save_workspace(
        self,
        team: str,
        content: dict[str, Any],
        expected_version: int | None,
        actor: str,
        request: PlanRequest | None = None,
        run_id: int | None = None,
    ) -> tuple[int, int | None]:
        """Store `team`'s plan's new document when its version is still `expected_version`
        (None: there is none yet), with the request that changed it (new, or edited when it
        has an id; filed in `team`), or a run it submitted. Returns the new version and the
        request's id. InvalidInputError when someone saved first."""
        at = now()
        mine = workspace_table.c.team == team
        with self._write() as connection:
            if expected_version is None:
                try:
                    connection.execute(
                        insert(workspace_table).values(
                            team=team,
                            version=1,
                            content=json.dumps(content),
                            updated_by=actor,
                            updated_at=at,
                            run_ids="[]",
                        )
                    )
                except IntegrityError:  # Someone created it first: the transaction ends.
                    raise _moved(expected_version) from None
                version = 1
            else:
                values: dict[str, Any] = {
                    "version": expected_version + 1,
                    "updated_by": actor,
                    "updated_at": at,
                }
                if run_id is None:
                    values["content"] = json.dumps(content)
                else:  # A run submitted: the plan's document is unchanged.
                    ids = connection.execute(
                        select(workspace_table.c.run_ids).where(mine)
                    ).scalar_one()
                    values["run_ids"] = json.dumps([*json.loads(ids), run_id])
                changed = connection.execute(
                    update(workspace_table)
                    .where(mine, workspace_table.c.version == expected_version)
                    .values(**values)
                ).rowcount
                if changed != 1:
                    raise _moved(expected_version)
                version = expected_version + 1
            request_id = None
            if request is not None and request.id:  # An edit of a filed request.
                connection.execute(
                    update(plan_requests)
                    .where(plan_requests.c.id == request.id, plan_requests.c.team == team)
                    .values(content=json.dumps(request.content))
                )
                request_id = request.id
            elif request is not None:
                request_id = connection.execute(
                    insert(plan_requests)
                    .values(
                        requester=request.requester,
                        opportunity_id=request.opportunity_id,
                        content=json.dumps(request.content),
                        submitted_at=request.submitted_at,
                        team=team,
                    )
                    .returning(plan_requests.c.id)
                ).scalar_one()
        return version, request_id

    def list_plan_requests(
        self, team: str | None, requester: str | None, limit: int, offset: int
    ) -> tuple[list[PlanRequest], int]:
        """Requests newest first, one page: `team`'s (None: every team's), only
        `requester`'s when given."""
        where = [] if requester is None else [plan_requests.c.requester == requester]
        if team is not None:
            where.append(plan_requests.c.team == team)
        with self.engine.connect() as connection:
            total = connection.execute(
                select(func.count()).select_from(plan_requests).where(*where)
            ).scalar_one()
            rows = connection.execute(
                select(plan_requests)
                .where(*where)
                .order_by(plan_requests.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return [_plan_request(row) for row in rows], total

    def teams(self) -> list[str]:
        """Every team a key or a workspace names, sorted."""
        with self.engine.connect() as connection:
            found = connection.execute(
                select(api_keys.c.team).union(select(workspace_table.c.team))
            ).scalars()
            return sorted(set(found))

    def get_plan_request(self, request_id: int) -> PlanRequest:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(plan_requests).where(plan_requests.c.id == request_id)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"no request {request_id}")
        return _plan_request(row)

    def link_plan_requests(self, team: str, opportunity_ids: list[str], run_id: int) -> int:
        """`team`'s run takes in the team's requests on these opportunities; returns how
        many."""
        with self._write() as connection:
            return connection.execute(
                update(plan_requests)
                .where(
                    plan_requests.c.team == team,
                    plan_requests.c.opportunity_id.in_(opportunity_ids),
                )
                .values(run_id=run_id)
            ).rowcount


def _moved(expected: int | None) -> InvalidInputError:
    return InvalidInputError(
        [InputIssue("workspace", "version", "changed meanwhile; reload and try again", expected)]
    )


def _plan_request(row: Row[Any]) -> PlanRequest:
    return PlanRequest(
        id=row.id,
        requester=row.requester,
        opportunity_id=row.opportunity_id,
        content=json.loads(row.content),
        submitted_at=_utc(row.submitted_at) or now(),
        run_id=row.run_id,
        team=row.team,
    )


JOB_STATE_COLUMNS = [
    jobs.c[name]
    for name in (
        "kind",
        "number",
        "status",
        "submitted_by",
        "submitted_at",
        "started_at",
        "finished_at",
        "time_limit",
        "week",
        "portfolio_id",
        "attempt",
        "lease",
        "worker",
        "cancel_requested",
        "progress",
        "summary",
        "result_status",
        "objective",
        "message",
        "team",
    )
]
"""The columns `_job` reads (not the job's inputs and outcome)."""


def _job(row: Row[Any]) -> JobState:
    return JobState(
        kind=JobKind(row.kind),
        id=row.number,
        status=JobStatus(row.status),
        submitted_by=row.submitted_by,
        submitted_at=_utc(row.submitted_at) or now(),
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        time_limit=row.time_limit,
        week=row.week,
        portfolio_id=row.portfolio_id,
        attempt=row.attempt,
        lease=row.lease,
        worker=row.worker,
        cancel_requested=bool(row.cancel_requested),
        progress=JobProgress.model_validate_json(row.progress or "{}"),
        summary=json.loads(row.summary),
        result_status=row.result_status,
        objective=row.objective,
        message=row.message,
        team=row.team,
    )


def _key(row: Row[Any]) -> KeyEntry:
    return KeyEntry(
        name=row.name,
        role=Role(row.role),
        created_at=_utc(row.created_at) or now(),
        revoked_at=_utc(row.revoked_at),
        team=row.team,
    )
