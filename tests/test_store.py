"""The job store on SQLite and on PostgreSQL: the same tests, each on a fresh real database.

Runs and scenario sets are one `jobs` table: the queue tests run for both kinds (and the
unaudited explanation kind where it differs). PostgreSQL runs when
ALLOCATOR_TEST_POSTGRES_URL is set (.ci/run sets it); otherwise those tests skip and say why.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from servicekit import BACKENDS, database_url, migrated_store
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from allocator.errors import InvalidInputError, NotFoundError
from allocator.service.jobs import (
    Ending,
    JobFilter,
    JobKind,
    JobProgress,
    JobService,
    JobStatus,
    NewJob,
)
from allocator.service.keys import Role, hash_key
from allocator.service.portfolios import PortfolioEntry
from allocator.service.settings import Settings
from allocator.store.repository import Store, metadata

KINDS = [JobKind.RUN, JobKind.SCENARIO_SET]
"""The audited kinds: their records are ledger records."""


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with migrated_store(request.param, tmp_path) as opened:
        yield opened


def new(
    kind: JobKind = JobKind.RUN, submitted_by: str = "alice", week: str | None = "2026-W49"
) -> NewJob:
    return NewJob(
        kind=kind,
        submitted_by=submitted_by,
        submitted_at=datetime.now(UTC),
        time_limit=1.0,
        summary={"portfolio_name": "p"},
        week=week,
    )


def accepted(extra: dict[str, Any] | None = None) -> Any:
    return lambda number: {"number": number, **(extra or {})}


def entry(name: str = "p") -> PortfolioEntry:
    return PortfolioEntry(0, name, 1, 2, 3, "", "alice", datetime.now(UTC))


def done(outcome: dict[str, Any]) -> Ending:
    return Ending(JobStatus.DONE, outcome, result_status="optimal", objective=11.0)


def test_migrations_build_exactly_the_declared_schema(store: Store) -> None:
    store.migrate()  # A second upgrade is a no-op.
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_a_portfolio_is_stored_and_read_back(store: Store) -> None:
    content = {"name": "p", "engineers": [{"id": "E1", "note": "é"}], "horizon_weeks": 2}
    stored = store.add_portfolio(entry(), content)
    assert stored.id >= 1 and stored.created_by == "alice" and len(stored.sha256) == 64
    assert store.get_portfolio(stored.id) == stored
    assert store.portfolio_content(stored.id) == content
    with pytest.raises(NotFoundError, match="portfolio 999 does not exist"):
        store.get_portfolio(999)


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_goes_from_queued_to_done_with_two_ledger_records(
    store: Store, kind: JobKind
) -> None:
    job = store.create_job(new(kind), accepted({"portfolio": {"name": "p"}}))
    assert job.status is JobStatus.QUEUED and job.attempt == 0 and job.kind is kind
    assert store.job_inputs(kind, job.id) == {"number": job.id, "portfolio": {"name": "p"}}
    assert store.job_outcome(kind, job.id) is None

    claimed = store.claim_job("host:1", 30)
    assert claimed is not None and (claimed.kind, claimed.id) == (kind, job.id)
    assert claimed.status is JobStatus.RUNNING and claimed.attempt == 1
    assert store.claim_job("host:2", 30) is None

    store.save_job_progress(kind, job.id, 1, JobProgress(best_objective=10.0, done=1), 30)
    store.save_job_progress(kind, job.id, 1, None, 30)  # Only the lease: progress stays.
    running = store.get_job(kind, job.id)
    assert running.progress == JobProgress(best_objective=10.0, done=1)

    outcome = {"status": "done", "result": {"objective": 11.0}}
    assert store.finish_job(kind, job.id, 1, done(outcome), "host:1")
    ended = store.get_job(kind, job.id)
    assert ended.status is JobStatus.DONE and ended.objective == 11.0
    assert ended.finished_at is not None and ended.result_status == "optimal"
    assert store.job_outcome(kind, job.id) == outcome
    verdict = store.verify_ledger()
    assert verdict.ok and verdict.records == 2


def test_each_kind_numbers_its_own_jobs_and_explanations_stay_out_of_the_ledger(
    store: Store,
) -> None:
    run = store.create_job(new(JobKind.RUN), accepted())
    scenario_set = store.create_job(new(JobKind.SCENARIO_SET), accepted())
    explanation = store.create_job(new(JobKind.EXPLANATION), accepted({"q": "why"}))
    assert (run.id, scenario_set.id, explanation.id) == (1, 1, 1)
    assert store.create_job(new(JobKind.RUN), accepted()).id == 2
    assert store.verify_ledger().records == 3  # Two runs and a set; no explanation.
    # Explanations someone waits for are claimed before runs, whatever their age.
    claimed = store.claim_job("host:1", 30)
    assert claimed is not None and claimed.kind is JobKind.EXPLANATION
    assert store.finish_job(JobKind.EXPLANATION, 1, 1, done({"answer": 42}), "host:1")
    assert store.job_outcome(JobKind.EXPLANATION, 1) == {"answer": 42}
    assert store.job_inputs(JobKind.EXPLANATION, 1) == {"number": 1, "q": "why"}
    assert store.verify_ledger().records == 3


@pytest.mark.parametrize("kind", KINDS)
def test_a_stale_attempt_cannot_finish_a_job_queued_again(store: Store, kind: JobKind) -> None:
    job = store.create_job(new(kind), accepted())
    store.claim_job("host:1", 30)
    assert store.requeue_jobs(["host:1"], max_attempts=3)[kind] == [job.id]
    assert store.get_job(kind, job.id).status is JobStatus.QUEUED
    again = store.claim_job("host:2", 30)
    assert again is not None and again.attempt == 2
    assert store.job_cancel_requested(kind, job.id, 1)  # The old attempt is told to stop ...
    assert not store.finish_job(kind, job.id, 1, done({}), "host:1")  # ... and cannot finish.
    assert store.finish_job(kind, job.id, 2, done({"attempt": 2}), "host:2")
    assert store.job_outcome(kind, job.id) == {"attempt": 2}
    assert store.verify_ledger().records == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_whose_worker_dies_too_often_fails(store: Store, kind: JobKind) -> None:
    job = store.create_job(new(kind), accepted())
    for attempt in (1, 2):
        store.claim_job(f"host:{attempt}", 30)
        store.requeue_jobs(None, max_attempts=2)
        assert store.get_job(kind, job.id).attempt == attempt
    failed = store.get_job(kind, job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.message == "the worker process died during each of 2 attempts"
    outcome = store.job_outcome(kind, job.id)
    assert outcome is not None and outcome["status"] == "failed" and outcome["result"] is None
    assert outcome[kind.id_key] == job.id


@pytest.mark.parametrize("kind", KINDS)
def test_requeue_leaves_the_jobs_of_live_workers_alone(store: Store, kind: JobKind) -> None:
    first = store.create_job(new(kind), accepted())
    second = store.create_job(new(kind), accepted())
    store.claim_job("host:1", 30)
    store.claim_job("host:2", 30)
    assert store.requeue_jobs(["host:2"], max_attempts=3)[kind] == [second.id]
    assert store.get_job(kind, first.id).status is JobStatus.RUNNING


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_whose_lease_expired_is_queued_again(store: Store, kind: JobKind) -> None:
    job = store.create_job(new(kind), accepted())
    store.claim_job("host:1", -1)  # A lease that has already run out.
    assert store.requeue_jobs([], max_attempts=3, expired=True)[kind] == [job.id]
    fresh = store.claim_job("host:2", 30)
    assert fresh is not None and fresh.attempt == 2
    assert store.requeue_jobs([], max_attempts=3, expired=True)[kind] == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_its_server_left_is_queued_again_without_counting_and_fenced(
    store: Store, kind: JobKind
) -> None:
    job = store.create_job(new(kind), accepted())
    first = store.claim_job("host:1", 30)
    assert first is not None and (first.attempt, first.lease) == (1, 1)
    assert store.requeue_jobs(["host:1"], 3, counted=False, max_claims=5)[kind] == [job.id]
    second = store.claim_job("host:2", 30)
    assert second is not None and (second.attempt, second.lease) == (1, 2)
    # The orphan of the first claim is told to stop and can write nothing.
    assert store.job_cancel_requested(kind, job.id, 1)
    assert not store.save_job_progress(kind, job.id, 1, JobProgress(best_objective=1.0), 30)
    assert not store.finish_job(kind, job.id, 1, done({"by": "orphan"}), "host:1")
    assert store.save_job_progress(kind, job.id, 2, None, 30)
    assert store.finish_job(kind, job.id, 2, done({"by": "host:2"}), "host:2")
    assert store.job_outcome(kind, job.id) == {"by": "host:2"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_interrupted_too_often_fails(store: Store, kind: JobKind) -> None:
    job = store.create_job(new(kind), accepted())
    for claim in (1, 2, 3):
        store.claim_job(f"host:{claim}", -1)
        store.requeue_jobs([], 3, expired=True, counted=False, max_claims=3)
    failed = store.get_job(kind, job.id)
    assert failed.status is JobStatus.FAILED and failed.attempt == 0
    assert failed.message == "the server holding it stopped 3 times while it ran (3 claims)"


def test_recovery_takes_back_the_jobs_of_dead_workers_of_this_host_only(store: Store) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()
    names = [f"{here}:{dead.pid}", f"{here}:{os.getpid()}", "elsewhere:1"]
    made = [store.create_job(new(JobKind.RUN), accepted()).id for _ in names]
    for name in names:
        store.claim_job(name, 30)
    settings = Settings(database_url=store.url, max_attempts=3)
    assert JobService(store, settings).recover()[JobKind.RUN] == [made[0]]
    states = [store.get_job(JobKind.RUN, number) for number in made]
    assert [s.status for s in states] == [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RUNNING]
    assert states[0].attempt == 0  # The server died, not the job.


@pytest.mark.parametrize("kind", KINDS)
def test_cancel_ends_a_queued_job_and_flags_a_running_one(store: Store, kind: JobKind) -> None:
    running = store.create_job(new(kind), accepted())
    queued = store.create_job(new(kind), accepted())
    assert store.claim_job("host:1", 30) is not None  # Claims the oldest: `running`.
    store.cancel_job(kind, running.id, "bob")
    assert store.get_job(kind, running.id).cancel_requested
    assert store.job_cancel_requested(kind, running.id, 1)

    cancelled = store.cancel_job(kind, queued.id, "bob")
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.message == "Cancelled while queued."
    outcome = store.job_outcome(kind, queued.id)
    assert outcome is not None and outcome["cancelled_by"] == "bob"
    assert store.claim_job("host:2", 30) is None


def test_concurrent_claims_take_each_job_once(store: Store) -> None:
    made = {(k, store.create_job(new(k), accepted()).id) for k in KINDS for _ in range(3)}
    taken: list[tuple[JobKind, int]] = []
    lock = threading.Lock()

    def claim(worker: int) -> None:
        while (job := store.claim_job(f"host:{worker}", 30)) is not None:
            with lock:
                taken.append((job.kind, job.id))

    threads = [threading.Thread(target=claim, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(made)


def test_concurrent_submissions_number_each_job_once(store: Store) -> None:
    def submit(_: int) -> None:
        for _ in range(5):
            store.create_job(new(JobKind.RUN), accepted())

    threads = [threading.Thread(target=submit, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs, total = store.list_jobs(JobFilter(JobKind.RUN), 50, 0)
    assert total == 20 and sorted(j.id for j in jobs) == list(range(1, 21))
    assert store.verify_ledger().records == 20


def test_concurrent_appends_keep_the_chain_whole(store: Store) -> None:
    def add(worker: int) -> None:
        for _ in range(5):
            store.add_portfolio(entry(f"p{worker}"), {"worker": worker})

    threads = [threading.Thread(target=add, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    verdict = store.verify_ledger()
    assert verdict.ok and verdict.records == 20


def test_ledger_records_cannot_be_changed_or_removed(store: Store) -> None:
    store.add_portfolio(entry(), {"a": 1})
    for statement in ("UPDATE ledger SET actor = 'mallory'", "DELETE FROM ledger"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
            connection.execute(text(statement))
    assert store.verify_ledger().ok


def test_tampering_past_the_triggers_is_named_by_verify(store: Store) -> None:
    for n in range(3):
        store.add_portfolio(entry(), {"n": n})
    with store.engine.begin() as connection:
        if store.dialect == "postgresql":
            connection.execute(text("ALTER TABLE ledger DISABLE TRIGGER ledger_append_only"))
        else:
            connection.execute(text("DROP TRIGGER ledger_no_update"))
        connection.execute(text("UPDATE ledger SET content = :c WHERE seq = 2"), {"c": '{"n":9}'})
    verdict = store.verify_ledger()
    assert not verdict.ok and verdict.first_bad is not None
    assert verdict.first_bad.seq == 2 and verdict.first_bad.kind == "portfolio"
    assert verdict.reason == "content does not match its SHA-256"


@pytest.mark.parametrize("kind", KINDS)
def test_jobs_are_listed_newest_first_with_filters_and_pages(store: Store, kind: JobKind) -> None:
    store.create_job(new(JobKind.EXPLANATION), accepted())  # Another kind: never listed.
    made = [
        store.create_job(new(kind, "alice", "2026-W49"), accepted()),
        store.create_job(new(kind, "bob", "2026-W49"), accepted()),
        store.create_job(new(kind, "alice", "2026-W50"), accepted()),
    ]
    items, total = store.list_jobs(JobFilter(kind), limit=2, offset=0)
    assert total == 3 and [r.id for r in items] == [made[2].id, made[1].id]
    items, total = store.list_jobs(JobFilter(kind), limit=2, offset=2)
    assert [r.id for r in items] == [made[0].id]
    where = JobFilter(kind, submitted_by="alice", week="2026-W49")
    items, total = store.list_jobs(where, 50, 0)
    assert total == 1 and items[0].id == made[0].id
    store.claim_job("host:1", 30)  # The explanation first.
    store.claim_job("host:1", 30)
    items, total = store.list_jobs(JobFilter(kind, status=JobStatus.RUNNING), 50, 0)
    assert [r.id for r in items] == [made[0].id]
    assert store.queued_time_limits(kind) == [1.0, 1.0]


def test_keys_are_found_by_hash_and_revoked_by_name(store: Store) -> None:
    store.add_key("alice", Role.PLANNER, hash_key("alk_one"))
    found = store.find_key(hash_key("alk_one"))
    assert found is not None and (found.name, found.role) == ("alice", Role.PLANNER)
    assert store.find_key(hash_key("alk_other")) is None
    with pytest.raises(InvalidInputError, match="an active key has this name"):
        store.add_key("alice", Role.VIEWER, hash_key("alk_two"))
    assert store.revoke_key("alice") == 1
    assert store.find_key(hash_key("alk_one")) is None
    store.add_key("alice", Role.VIEWER, hash_key("alk_two"))
    assert [(k.name, k.revoked_at is None) for k in store.list_keys()] == [
        ("alice", False),
        ("alice", True),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_jobs_are_not_found(store: Store, kind: JobKind) -> None:
    store.create_job(new(JobKind.EXPLANATION if kind is JobKind.RUN else JobKind.RUN), accepted())
    for read in (store.get_job, store.job_inputs, store.job_outcome):
        with pytest.raises(NotFoundError, match=f"{kind.label} 1 does not exist"):
            read(kind, 1)


def _upgrade(store: Store, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from allocator.store.repository import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_existing_database_moves_its_runs_and_scenario_sets_into_jobs(
    backend: str, tmp_path: Path
) -> None:
    """Migration 0004 on a database of revision 0003: every run and set keeps its number,
    state and ledger records; the old tables stay readable as views; the chain holds."""
    with database_url(backend, tmp_path) as url:
        store = Store(url)
        try:
            _upgrade(store, "0003")
            when = datetime(2026, 11, 30, 9, tzinfo=UTC)
            with store.engine.begin() as connection:
                accepted_seq = store._append(connection, "run_accepted", 1, "alice", {"run_id": 1})
                finished_seq = store._append(connection, "run_finished", 1, "w", {"run_id": 1})
                set_seq = store._append(
                    connection, "scenario_accepted", 1, "bob", {"scenario_set_id": 1}
                )
                connection.execute(
                    text(
                        "INSERT INTO runs (id, status, week, submitted_by, submitted_at, "
                        "portfolio_name, previous_run_id, time_limit, seed, attempt, worker, "
                        "cancel_requested, best_objective, solve_status, objective, message, "
                        "accepted_seq, finished_seq) VALUES (1, 'done', '2026-W49', 'alice', "
                        ":when, 'p', NULL, 2.0, 7, 1, 'h:1', :no, 10.0, 'optimal', 11.0, '', "
                        ":a, :f)"
                    ),
                    {"when": when, "no": False, "a": accepted_seq, "f": finished_seq},
                )
                connection.execute(
                    text(
                        "INSERT INTO scenario_sets (id, status, submitted_by, submitted_at, "
                        "portfolio_name, scenarios, time_limit, seed, attempt, worker, "
                        "solves_done, solves_total, message, accepted_seq, kind) VALUES "
                        "(1, 'running', 'bob', :when, 'p', 3, 1.0, 0, 1, 'h:2', 2, 5, '', :s, "
                        "'ratio_sweep')"
                    ),
                    {"when": when, "s": set_seq},
                )
            store.migrate()
            run = store.get_job(JobKind.RUN, 1)
            assert (run.status, run.week, run.submitted_by, run.attempt) == (
                JobStatus.DONE,
                "2026-W49",
                "alice",
                1,
            )
            assert run.submitted_at == when and run.objective == 11.0
            assert run.summary["seed"] == 7 and run.progress.best_objective == 10.0
            assert store.job_outcome(JobKind.RUN, 1) == {"run_id": 1}
            scenario_set = store.get_job(JobKind.SCENARIO_SET, 1)
            assert scenario_set.summary["set_kind"] == "ratio_sweep"
            assert (scenario_set.progress.done, scenario_set.progress.total) == (2, 5)
            assert store.job_inputs(JobKind.SCENARIO_SET, 1) == {"scenario_set_id": 1}
            # A set left running by the old server is recovered like any job.
            assert store.requeue_jobs(None, 3)[JobKind.SCENARIO_SET] == [1]
            assert store.create_job(new(JobKind.RUN), accepted()).id == 2
            with store.engine.connect() as connection:
                rows = connection.execute(text("SELECT id, worker FROM runs ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [(1, "h:1"), (2, "")]
            verdict = store.verify_ledger()
            assert verdict.ok and verdict.records == 4
        finally:
            store.close()


@pytest.mark.slow
def test_importing_the_store_loads_no_solver() -> None:
    """The store (and the job service it imports) must not drag in a solver or pandas."""
    heavy = ("ortools", "highspy", "pandas", "matplotlib")
    code = (
        "import allocator.store.repository, allocator.service.jobs, sys; "
        f"loaded = [m for m in {heavy!r} if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_newest_migration_file_names_alembics_head() -> None:
    """`HEAD_REVISION` (read from the file names, so that a process need not load Alembic)
    is the head Alembic finds by following the revisions."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from allocator.store.repository import HEAD_REVISION, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


@pytest.mark.slow
def test_a_store_already_migrated_is_opened_without_alembic(tmp_path: Path) -> None:
    """Every server and worker process migrates on start: a database at the newest revision
    costs a read, an older one is upgraded (here from 0008) and a new one created."""
    from allocator.store.repository import HEAD_REVISION

    old = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(old)
    _upgrade(store, "0008")
    store.close()
    for url, before in ((old, "0008"), (f"sqlite:///{tmp_path / 'new.db'}", None)):
        code = (
            "import sys; from allocator.store.repository import Store; "
            f"store = Store({url!r}); assert store.revision() == {before!r}; store.migrate(); "
            "assert 'alembic' in sys.modules; "
            "store.migrate(); print(store.revision())"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == HEAD_REVISION
    code = (
        "import sys; from allocator.store.repository import Store; "
        f"Store({old!r}).migrate(); assert 'alembic' not in sys.modules, 'alembic loaded'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
