"""Load on the allocation service: readers polling runs while submitters keep solves going.

Starts `allocator serve` in its own process (a fresh SQLite file, the default two worker
processes) unless --url names a running server, then drives it from this process for
--duration seconds:

- --readers tasks (default 50), each reading GET /v1/runs/{id} of a random run, pausing
  --think seconds between reads (a browser page polling a run);
- --submitters tasks (default 5), each submitting a run (a generated portfolio of --engineers
  x --opportunities, --time-limit seconds) and polling it until it ends, then the next.

With --servers N (and --database-url, PostgreSQL for several machines), N servers on one
database, --workers-per-server worker processes each, the readers spread over them.

Prints the p50/p95/p99/max latency of the reads, the read rate, the runs accepted, answered
429, completed, and whether every accepted run completed (the load stops submitting at the
end, then waits for what was accepted). Exit code 1 if an accepted run did not complete.

    .venv/bin/python benchmarks/load.py --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from allocator.core.generate import generate
from allocator.service.keys import Role, hash_key, new_key
from allocator.store.repository import Store

ROOT = Path(__file__).resolve().parent.parent
ENDED = {"done", "failed", "cancelled"}


@dataclass
class Tally:
    read_latencies: list[float] = field(default_factory=list)
    read_errors: int = 0
    accepted: list[int] = field(default_factory=list)
    refused: int = 0
    ended: dict[int, str] = field(default_factory=dict)
    poll_errors: list[str] = field(default_factory=list)
    """Answers other than 200 to the submitters' polls (read again after 0.5 s)."""


def make_keys(url: str) -> tuple[str, str]:
    """A planner and a viewer key on the database at `url` (migrated first)."""
    store = Store(url)
    store.migrate()
    planner, viewer = new_key(), new_key()
    suffix = secrets.token_hex(3)
    store.add_key(f"load-planner-{suffix}", Role.PLANNER, hash_key(planner))
    store.add_key(f"load-viewer-{suffix}", Role.VIEWER, hash_key(viewer))
    store.close()
    return planner, viewer


