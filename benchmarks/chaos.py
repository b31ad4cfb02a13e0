"""Chaos: kill -9 servers and worker hosts in a loop while runs are submitted; count what is lost.

Starts --servers `allocator serve --workers 0` processes and --hosts `allocator worker`
processes on one database (a fresh PostgreSQL database when --postgres-url names a server,
else a fresh SQLite file), submits --runs runs through the servers (round robin, retrying
while a server is down), and for --cycles cycles kills one of those processes at random with
SIGKILL, checks 2 s later which of the processes it had started are still alive (orphans),
and starts it again. Then waits for every accepted run to end and reports:

- accepted (answered 202), done, failed (with their reasons), lost (accepted but never ended,
  or not found), runs at attempt > 1;
- orphans: processes started by a killed server or host still alive 2 s after it;
- the audit verify verdict at the end.

    .venv/bin/python benchmarks/chaos.py --cycles 20 --runs 100 \\
        --postgres-url postgresql+psycopg://allocator:allocator@127.0.0.1:5432/allocator_test

Exit code 1 if a run was lost or failed for a reason other than its input, or a process was
left orphaned.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from allocator.core.generate import generate
from allocator.service.keys import Role, hash_key, new_key
from allocator.store.repository import Store

ROOT = Path(__file__).resolve().parent.parent
ENDED = ("done", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    """Every process descended from `pid` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, of in parents.items() if of == parent]
        found += kids
        frontier += kids
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()


