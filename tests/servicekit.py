"""Helpers for the service tests: store URLs (SQLite file or a fresh PostgreSQL database), a
real uvicorn server in a subprocess, API keys, small portfolios, polling."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from clikit import invoke
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from allocator.core.generate import generate
from allocator.service.keys import DEFAULT_TEAM, Role, hash_key, new_key
from allocator.store.repository import Store

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ENV = "ALLOCATOR_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_ENV, "")
SKIP_POSTGRES = f"PostgreSQL store tests need {POSTGRES_ENV} (set by .ci/run)"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES),
    ),
]
"""Parametrize store tests with these: the same tests run on both databases."""


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: an SQLite file in tmp_path, or a new PostgreSQL database
    (dropped afterwards) on the server ALLOCATOR_TEST_POSTGRES_URL names."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    name = f"allocator_test_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def migrated_store(backend: str, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on an empty database of `backend` (`database_url`), closed after."""
    with database_url(backend, tmp_path) as url:
        store = Store(url)
        store.migrate()
        try:
            yield store
        finally:
            store.close()


def add_key(url: str, role: Role, name: str, team: str = DEFAULT_TEAM) -> str:
    """A new key of `team` stored directly (the CLI's `keys create` is tested on its own)."""
    store = Store(url)
    try:
        store.migrate()
        key = new_key()
        store.add_key(name, role, hash_key(key), team=team)
    finally:
        store.close()
    return key


def portfolio_document(engineers: int = 12, opportunities: int = 30, seed: int = 1) -> Any:
    """A generated portfolio as a JSON document."""
    return generate(engineers, opportunities, seed=seed).model_dump(mode="json")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`allocator ARGS` with `env` set, in this process (tests/clikit.py): a CLI test against a
    server's database needs no interpreter of its own."""
    return invoke(*args, cwd=ROOT, env=env)


class Server:
    """`python -m allocator serve` in a subprocess, on a free port of 127.0.0.1."""

    def __init__(self, database_url: str, log: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "ALLOCATOR_DATABASE_URL": database_url,
            "ALLOCATOR_POLL_SECONDS": "0.1",
            "ALLOCATOR_PROGRESS_SECONDS": "0.2",
            **{f"ALLOCATOR_{k.upper()}": v for k, v in settings.items()},
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Server:
        command = [sys.executable, "-m", "allocator", "serve", "--host", "127.0.0.1"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to clean up."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wait_for(
    read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """Poll `read` until `done` holds; fail with the last answer after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = read()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"still not there after {timeout} s: {answer}")
        time.sleep(0.1)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped) counts as gone.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())
