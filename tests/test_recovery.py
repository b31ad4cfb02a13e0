"""Workers that die with their server, leases and fencing, with real processes.

- a server killed with SIGKILL takes every process it started along (workers, the
  multiprocessing resource tracker) within a second or two;
- a worker that stalls past its lease (SIGSTOP) loses its job to another worker, and once it
  wakes up (SIGCONT) writes nothing: the job is finished once, by the lease that holds it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from servicekit import Server, add_key, pid_alive, portfolio_document, wait_for

from allocator.service.keys import Role

pytestmark = pytest.mark.slow

ENDED = ("done", "failed", "cancelled")


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


def run_state(client: httpx.Client, run_id: int) -> Any:
    answer = client.get(f"/v1/runs/{run_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def worker_of(database: str, run_id: int) -> int:
    with sqlite3.connect(database.removeprefix("sqlite:///")) as connection:
        row = connection.execute("SELECT worker FROM runs WHERE id = ?", (run_id,)).fetchone()
    return int(row[0].rsplit(":", 1)[1]) if row[0] else 0


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_a_killed_server_takes_every_process_it_started_along(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'service.db'}"
    key = add_key(database, Role.PLANNER, "alice")
    server = Server(database, tmp_path / "server.log", workers="2").start()
    try:
        with server.client(key) as client:
            document = portfolio_document(engineers=100, opportunities=300)
            run_id = client.post("/v1/runs", json={"portfolio": document, "time_limit": 20}).json()[
                "id"
            ]
            wait_for(lambda: run_state(client, run_id), lambda r: r["progress"], 60)
        assert server.process is not None
        started = children(server.process.pid)
        assert len(started) >= 3  # Two workers and the resource tracker.
        assert worker_of(database, run_id) in started
        server.kill()
    finally:
        server.stop()
    deadline = time.monotonic() + 2
    while any(pid_alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in started if pid_alive(pid)] == []


def test_a_stalled_worker_loses_its_job_and_cannot_write_a_result(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'service.db'}"
    key = add_key(database, Role.PLANNER, "alice")
    server = Server(database, tmp_path / "server.log", workers="2", lease_seconds="3").start()
    stalled = 0
    try:
        with server.client(key) as client:
            document = portfolio_document(engineers=60, opportunities=150)
            run_id = client.post("/v1/runs", json={"portfolio": document, "time_limit": 4}).json()[
                "id"
            ]
            wait_for(lambda: run_state(client, run_id), lambda r: r["status"] == "running", 60)
            stalled = worker_of(database, run_id)
            os.kill(stalled, signal.SIGSTOP)  # Alive to its server, silent to the database.
            # The lease runs out; the other worker takes the job under a new lease.
            wait_for(
                lambda: {"worker": worker_of(database, run_id)},
                lambda w: w["worker"] not in (0, stalled),
                30,
            )
            done = wait_for(lambda: run_state(client, run_id), lambda r: r["status"] in ENDED, 60)
            assert done["status"] == "done" and done["attempt"] == 1
            os.kill(stalled, signal.SIGCONT)
            stalled = 0
            refused = "run 1 was no longer held by lease 1: its result is not written"
            wait_for(lambda: {"log": server.log.read_text()}, lambda r: refused in r["log"], 30)
            assert run_state(client, run_id)["outcome"] == done["outcome"]
    finally:
        if stalled:
            os.kill(stalled, signal.SIGCONT)
        server.stop()
    with sqlite3.connect(database.removeprefix("sqlite:///")) as connection:
        finished = connection.execute(
            "SELECT count(*) FROM ledger WHERE kind = 'run_finished' AND subject_id = ?", (run_id,)
        ).fetchone()[0]
        lease = connection.execute("SELECT lease FROM jobs WHERE kind = 'run'").fetchone()[0]
    assert finished == 1 and lease == 2
    log = server.log.read_text()
    assert "jobs whose lease expired, queued again" in log
    assert "run 1 was no longer held by lease 1: its result is not written" in log
