"""The read behind every poll of a run (GET /v1/runs/{id}): one statement, one snapshot.

`Store.get_job_sealed` reads a job's row with the numbers and content hashes of its sealed
records in one statement (their figures are cached by record number and hash), on a read
engine whose statements are their own transactions (PostgreSQL: no test query, BEGIN or
ROLLBACK around it). Checked here on SQLite and PostgreSQL (ALLOCATOR_TEST_POSTGRES_URL): the
count of statements, that a job ending while it is read is never taken for a tampered row,
that a dropped connection is replaced, and that the solver processes run below the HTTP server's
priority.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from servicekit import BACKENDS, POSTGRES_URL, SKIP_POSTGRES, Server, migrated_store, wait_for
from sqlalchemy import event, text

from allocator.service.jobs import Ending, JobFilter, JobKind, JobService, JobStatus, NewJob
from allocator.service.settings import Settings
from allocator.store.repository import Store

KINDS = [JobKind.RUN, JobKind.SCENARIO_SET]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with migrated_store(request.param, tmp_path) as opened:
        yield opened


def queued(store: Store, kind: JobKind) -> int:
    job = NewJob(
        kind=kind,
        submitted_by="alice",
        submitted_at=datetime.now(UTC),
        time_limit=1.0,
        summary={"portfolio_name": "p"},
        week="2026-W49",
    )
    return store.create_job(job, lambda number: {"submitted_by": "alice", "week": "2026-W49"}).id


def finish(store: Store, kind: JobKind, number: int, lease: int) -> None:
    ending = Ending(JobStatus.DONE, {"result": {"objective": 11.0}}, "optimal", 11.0)
    assert store.finish_job(kind, number, lease, ending, "host:1")


class Statements:
    """Counts the statements the store's read engine sends."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        event.listen(store.read_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_poll_is_one_statement_once_its_records_are_known(store: Store, kind: JobKind) -> None:
    number = queued(store, kind)
    claimed = store.claim_job("host:1", 30)
    assert claimed is not None
    finish(store, kind, number, claimed.lease)
    statements = Statements(store)

    state, seals = store.get_job_sealed(kind, number)
    first = statements.count
    again = store.get_job_sealed(kind, number)
    assert (first, statements.count - first) == (2, 1)  # The records' contents: read once.

    assert again == (state, seals)
    assert state == store.get_job(kind, number)
    assert seals == store.job_seals(kind, [number])[number]
    assert [seal.kind for seal in seals] == list(kind.ledger_kinds or ())


def test_a_job_ending_while_it_is_read_is_served_as_it_was(store: Store) -> None:
    """The job ends (row and finished record, committed) right after the read's statement
    started: the read serves the job as running, consistently, never a 409 for a row that
    disagrees with a record it did not see yet (two separate reads did that under load)."""
    number = queued(store, JobKind.RUN)
    claimed = store.claim_job("host:1", 30)
    assert claimed is not None
    service = JobService(store, Settings())
    service.get(JobKind.RUN, number)  # The accepted record's figures are cached.
    ended = threading.Event()

    def end_now(*_: Any) -> None:
        if not ended.is_set():
            ended.set()
            # Another thread, as another request or a worker would: its own connection.
            finisher = threading.Thread(
                target=finish, args=(store, JobKind.RUN, number, claimed.lease)
            )
            finisher.start()
            finisher.join()

    event.listen(store.read_engine, "after_cursor_execute", end_now)
    seen = service.get(JobKind.RUN, number)
    event.remove(store.read_engine, "after_cursor_execute", end_now)

    assert ended.is_set() and seen.status is JobStatus.RUNNING
    after = service.get(JobKind.RUN, number)
    assert after.status is JobStatus.DONE and after.objective == 11.0


def test_a_job_ending_while_a_list_is_read_is_not_called_changed(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A list reads its page of rows, then their records: the job ends in between (its
    finished record is there, its row said running). The job is read again in one statement
    and served as it is now, and no "row differs" error is logged."""
    number = queued(store, JobKind.RUN)
    claimed = store.claim_job("host:1", 30)
    assert claimed is not None
    read_seals = store.job_seals

    def ending_first(kind: JobKind, numbers: Any) -> Any:
        finish(store, JobKind.RUN, number, claimed.lease)
        return read_seals(kind, numbers)

    monkeypatch.setattr(store, "job_seals", ending_first)
    with caplog.at_level("ERROR", logger="allocator.jobs"):
        states, total = JobService(store, Settings()).find(JobFilter(kind=JobKind.RUN))
    assert total == 1 and states[0].status is JobStatus.DONE and states[0].objective == 11.0
    assert not [r for r in caplog.records if "differs from its sealed" in r.getMessage()]


@pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)
def test_a_dropped_read_connection_is_replaced_once(tmp_path: Path) -> None:
    with migrated_store("postgresql", tmp_path) as store:
        number = queued(store, JobKind.RUN)
        store.get_job_sealed(JobKind.RUN, number)  # A pooled read connection now exists.
        with store.engine.connect() as admin:
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            admin.commit()
        state, seals = store.get_job_sealed(JobKind.RUN, number)
        assert state.id == number and len(seals) == 1


def niceness(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])  # Field 19 of stat: nice (fields[0] is field 3).


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_solver_processes_run_below_the_http_server(tmp_path: Path) -> None:
    server = Server(f"sqlite:///{tmp_path / 'nice.db'}", tmp_path / "server.log", workers="2")
    server.start()
    try:
        assert server.process is not None
        pid = server.process.pid

        def workers() -> dict[str, Any]:
            found = [child for child in children(pid) if "spawn_main" in _command(child)]
            return {"niceness": sorted(niceness(worker) for worker in found)}

        # A worker lowers its priority first thing, once its interpreter has started.
        wait_for(workers, lambda found: found["niceness"] == [19, 19], timeout=60)
        assert niceness(pid) == os.getpriority(os.PRIO_PROCESS, 0)  # As it was started.
    finally:
        server.stop()


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
