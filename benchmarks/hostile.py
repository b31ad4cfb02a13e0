"""Hostile input against a real server: the corpus of tests/test_hostile.py and the issue's
resource-exhaustion requests, over HTTP, with the server's memory watched.

Starts `allocator serve` (a fresh SQLite file, one worker process, default limits), stores a
small portfolio, then sends:

- every case of the corpus that runs on default settings (tests/test_hostile.py `CORPUS`);
- the resource-exhaustion requests of issue 12: set_ratio 1000000:1 and 10000:1,
  change_pipeline +1000 % three times, a workbook with cells at XFD1 and A1048576, a real
  compression bomb (1 GB of zeros in about 1 MB), and a portfolio of 5,000 engineers and
  20,000 opportunities with a 12-role stage template (240,000 demands, ~10^9 candidate pairs).

Prints, per request, the status and the server's resident memory; then the count of 5xx and
of bad input accepted (2xx), the peak resident memory of the server and of its workers
(VmHWM from /proc), and whether /healthz answers afterwards. Exit code 1 on any 5xx, any
accepted bad input, or a /healthz that does not answer.

    .venv/bin/python benchmarks/hostile.py
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from servicekit import Server, add_key, portfolio_document  # noqa: E402
from test_hostile import CORPUS, Case, workbook_with_far_cells  # noqa: E402

from allocator.core.generate import generate  # noqa: E402
from allocator.service.keys import Role  # noqa: E402


def kib(pid: int, field: str) -> int:
    """A field of /proc/PID/status in KiB (VmRSS now, VmHWM the peak); 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def real_bomb(megabytes: int = 1024) -> bytes:
    """An .xlsx whose sheet really unpacks to `megabytes` MB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            block = b"0" * 2**20
            for _ in range(megabytes):
                sheet.write(block)
    return buffer.getvalue()


def huge_template_portfolio() -> bytes:
    """5,000 engineers, 20,000 opportunities, one stage template of 12 roles."""
    portfolio = generate(5_000, 20_000, seed=1).model_dump(mode="json")
    skills = sorted({s for e in portfolio["engineers"] for s in e["skills"]})
    roles = [
        {"skill": skills[k % len(skills)], "min_proficiency": 1, "hours": 1, "weeks": 1}
        for k in range(12)
    ]
    portfolio["stage_templates"] = [{"stage": "big", "roles": roles}]
    portfolio["demands"] = []
    for opportunity in portfolio["opportunities"]:
        opportunity["stage"] = "big"
    return json.dumps(portfolio).encode()


def exhaustion_cases(portfolio_id: int) -> list[Case]:
    post = "/v1/scenarios"
    ratio = {"kind": "set_ratio", "region": "Central", "ratio": "1000000:1"}
    grow = {"kind": "change_pipeline", "percent": 1000}
    files = "/v1/portfolios"
    return [
        Case(
            "set_ratio 1000000:1 (stored base)",
            "POST",
            post,
            json={"portfolio_id": portfolio_id, "scenarios": [{"name": "r", "edits": [ratio]}]},
        ),
        Case(
            "set_ratio 10000:1 (stored base)",
            "POST",
            post,
            json={
                "portfolio_id": portfolio_id,
                "scenarios": [{"name": "r", "edits": [{**ratio, "ratio": "10000:1"}]}],
            },
        ),
        Case(
            "change_pipeline +1000 % x3",
            "POST",
            post,
            json={
                "portfolio_id": portfolio_id,
                "scenarios": [{"name": "g", "edits": [grow, grow, grow]}],
            },
        ),
        Case(
            "xlsx XFD1 + A1048576",
            "POST",
            files,
            files=[("files", ("p.xlsx", workbook_with_far_cells(), "application/octet-stream"))],
        ),
        Case(
            "xlsx bomb 1 GB",
            "POST",
            files,
            files=[("files", ("p.xlsx", real_bomb(), "application/octet-stream"))],
        ),
        Case("5000 x 20000, 12-role template", "POST", files, content=huge_template_portfolio()),
        Case(
            "run of the 12-role portfolio inline",
            "POST",
            "/v1/runs",
            content=b'{"portfolio": ' + huge_template_portfolio() + b"}",
        ),
    ]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="allocator-hostile-") as folder:
        url = f"sqlite:///{Path(folder) / 'hostile.db'}"
        key = add_key(url, Role.PLANNER, "planner")
        server = Server(url, Path(folder) / "server.log", workers="1")
        server.start()
        try:
            return drive(server, key)
        finally:
            server.stop()


def drive(server: Server, key: str) -> int:
    assert server.process is not None
    pid = server.process.pid
    headers = {"Authorization": f"Bearer {key}"}
    client = httpx.Client(base_url=server.url, headers=headers, timeout=300)
    stored = client.post("/v1/portfolios", json=portfolio_document(20, 60)).json()["id"]
    cases = [c for c in CORPUS if not c.settings and c.status == 422] + exhaustion_cases(stored)
    server_errors = accepted = 0
    started = time.perf_counter()
    print(f"{'case':58} {'status':>6} {'server RSS MiB':>15}")
    for case in cases:
        answer = case.send(client, headers)
        rss = kib(pid, "VmRSS") / 1024
        print(f"{case.name[:58]:58} {answer.status_code:>6} {rss:>15.0f}")
        server_errors += answer.status_code >= 500
        accepted += answer.status_code < 400
    seconds = time.perf_counter() - started
    health = httpx.get(f"{server.url}/healthz", timeout=10)
    workers = children(pid)
    peak_server = kib(pid, "VmHWM") / 1024
    peak_workers = max((kib(w, "VmHWM") for w in workers), default=0) / 1024
    print(
        f"\n{len(cases)} hostile requests in {seconds:.1f} s: {server_errors} answered 5xx, "
        f"{accepted} accepted; peak RSS: server {peak_server:.0f} MiB, workers "
        f"{peak_workers:.0f} MiB; /healthz afterwards: {health.status_code}"
    )
    ok = server_errors == 0 and accepted == 0 and health.status_code == 200
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
