"""What one GET /v1/runs/{id} costs the server, in CPU time: a figure a busy machine hardly moves.

Latency on a shared machine measures the machine; the CPU time the server process spends per
read measures the server. This starts `allocator serve --workers 0` (no solver: nothing else
runs in it) on --database-url, stores a generated portfolio, submits one run (it stays
queued, so each read checks the row against its accepted record), reads it --reads times from
1 keep-alive connection, then from 20 at once, then GET /docs --reads times (the framework's
floor: no key, no database), and prints the server's user and system CPU milliseconds per
request (from /proc, Linux) with the rate and latencies seen.

    .venv/bin/python benchmarks/read_cost.py --database-url postgresql+psycopg://.../db
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
from load import Connection, make_keys, start_server

from allocator.core.generate import generate


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


async def read_many(port: int, key: str, path: str, readers: int, reads: int) -> list[float]:
    connections = [Connection("127.0.0.1", port, key) for _ in range(readers)]
    latencies: list[float] = []

    async def one(connection: Connection, count: int) -> None:
        for _ in range(count):
            started = time.perf_counter()
            status = await connection.get(path)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}")

    await asyncio.gather(*(one(c, reads // readers) for c in connections))
    return sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="Default: a fresh SQLite file.")
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="allocator-read-cost-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'read.db'}"
        planner, viewer = make_keys(url)
        process, base = start_server(args.port, Path(folder), url, workers=0)
        try:
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {planner}"}, timeout=60
            ) as client:
                portfolio = generate(60, 200, seed=1).model_dump(mode="json")
                stored = client.post("/v1/portfolios", json=portfolio).json()["id"]
                body = {"portfolio_id": stored, "time_limit": 2}
                run = client.post("/v1/runs", json=body).json()["id"]
            asyncio.run(read_many(args.port, viewer, f"/v1/runs/{run}", 1, 100))  # Warm up.
            for readers, path in ((1, f"/v1/runs/{run}"), (20, f"/v1/runs/{run}"), (1, "/docs")):
                user, system = cpu_seconds(process.pid)
                began = time.perf_counter()
                latencies = asyncio.run(read_many(args.port, viewer, path, readers, args.reads))
                wall = time.perf_counter() - began
                user_after, system_after = cpu_seconds(process.pid)
                count = len(latencies)
                print(
                    f"GET {path} from {readers} connection(s): {count} reads, server CPU "
                    f"{1000 * (user_after - user) / count:.2f} ms user + "
                    f"{1000 * (system_after - system) / count:.2f} ms system per read, "
                    f"{count / wall:.0f}/s, p50 {1000 * latencies[count // 2]:.1f} ms, "
                    f"p99 {1000 * latencies[int(count * 0.99)]:.1f} ms"
                )
        finally:
            process.terminate()
            process.wait(30)
    print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
