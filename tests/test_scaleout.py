"""Several processes on one database: the ledger's chain stays linear under 4 concurrent
writer processes, 4 claiming processes take each job once (`FOR UPDATE SKIP LOCKED` on
PostgreSQL), and two API servers with two `allocator worker` hosts solve every run, one of
the hosts killed with SIGKILL on the way. Each on SQLite and PostgreSQL (when
ALLOCATOR_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from servicekit import (
    BACKENDS,
    POSTGRES_URL,
    ROOT,
    SKIP_POSTGRES,
    Server,
    add_key,
    database_url,
    portfolio_document,
    stop_process,
    wait_for,
)

from allocator.service.jobs import JobFilter, JobKind, NewJob
from allocator.service.keys import Role
from allocator.service.portfolios import PortfolioEntry
from allocator.store.repository import Store

pytestmark = pytest.mark.slow

WRITERS = 4


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as made:
        store = Store(made)
        store.migrate()
        store.close()
        yield made


def _write(url: str, writer: int) -> None:
    store = Store(url)
    try:
        for k in range(10):
            entry = PortfolioEntry(
                0, f"p{writer}-{k}", 1, 1, 1, "", f"w{writer}", datetime.now(UTC)
            )
            store.add_portfolio(entry, {"name": f"p{writer}-{k}", "engineers": [1]})
            job = NewJob(JobKind.RUN, f"w{writer}", datetime.now(UTC), 1.0, {}, week="2026-W49")
            store.create_job(job, lambda number: {"run_id": number, "submitted_by": f"w{writer}"})
    finally:
        store.close()


def _claim(url: str, worker: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = Store(url)
    taken = []
    try:
        while (job := store.claim_job(f"host:{worker}", 30)) is not None:
            taken.append(job.id)
    finally:
        store.close()
    out.put(taken)


def test_four_writer_processes_keep_the_chain_linear(url: str) -> None:
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write, args=(url, w)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    store = Store(url)
    try:
        verdict = store.verify_ledger()
        assert verdict.ok, verdict.reason
        assert verdict.records == WRITERS * 20
        jobs, total = store.list_jobs(JobFilter(JobKind.RUN), 200, 0)
        assert total == WRITERS * 10 and sorted(j.id for j in jobs) == list(range(1, total + 1))
    finally:
        store.close()


def test_four_claiming_processes_take_each_job_once(url: str) -> None:
    store = Store(url)
    try:
        for _ in range(40):
            job = NewJob(JobKind.RUN, "alice", datetime.now(UTC), 1.0, {}, week="2026-W49")
            store.create_job(job, lambda number: {"run_id": number})
    finally:
        store.close()
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    claimers = [context.Process(target=_claim, args=(url, w, out)) for w in range(WRITERS)]
    for process in claimers:
        process.start()
    taken = [number for _ in claimers for number in out.get(timeout=120)]
    for process in claimers:
        process.join(30)
    assert sorted(taken) == list(range(1, 41))


class WorkerHost:
    """`allocator worker` in a subprocess."""

    def __init__(self, url: str, log: Path) -> None:
        env = {
            **os.environ,
            "ALLOCATOR_DATABASE_URL": url,
            "ALLOCATOR_POLL_SECONDS": "0.1",
            "ALLOCATOR_LEASE_SECONDS": "3",
        }
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "allocator", "worker", "--workers", "1"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        stop_process(self.process)


@pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)
def test_two_servers_and_two_worker_hosts_solve_every_run(tmp_path: Path) -> None:
    with database_url("postgresql", tmp_path) as url:
        _two_servers_two_hosts(url, tmp_path)


def _two_servers_two_hosts(url: str, tmp_path: Path) -> None:
    key = add_key(url, Role.PLANNER, "alice")
    servers = [
        Server(url, tmp_path / f"server{n}.log", workers="0", lease_seconds="3").start()
        for n in range(2)
    ]
    hosts = [WorkerHost(url, tmp_path / f"worker{n}.log") for n in range(2)]
    try:
        clients = [server.client(key) for server in servers]
        document = portfolio_document(engineers=40, opportunities=100)
        ids = []
        for n in range(6):
            answer = clients[n % 2].post("/v1/runs", json={"portfolio": document, "time_limit": 2})
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
        assert ids == list(range(1, 7))
        # One worker host is killed mid-run: the other finishes everything.
        wait_for(
            lambda: clients[0].get(f"/v1/runs/{ids[0]}").json(),
            lambda r: r["status"] != "queued",
            60,
        )
        os.kill(hosts[0].process.pid, signal.SIGKILL)
        ended = [
            wait_for(
                lambda run_id=run_id: clients[1].get(f"/v1/runs/{run_id}").json(),
                lambda r: r["status"] in ("done", "failed", "cancelled"),
                180,
            )
            for run_id in ids
        ]
        assert [r["status"] for r in ended] == ["done"] * 6
        assert all(r["attempt"] == 1 for r in ended)  # A host's death is no attempt.
        for client in clients:
            client.close()
    finally:
        for host in hosts:
            host.stop()
        for server in servers:
            server.stop()
    store = Store(url)
    try:
        assert store.verify_ledger().ok
    finally:
        store.close()
    assert "worker processes on" in (tmp_path / "worker1.log").read_text()