def start_server(
    port: int, folder: Path, url: str, workers: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`allocator serve` on `url`; returns the process and its address."""
    env = {**os.environ, "ALLOCATOR_DATABASE_URL": url}
    if workers is not None:
        env["ALLOCATOR_WORKERS"] = str(workers)
    log = (folder / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "allocator", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    log.close()
    text = (folder / f"server-{port}.log").read_text()[-2000:]
    raise SystemExit(f"server on port {port} did not start:\n{text}")


class Connection:
    """A keep-alive HTTP/1.1 connection that only sends GETs: a few lines of asyncio instead of
    a full client, so that the load generator spends its CPU on load, not on itself."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port = host, port
        self.headers = f"Host: {host}:{port}\r\nAuthorization: Bearer {key}\r\n\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\n{self.headers}".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status


async def reader(connection: Connection, tally: Tally, until: float, think: float) -> None:
    await asyncio.sleep(random.uniform(0, think))  # Spread the readers' first requests.
    while time.monotonic() < until:
        if not tally.accepted:
            await asyncio.sleep(0.05)
            continue
        run_id = random.choice(tally.accepted)
        started = time.perf_counter()
        try:
            status = await connection.get(f"/v1/runs/{run_id}")
            elapsed = time.perf_counter() - started
            if status == 200:
                tally.read_latencies.append(elapsed)
            else:
                tally.read_errors += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            tally.read_errors += 1
            connection.writer = None
        await asyncio.sleep(think)


async def submitter(
    client: httpx.AsyncClient, tally: Tally, until: float, body: dict[str, Any]
) -> None:
    while time.monotonic() < until:
        answer = await client.post("/v1/runs", json=body)
        if answer.status_code == 429:
            tally.refused += 1
            await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
            continue
        answer.raise_for_status()
        run_id = answer.json()["id"]
        tally.accepted.append(run_id)
        await wait_until_ended(client, tally, run_id, deadline=until + 600)


async def wait_until_ended(
    client: httpx.AsyncClient, tally: Tally, run_id: int, deadline: float
) -> None:
    while time.monotonic() < deadline:
        answer = await client.get(f"/v1/runs/{run_id}")
        state = answer.json()
        if answer.status_code != 200 or "status" not in state:
            tally.poll_errors.append(f"run {run_id}: {answer.status_code} {state}")
            await asyncio.sleep(0.5)
            continue
        if state["status"] in ENDED:
            tally.ended[run_id] = state["status"]
            return
        await asyncio.sleep(0.5)


async def drive(args: argparse.Namespace, bases: list[str], planner: str, viewer: str) -> Tally:
    tally = Tally()
    limits = httpx.Limits(max_connections=args.readers + args.submitters + 10)
    portfolio = generate(args.engineers, args.opportunities, seed=1).model_dump(mode="json")
    addresses = [b.removeprefix("http://").split(":") for b in bases]
    connections = [
        Connection(addresses[n % len(bases)][0], int(addresses[n % len(bases)][1]), viewer)
        for n in range(args.readers)
    ]
    base = bases[0]
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {planner}"}, limits=limits, timeout=60
    ) as writing:
        stored = await writing.post("/v1/portfolios", json=portfolio)
        stored.raise_for_status()
        body = {"portfolio_id": stored.json()["id"], "time_limit": args.time_limit}
        until = time.monotonic() + args.duration
        tasks = [
            *(
                asyncio.create_task(submitter(writing, tally, until, body))
                for _ in range(args.submitters)
            ),
            *(asyncio.create_task(reader(c, tally, until, args.think)) for c in connections),
        ]
        await asyncio.gather(*tasks)
        for run_id in tally.accepted:  # Anything still open at the end: wait for it.
            if run_id not in tally.ended:
                await wait_until_ended(writing, tally, run_id, time.monotonic() + 600)
    return tally


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of load.")
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--submitters", type=int, default=5)
    parser.add_argument("--think", type=float, default=0.25, help="Pause between reads (s).")
    parser.add_argument("--time-limit", type=float, default=2.0, help="Time limit of each run.")
    parser.add_argument("--engineers", type=int, default=60)
    parser.add_argument("--opportunities", type=int, default=200)
    parser.add_argument("--url", help="A running server (needs --planner-key, --viewer-key).")
    parser.add_argument("--planner-key")
    parser.add_argument("--viewer-key")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--database-url", help="Database of the server started here (default: a fresh SQLite file)."
    )
    parser.add_argument("--servers", type=int, default=1, help="Servers on the one database.")
    parser.add_argument("--workers-per-server", type=int, help="ALLOCATOR_WORKERS of each.")
    args = parser.parse_args()

    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="allocator-load-") as folder:
        if args.url:
            bases, planner, viewer = [args.url], args.planner_key, args.viewer_key
        else:
            url = args.database_url or f"sqlite:///{Path(folder) / 'load.db'}"
            planner, viewer = make_keys(url)
            bases = []
            try:
                for n in range(args.servers):
                    process, base = start_server(
                        args.port + n, Path(folder), url, args.workers_per_server
                    )
                    processes.append(process)
                    bases.append(base)
            except SystemExit:
                for process in processes:
                    process.terminate()
                raise
        try:
            began = time.monotonic()
            tally = asyncio.run(drive(args, bases, planner, viewer))
            wall = time.monotonic() - began
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)

    reads = tally.read_latencies
    completed = sum(1 for status in tally.ended.values() if status == "done")
    every = completed == len(tally.accepted) and len(tally.accepted) > 0
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"servers: {len(bases)} on one database, {args.workers_per_server or 'default'} "
        "worker processes each"
    )
    print(
        f"load: {args.readers} readers (pause {args.think} s), {args.submitters} submitters "
        f"({args.engineers}x{args.opportunities} portfolio, time limit {args.time_limit} s), "
        f"{args.duration:.0f} s of load, {wall:.0f} s with the drain"
    )
    if reads:
        print(
            f"GET /v1/runs/{{id}}: {len(reads)} reads ({len(reads) / args.duration:.0f}/s), "
            f"p50 {1000 * statistics.median(reads):.1f} ms, "
            f"p95 {1000 * percentile(reads, 0.95):.1f} ms, "
            f"p99 {1000 * percentile(reads, 0.99):.1f} ms, max {1000 * max(reads):.1f} ms, "
            f"errors {tally.read_errors}"
        )
    if tally.poll_errors:
        print(f"submitters' polls answered other than 200: {len(tally.poll_errors)}, first:")
        print(f"  {tally.poll_errors[0][:400]}")
    print(
        f"runs: {len(tally.accepted)} accepted, {tally.refused} answered 429, "
        f"{completed} completed (done); every accepted run completed: {'yes' if every else 'NO'}"
    )
    sys.exit(0 if every else 1)


if __name__ == "__main__":
    main()
