"""`make run`'s first contact: the port is checked before anything is stored, the demo key is
kept between runs (and re-issued, saying so, once it no longer works), and the sample becomes
the workspace with its first weekly run, once."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from clikit import invoke

from allocator.cli.main import _port_is_free, _prepare_demo
from allocator.errors import InvalidInputError
from allocator.service.keys import hash_key
from allocator.service.settings import Settings
from allocator.store.repository import Store

pytestmark = pytest.mark.service

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def test_a_taken_port_is_named_before_anything_is_stored(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InvalidInputError) as raised:
            _port_is_free("127.0.0.1", port)
        assert f"make run PORT={port + 1}" in str(raised.value)
        done = invoke("demo", "--check-port", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 2
    assert "--port: is in use on 127.0.0.1" in done.stderr and str(port) in done.stderr
    assert not (tmp_path / "var").exists()  # No database, no key, no run.


def test_the_demo_key_is_kept_and_the_workspace_is_set_up_once(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}", workers=0)
    key_file = tmp_path / "var" / "demo.key"
    key, run_id, kept = _prepare_demo(settings, SAMPLE, key_file, 1.0)
    assert run_id == 1 and not kept
    assert key_file.read_text().strip() == key and key_file.stat().st_mode & 0o077 == 0
    again, second_run, kept = _prepare_demo(settings, SAMPLE, key_file, 1.0)
    assert (again, second_run, kept) == (key, None, True)
    store = Store(settings.database_url)
    try:
        assert store.find_key(hash_key(key)) is not None
        store.revoke_key("demo")
    finally:
        store.close()
    renewed, _, kept = _prepare_demo(settings, SAMPLE, key_file, 1.0)
    assert renewed != key and not kept and key_file.read_text().strip() == renewed
