"""End to end: a real `allocator serve` (uvicorn) process on a free port of 127.0.0.1 with a
temporary SQLite file, real worker processes and CP-SAT, spoken to over HTTP.

- upload -> run -> poll -> result -> audit verify;
- cancel over HTTP stops a running solve and keeps its best allocation;
- a row changed directly in the database is named by GET /v1/audit/verify;
- the server killed (SIGKILL) mid-solve, started again: the run is queued again and finishes.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servicekit import Server, add_key, cli, pid_alive, portfolio_document, wait_for

from allocator.service.keys import Role

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
ENDED = ("done", "failed", "cancelled")


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'service.db'}"


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[Server]:
    started = Server(database, tmp_path / "server.log", workers="1").start()
    try:
        yield started
    finally:
        started.stop()


def run_state(client: httpx.Client, run_id: int) -> Any:
    answer = client.get(f"/v1/runs/{run_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def solver_libraries(pid: int) -> set[str]:
    """The shared objects of OR-Tools, HiGHS and Matplotlib mapped into process `pid`."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    paths = {line.split()[-1] for line in maps if line.endswith(".so") or ".so." in line}
    return {p for p in paths if any(name in p for name in ("ortools", "highspy", "matplotlib"))}


def test_keys_create_prints_the_key_on_its_last_line(database: str) -> None:
    made = cli(
        "keys",
        "create",
        "--role",
        "viewer",
        "--name",
        "vera",
        env={"ALLOCATOR_DATABASE_URL": database},
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("alk_") and len(key) == 47
    assert key not in Path(database.removeprefix("sqlite:///")).read_bytes().decode("latin-1")
    bad = cli(
        "keys", "create", "--role", "admin", "--name", "x", env={"ALLOCATOR_DATABASE_URL": database}
    )
    assert bad.returncode == 2 and "admin" in bad.stderr


def test_upload_run_poll_result_and_verify(server: Server, database: str) -> None:
    planner = cli("keys", "create", "--role", "planner", "--name", "alice", env=server.env)
    key = planner.stdout.strip().splitlines()[-1]
    auditor = add_key(database, Role.AUDITOR, "audrey")
    with server.client(key) as client:
        files = [("files", (p.name, p.read_bytes(), "text/csv")) for p in SAMPLE.iterdir()]
        stored = client.post("/v1/portfolios", files=files)
        assert stored.status_code == 201, stored.text
        accepted = client.post(
            "/v1/runs", json={"portfolio_id": stored.json()["id"], "time_limit": 1, "seed": 3}
        )
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["id"]
        done = wait_for(lambda: run_state(client, run_id), lambda r: r["status"] in ENDED, 90)
        assert done["status"] == "done" and done["submitted_by"] == "alice"
        assert done["outcome"]["solve_status"] in ("optimal", "feasible")
        result = client.get(f"/v1/runs/{run_id}/result")
        assert result.status_code == 200
        allocation = result.json()["allocation"]
        assert allocation["objective"] == done["outcome"]["objective"]
        assert len(allocation["assignments"]) > 50
        listed = client.get("/v1/runs", params={"submitted_by": "alice", "status": "done"})
        assert [r["id"] for r in listed.json()["items"]] == [run_id]
        staffed = allocation["staffed_opportunities"][0]
        explained = client.get(f"/v1/runs/{run_id}/explain/opportunities/{staffed}")
        assert explained.status_code == 200, explained.text
        assert client.get(f"/v1/runs/{run_id}/explain/conflicts").status_code == 200
        assert client.get(f"/v1/runs/{run_id}/explain/fairness").status_code == 200
        assert client.get(f"/v1/runs/{run_id}/export.xlsx").status_code == 200
    # The solves and re-solves ran in the worker processes: the server never loaded a solver.
    assert server.process is not None
    assert not solver_libraries(server.process.pid)
    with server.client(auditor) as client:
        verdict = client.get("/v1/audit/verify").json()
    assert verdict == {
        "ok": True,
        "records": 5,  # The two keys, the portfolio, the run's two records.
        "head_sha256": verdict["head_sha256"],
        "first_bad": None,
        "message": "All 5 records match; the chain is intact.",
    }


def test_cancel_over_http_keeps_the_best_allocation(server: Server, database: str) -> None:
    key = add_key(database, Role.PLANNER, "alice")
    with server.client(key) as client:
        # Large enough (the neighbourhood search) that it cannot end on its own before the
        # cancel arrives, even on a fast machine.
        document = portfolio_document(engineers=300, opportunities=1500)
        run_id = client.post("/v1/runs", json={"portfolio": document, "time_limit": 60}).json()[
            "id"
        ]
        running = wait_for(lambda: run_state(client, run_id), lambda r: r["progress"], 90)
        progress = running["progress"]
        assert running["status"] == "running" and progress["best_objective"] > 0
        assert progress["gap"] is None or progress["gap"] >= 0
        assert client.post(f"/v1/runs/{run_id}/cancel").status_code == 200
        ended = wait_for(lambda: run_state(client, run_id), lambda r: r["status"] in ENDED, 30)
        assert ended["status"] == "cancelled"
        allocation = client.get(f"/v1/runs/{run_id}/result").json()["allocation"]
        assert allocation["assignments"] and allocation["status"] == "feasible"


def test_a_row_changed_in_the_database_is_named_by_verify(server: Server, database: str) -> None:
    key = add_key(database, Role.PLANNER, "alice")
    auditor = add_key(database, Role.AUDITOR, "audrey")
    with server.client(key) as client:
        first = client.post("/v1/portfolios", json=portfolio_document()).json()["id"]
        client.post("/v1/portfolios", json=portfolio_document(seed=2))
        run_id = client.post("/v1/runs", json={"portfolio_id": first, "time_limit": 1}).json()["id"]
        wait_for(lambda: run_state(client, run_id), lambda r: r["status"] in ENDED, 60)
    with server.client(auditor) as client:
        assert client.get("/v1/audit/verify").json()["ok"]

    # Someone with access to the database file rewrites who submitted the run.
    with sqlite3.connect(database.removeprefix("sqlite:///")) as connection:
        connection.execute("DROP TRIGGER ledger_no_update")
        seq = connection.execute(
            "SELECT seq FROM ledger WHERE kind = 'run_accepted' AND subject_id = ?", (run_id,)
        ).fetchone()[0]
        changed = connection.execute(
            'UPDATE ledger SET content = replace(content, \'"submitted_by":"alice"\', '
            '\'"submitted_by":"bob"\') WHERE seq = ?',
            (seq,),
        ).rowcount
    assert changed == 1

    with server.client(auditor) as client:
        verdict = client.get("/v1/audit/verify").json()
    assert not verdict["ok"]
    assert verdict["first_bad"] == {
        "seq": seq,
        "kind": "run_accepted",
        "subject_id": run_id,
        "recorded_at": verdict["first_bad"]["recorded_at"],
        "reason": "content does not match its SHA-256",
    }
    assert verdict["message"] == (
        f"Record {seq} (run_accepted of {run_id}) does not match: content does not match its "
        "SHA-256."
    )


def test_a_run_survives_the_server_killed_mid_solve(database: str, tmp_path: Path) -> None:
    key = add_key(database, Role.PLANNER, "alice")
    first = Server(database, tmp_path / "first.log", workers="1").start()
    try:
        with first.client(key) as client:
            document = portfolio_document(engineers=100, opportunities=300)
            run_id = client.post("/v1/runs", json={"portfolio": document, "time_limit": 2}).json()[
                "id"
            ]
            wait_for(lambda: run_state(client, run_id), lambda r: r["progress"], 60)
        with sqlite3.connect(database.removeprefix("sqlite:///")) as connection:
            worker = connection.execute("SELECT worker FROM runs WHERE id = ?", (run_id,))
            worker_pid = int(worker.fetchone()[0].rsplit(":", 1)[1])
        assert pid_alive(worker_pid)
        first.kill()
    finally:
        first.stop()
    # The orphaned worker notices its parent is gone and ends; the run stays `running`.
    deadline = time.monotonic() + 5
    while pid_alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(worker_pid)
    with sqlite3.connect(database.removeprefix("sqlite:///")) as connection:
        status = connection.execute("SELECT status FROM runs WHERE id = ?", (run_id,))
        assert status.fetchone()[0] == "running"

    second = Server(database, tmp_path / "second.log", workers="1").start()
    try:
        with second.client(key) as client:
            done = wait_for(lambda: run_state(client, run_id), lambda r: r["status"] in ENDED, 90)
            # The server was killed, not the run: the attempt does not count.
            assert done["status"] == "done" and done["attempt"] == 1
            assert client.get(f"/v1/runs/{run_id}/result").json()["allocation"]["assignments"]
    finally:
        second.stop()
    assert "queued again after a restart: runs [1]" in (tmp_path / "second.log").read_text()


def test_a_worker_process_that_dies_is_replaced_and_its_run_queued_again(
    server: Server, database: str
) -> None:
    key = add_key(database, Role.PLANNER, "alice")
    with server.client(key) as client:
        document = portfolio_document(engineers=100, opportunities=300)
        run_id = client.post("/v1/runs", json={"portfolio": document, "time_limit": 2}).json()["id"]
        wait_for(lambda: run_state(client, run_id), lambda r: r["progress"], 60)
        with sqlite3.connect(database.removeprefix("sqlite:///")) as connection:
            worker = connection.execute("SELECT worker FROM runs WHERE id = ?", (run_id,))
            worker_pid = int(worker.fetchone()[0].rsplit(":", 1)[1])
        os.kill(worker_pid, signal.SIGKILL)
        done = wait_for(lambda: run_state(client, run_id), lambda r: r["status"] in ENDED, 90)
        assert done["status"] == "done" and done["attempt"] == 2
    assert server.process is not None and server.process.poll() is None
    assert (
        f"worker processes ['{socket.gethostname()}:{worker_pid}'] died" in server.log.read_text()
    )