class Node:
    """One `allocator serve` or `allocator worker` process, restartable."""

    def __init__(self, kind: str, env: dict[str, str], log: Path, workers: int = 0) -> None:
        self.kind = kind
        self.workers = workers
        self.env = env
        self.log = log
        self.port = free_port() if kind == "server" else 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.kind == "server":
            command = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
            command += ["--workers", str(self.workers)]
        else:
            command = ["worker", "--workers", "1"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "allocator", *command],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        """A server: until /healthz answers; a worker host: until its worker runs."""
        deadline = time.monotonic() + timeout
        if self.kind != "server" or self.workers:
            assert self.process is not None
            while len(children(self.process.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.kind != "server":
                return
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} on {self.port} not ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> list[int]:
        """SIGKILL; returns the processes it had started."""
        assert self.process is not None
        started = children(self.process.pid)
        self.process.kill()
        self.process.wait(10)
        return started

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Submitter(threading.Thread):
    """Submits `runs` runs through the servers, spread over the loop, retrying while down."""

    def __init__(self, servers: list[Node], key: str, runs: int, spacing: float, args: Any):
        super().__init__(daemon=True)
        self.servers, self.key, self.runs, self.spacing, self.args = (
            servers,
            key,
            runs,
            spacing,
            args,
        )
        self.accepted: list[int] = []
        self.retries = 0

    def run(self) -> None:
        document = generate(self.args.engineers, self.args.opportunities, seed=1).model_dump(
            mode="json"
        )
        body = {"portfolio": document, "time_limit": self.args.time_limit}
        headers = {"Authorization": f"Bearer {self.key}"}
        turn = 0
        for _ in range(self.runs):
            while True:
                server = self.servers[turn % len(self.servers)]
                turn += 1
                try:
                    answer = httpx.post(
                        f"{server.url}/v1/runs", json=body, headers=headers, timeout=30
                    )
                except httpx.HTTPError:
                    self.retries += 1
                    time.sleep(0.2)
                    continue
                if answer.status_code == 202:
                    self.accepted.append(int(answer.json()["id"]))
                    break
                self.retries += 1
                time.sleep(1.0 if answer.status_code == 429 else 0.2)
            time.sleep(self.spacing)


def database(args: argparse.Namespace, folder: Path) -> tuple[str, Any]:
    """A fresh database URL, and how to drop it."""
    if not args.postgres_url:
        return f"sqlite:///{folder / 'chaos.db'}", lambda: None
    name = f"allocator_chaos_{secrets.token_hex(4)}"
    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
    return url, drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--hosts", type=int, default=2, help="`allocator worker` processes.")
    parser.add_argument(
        "--server-workers", type=int, default=0, help="Worker processes in each server."
    )
    parser.add_argument("--interval", type=float, default=4.0, help="Mean seconds between kills.")
    parser.add_argument("--time-limit", type=float, default=1.0)
    parser.add_argument("--engineers", type=int, default=30)
    parser.add_argument("--opportunities", type=int, default=80)
    parser.add_argument("--lease", type=float, default=5.0, help="ALLOCATOR_LEASE_SECONDS.")
    parser.add_argument("--postgres-url", help="A PostgreSQL server (a database is made).")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="allocator-chaos-"))
    url, drop = database(args, folder)
    store = Store(url)
    store.migrate()
    key = new_key()
    store.add_key("chaos", Role.PLANNER, hash_key(key))
    env = {
        "ALLOCATOR_DATABASE_URL": url,
        "ALLOCATOR_LEASE_SECONDS": str(args.lease),
        "ALLOCATOR_QUEUE_SIZE": str(args.runs + 10),
        "ALLOCATOR_MAX_JOBS_PER_KEY": str(args.runs + 10),
        "ALLOCATOR_POLL_SECONDS": "0.2",
    }
    servers = [
        Node("server", env, folder / f"server{n}.log", args.server_workers)
        for n in range(args.servers)
    ]
    hosts = [Node("worker", env, folder / f"worker{n}.log") for n in range(args.hosts)]
    nodes = servers + hosts
    for node in nodes:
        node.start()
    for node in nodes:
        node.wait_ready()
    spacing = args.cycles * args.interval / max(1, args.runs)
    submitter = Submitter(servers, key, args.runs, spacing, args)
    submitter.start()
    orphans: list[tuple[str, int]] = []
    kills: Counter[str] = Counter()
    started = time.monotonic()
    try:
        for cycle in range(args.cycles):
            time.sleep(rng.uniform(0.5, 1.5) * args.interval)
            node = rng.choice(nodes)
            kills[node.kind] += 1
            descendants = node.kill()
            time.sleep(2.0)
            left = [pid for pid in descendants if alive(pid)]
            orphans += [(node.kind, pid) for pid in left]
            print(
                f"cycle {cycle + 1}: killed a {node.kind} (and {len(descendants)} processes it "
                f"had started; alive 2 s later: {len(left)})",
                flush=True,
            )
            node.start()
            node.wait_ready()
        submitter.join()
        # Every accepted run must end.
        deadline = time.monotonic() + 600
        states: dict[int, dict[str, Any]] = {}
        headers = {"Authorization": f"Bearer {key}"}
        while time.monotonic() < deadline:
            pending = [
                r for r in submitter.accepted if states.get(r, {}).get("status") not in ENDED
            ]
            if not pending:
                break
            for run_id in pending:
                answer = httpx.get(
                    f"{servers[0].url}/v1/runs/{run_id}", headers=headers, timeout=30
                )
                if answer.status_code == 200:
                    states[run_id] = answer.json()
            time.sleep(1)
        verdict = store.verify_ledger()
    finally:
        for node in nodes:
            node.stop()
        store.close()
    statuses = Counter(states.get(r, {}).get("status", "lost") for r in submitter.accepted)
    lost = [r for r in submitter.accepted if states.get(r, {}).get("status") not in ENDED]
    failed = {
        r: states[r]["outcome"]["message"]
        for r in submitter.accepted
        if states.get(r, {}).get("status") == "failed"
    }
    attempts = Counter(states[r]["attempt"] for r in submitter.accepted if r in states)
    print()
    print(
        f"database: {'PostgreSQL' if args.postgres_url else 'SQLite'}; {args.servers} servers ({args.server_workers} workers each), {args.hosts} worker hosts; {args.cycles} kills ({dict(kills)}) in {time.monotonic() - started:.0f} s"
    )
    print(f"runs accepted: {len(submitter.accepted)} (submissions retried: {submitter.retries})")
    print(f"ended: {dict(statuses)}; attempts: {dict(sorted(attempts.items()))}")
    print(f"lost: {len(lost)} {lost[:10]}")
    print(f"failed: {len(failed)} {failed}")
    print(f"orphaned processes: {len(orphans)} {orphans}")
    print(f"audit verify: {'intact' if verdict.ok else verdict.reason} ({verdict.records} records)")
    print(f"logs: {folder}")
    drop()
    bad = lost or failed or orphans or not verdict.ok
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
