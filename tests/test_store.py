"""The run store on SQLite and on PostgreSQL: the same tests, each on a fresh real database.

PostgreSQL runs when ALLOCATOR_TEST_POSTGRES_URL is set (.ci/run sets it); otherwise those
tests skip and say why.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from servicekit import BACKENDS, database_url
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from allocator.errors import InvalidInputError, NotFoundError
from allocator.service.keys import Role, hash_key
from allocator.service.runs import PortfolioEntry, RunFilter, RunStatus, RunSummary
from allocator.store.repository import Store, metadata


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database_url(request.param, tmp_path) as url:
        opened = Store(url)
        opened.migrate()
        try:
            yield opened
        finally:
            opened.close()


def summary(submitted_by: str = "alice", week: str = "2026-W49", seed: int = 0) -> RunSummary:
    return RunSummary(
        week=week,
        submitted_by=submitted_by,
        submitted_at=datetime.now(UTC),
        portfolio_id=None,
        portfolio_name="p",
        previous_run_id=None,
        time_limit=1.0,
        seed=seed,
    )


def entry(name: str = "p") -> PortfolioEntry:
    return PortfolioEntry(0, name, 1, 2, 3, "", "alice", datetime.now(UTC))


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


def test_a_run_goes_from_queued_to_done_with_two_ledger_records(store: Store) -> None:
    run = store.create_run(summary(), {"portfolio": {"name": "p"}, "parameters": {"seed": 0}})
    assert run.status is RunStatus.QUEUED and run.attempt == 0
    assert store.run_inputs(run.id)["run_id"] == run.id
    assert store.run_outcome(run.id) is None

    claimed = store.claim_next("host:1")
    assert claimed is not None and claimed.id == run.id
    assert claimed.status is RunStatus.RUNNING and claimed.attempt == 1
    assert store.claim_next("host:2") is None

    store.save_progress(run.id, 1, 10.0, 12.0, 2 / 12, 0.5)
    running = store.get_run(run.id)
    assert (running.best_objective, running.best_bound, running.progress_seconds) == (
        10.0,
        12.0,
        0.5,
    )

    outcome = {"run_id": run.id, "status": "done", "result": {"objective": 11.0}}
    assert store.finish(run.id, 1, RunStatus.DONE, outcome, "host:1", "optimal", 11.0, "")
    done = store.get_run(run.id)
    assert done.status is RunStatus.DONE and done.objective == 11.0
    assert done.finished_at is not None and done.solve_status == "optimal"
    assert store.run_outcome(run.id) == outcome
    verdict = store.verify_ledger()
    assert verdict.ok and verdict.records == 2


def test_a_stale_attempt_cannot_finish_a_run_queued_again(store: Store) -> None:
    run = store.create_run(summary(), {})
    store.claim_next("host:1")
    assert store.requeue_running(["host:1"], max_attempts=3) == [run.id]
    assert store.get_run(run.id).status is RunStatus.QUEUED
    again = store.claim_next("host:2")
    assert again is not None and again.attempt == 2
    assert store.cancel_requested(run.id, 1)  # The old attempt is told to stop ...
    assert not store.finish(run.id, 1, RunStatus.DONE, {}, "host:1")  # ... and cannot finish.
    assert store.finish(run.id, 2, RunStatus.DONE, {"attempt": 2}, "host:2")
    assert store.run_outcome(run.id) == {"attempt": 2}
    assert store.verify_ledger().records == 2


def test_a_run_whose_worker_dies_too_often_fails(store: Store) -> None:
    run = store.create_run(summary(), {})
    for attempt in (1, 2):
        store.claim_next(f"host:{attempt}")
        store.requeue_running(None, max_attempts=2)
        assert store.get_run(run.id).attempt == attempt
    failed = store.get_run(run.id)
    assert failed.status is RunStatus.FAILED
    assert failed.message == "the worker process died during each of 2 attempts"
    outcome = store.run_outcome(run.id)
    assert outcome is not None and outcome["status"] == "failed" and outcome["result"] is None


def test_requeue_leaves_the_runs_of_live_workers_alone(store: Store) -> None:
    first = store.create_run(summary(), {})
    second = store.create_run(summary(), {})
    store.claim_next("host:1")
    store.claim_next("host:2")
    assert store.requeue_running(["host:2"], max_attempts=3) == [second.id]
    assert store.get_run(first.id).status is RunStatus.RUNNING


def test_cancel_ends_a_queued_run_and_flags_a_running_one(store: Store) -> None:
    queued = store.create_run(summary(), {})
    running = store.create_run(summary(), {})
    assert store.claim_next("host:1") is not None  # Claims the oldest: `queued`.
    store.request_cancel(queued.id, "bob")
    assert store.get_run(queued.id).cancel_requested
    assert store.cancel_requested(queued.id, 1)

    cancelled = store.request_cancel(running.id, "bob")
    assert (
        cancelled.status is RunStatus.CANCELLED and cancelled.message == "Cancelled while queued."
    )
    outcome = store.run_outcome(running.id)
    assert outcome is not None and outcome["cancelled_by"] == "bob"
    assert store.claim_next("host:2") is None


def test_concurrent_claims_take_each_run_once(store: Store) -> None:
    ids = {store.create_run(summary(), {}).id for _ in range(6)}
    taken: list[int] = []
    lock = threading.Lock()

    def claim(worker: int) -> None:
        while (run := store.claim_next(f"host:{worker}")) is not None:
            with lock:
                taken.append(run.id)

    threads = [threading.Thread(target=claim, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(ids)


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


def test_runs_are_listed_newest_first_with_filters_and_pages(store: Store) -> None:
    made = [
        store.create_run(summary("alice", "2026-W49"), {}),
        store.create_run(summary("bob", "2026-W49"), {}),
        store.create_run(summary("alice", "2026-W50"), {}),
    ]
    items, total = store.list_runs(RunFilter(), limit=2, offset=0)
    assert total == 3 and [r.id for r in items] == [made[2].id, made[1].id]
    items, total = store.list_runs(RunFilter(), limit=2, offset=2)
    assert [r.id for r in items] == [made[0].id]
    items, total = store.list_runs(RunFilter(submitted_by="alice", week="2026-W49"), 50, 0)
    assert total == 1 and items[0].id == made[0].id
    store.claim_next("host:1")
    items, total = store.list_runs(RunFilter(status=RunStatus.RUNNING), 50, 0)
    assert [r.id for r in items] == [made[0].id]
    assert store.queued_time_limits() == [1.0, 1.0]


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


def test_unknown_runs_are_not_found(store: Store) -> None:
    for read in (store.get_run, store.run_inputs, store.run_outcome):
        with pytest.raises(NotFoundError, match="run 42 does not exist"):
            read(42)
