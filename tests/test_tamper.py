"""Tamper evidence, one test per kind of change made directly on the database (past the app):
the chain's own five (content, actor, a record removed, records cut from the end, a content
re-hashed), and the four kinds the ledger alone did not catch: a mutable `jobs` row changed
(objective; submitter), the whole chain rewritten from one record on with its head updated
(caught against a checkpoint), an API key's role raised, a portfolio index row renamed.
Each is named by verify (`allocator audit verify` and GET /v1/audit/verify), and what the API
serves about the changed row is refused or served as sealed, never the changed figure."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from servicekit import add_key, cli, portfolio_document

from allocator.api import create_app
from allocator.service import ledger
from allocator.service.jobs import process_next
from allocator.service.keys import Role
from allocator.service.runs import RunService
from allocator.service.settings import Settings
from allocator.store.repository import Store

pytestmark = pytest.mark.service


class Api:
    """The app on an SQLite file, a key per role, one stored portfolio and one finished run."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "api.db"
        self.url = f"sqlite:///{self.path}"
        self.checkpoints = tmp_path / "checkpoints.jsonl"
        self.settings = Settings(
            database_url=self.url, workers=0, checkpoint_path=str(self.checkpoints)
        )
        self.app = create_app(self.settings)
        self.service: RunService = self.app.state.service
        self.store: Store = self.service.store  # type: ignore[assignment]
        self.keys = {role: add_key(self.url, role, role.value) for role in Role}
        self.client = TestClient(self.app)
        self.portfolio = self.post("/v1/portfolios", json=portfolio_document()).json()["id"]
        body = {"portfolio_id": self.portfolio, "time_limit": 1}
        self.run = self.post("/v1/runs", json=body).json()["id"]
        assert process_next(self.store, self.settings, "test:0")

    def post(self, path: str, role: Role = Role.PLANNER, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.auth(role), **kwargs)

    def get(self, path: str, role: Role = Role.VIEWER) -> Any:
        return self.client.get(path, headers=self.auth(role))

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def verdict(self) -> dict[str, Any]:
        answer = self.get("/v1/audit/verify", Role.AUDITOR)
        assert answer.status_code == 200, answer.text
        verdict: dict[str, Any] = answer.json()
        return verdict

    def sql(self, statement: str, *parameters: Any) -> int:
        """Run `statement` on the database file as someone with access to it would, past the
        triggers that keep the ledger append-only."""
        with sqlite3.connect(self.path) as connection:
            connection.execute("DROP TRIGGER IF EXISTS ledger_no_update")
            connection.execute("DROP TRIGGER IF EXISTS ledger_no_delete")
            return connection.execute(statement, parameters).rowcount


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    made = Api(tmp_path)
    with made.client:
        assert made.verdict()["ok"]
        yield made


def seq_of(api: Api, kind: str) -> int:
    with sqlite3.connect(api.path) as connection:
        row = connection.execute("SELECT seq FROM ledger WHERE kind = ?", (kind,)).fetchone()
    return int(row[0])


# The five the chain always caught ------------------------------------------------------------


def test_changed_content_is_named(api: Api) -> None:
    seq = seq_of(api, "run_accepted")
    api.sql("UPDATE ledger SET content = replace(content, 'planner', 'mallory') WHERE seq = ?", seq)
    verdict = api.verdict()
    assert not verdict["ok"] and verdict["first_bad"]["seq"] == seq
    assert verdict["first_bad"]["reason"] == "content does not match its SHA-256"


def test_changed_actor_is_named(api: Api) -> None:
    seq = seq_of(api, "portfolio")
    api.sql("UPDATE ledger SET actor = 'mallory' WHERE seq = ?", seq)
    verdict = api.verdict()
    assert not verdict["ok"] and verdict["first_bad"]["seq"] == seq
    assert verdict["first_bad"]["reason"] == "fields do not match the record's SHA-256"


def test_a_removed_record_is_named(api: Api) -> None:
    seq = seq_of(api, "run_accepted")
    api.sql("DELETE FROM ledger WHERE seq = ?", seq)
    verdict = api.verdict()
    assert not verdict["ok"] and verdict["first_bad"]["seq"] == seq + 1
    assert "where" in verdict["first_bad"]["reason"]  # sequence number N where M was expected


def test_records_cut_from_the_end_are_named(api: Api) -> None:
    last = seq_of(api, "run_finished")
    api.sql("DELETE FROM ledger WHERE seq = ?", last)
    verdict = api.verdict()
    assert not verdict["ok"]
    assert verdict["first_bad"]["reason"] == (
        f"the chain ends at record {last - 1} but the store's head is record {last}"
    )


def test_content_rehashed_by_the_tamperer_is_named(api: Api) -> None:
    seq = seq_of(api, "portfolio")
    content = '{"name":"forged"}'
    api.sql(
        "UPDATE ledger SET content = ?, content_sha256 = ? WHERE seq = ?",
        content,
        ledger.sha256(content),
        seq,
    )
    verdict = api.verdict()
    assert not verdict["ok"] and verdict["first_bad"]["seq"] == seq
    assert verdict["first_bad"]["reason"] == "fields do not match the record's SHA-256"


# The four the ledger alone did not catch -----------------------------------------------------


def test_a_changed_objective_in_the_jobs_row_is_caught_and_never_served(api: Api) -> None:
    sealed = api.get(f"/v1/runs/{api.run}").json()["outcome"]["objective"]
    api.sql("UPDATE jobs SET objective = 123456 WHERE kind = 'run' AND number = ?", api.run)
    verdict = api.verdict()
    assert not verdict["ok"] and verdict["first_bad"] is None
    assert verdict["message"] == (
        f"run {api.run}: its jobs row does not match its sealed records: objective: 123456.0 "
        f"in the database, {sealed!r} sealed"
    )
    read = api.get(f"/v1/runs/{api.run}")
    assert read.status_code == 409 and "objective: 123456.0 in the database" in read.text
    listed = api.get("/v1/runs").json()["items"]
    assert [run["outcome"]["objective"] for run in listed] == [sealed]


def test_a_changed_submitter_in_the_jobs_row_is_caught_and_never_served(api: Api) -> None:
    api.sql("UPDATE jobs SET submitted_by = 'mallory' WHERE kind = 'run'")
    verdict = api.verdict()
    assert not verdict["ok"]
    assert "submitted_by: 'mallory' in the database, 'planner' sealed" in verdict["message"]
    assert api.get(f"/v1/runs/{api.run}").status_code == 409
    assert api.get(f"/v1/runs/{api.run}/result").status_code == 409
    assert [run["submitted_by"] for run in api.get("/v1/runs").json()["items"]] == ["planner"]


def test_a_finished_job_shown_as_running_again_is_caught(api: Api) -> None:
    api.sql("UPDATE jobs SET status = 'running' WHERE kind = 'run'")
    assert "a finished record ('done') is sealed" in api.verdict()["message"]
    assert api.get(f"/v1/runs/{api.run}").status_code == 409


def rewrite_from(api: Api, seq: int) -> None:
    """Change record `seq` and re-seal it and every record after it, head updated: the chain
    is whole again, and different."""
    with sqlite3.connect(api.path) as connection:
        connection.execute("DROP TRIGGER IF EXISTS ledger_no_update")
        rows = connection.execute(
            "SELECT seq, kind, subject_id, actor, recorded_at, content FROM ledger "
            "WHERE seq >= ? ORDER BY seq",
            (seq,),
        ).fetchall()
        prev = connection.execute("SELECT sha256 FROM ledger WHERE seq = ?", (seq - 1,)).fetchone()[
            0
        ]
        for number, kind, subject, actor, at, content in rows:
            if number == seq:
                content = ledger.canonical({**json.loads(content), "forged": True})
            record = ledger.seal(number, kind, subject, actor, at, content, prev)
            connection.execute(
                "UPDATE ledger SET content = ?, content_sha256 = ?, prev_sha256 = ?, sha256 = ? "
                "WHERE seq = ?",
                (record.content, record.content_sha256, record.prev_sha256, record.sha256, number),
            )
            prev = record.sha256
        connection.execute("UPDATE ledger_head SET sha256 = ? WHERE id = 1", (prev,))


def test_a_chain_rewritten_from_one_record_on_is_caught_by_a_checkpoint(api: Api) -> None:
    mark = api.service.checkpoint()
    assert api.checkpoints.read_text().count("\n") == 1 and f'"seq":{mark.seq}' in (
        api.checkpoints.read_text()
    )
    rewrite_from(api, seq_of(api, "run_accepted"))
    # Without the checkpoint the rewritten chain holds together (what verify cannot prove) ...
    assert api.store.verify_ledger().ok
    # ... against it, it does not.
    verdict = api.verdict()
    assert not verdict["ok"] and verdict["first_bad"]["seq"] == mark.seq
    assert verdict["first_bad"]["reason"].startswith(f"differs from the checkpoint of {mark.at}")


def test_a_key_role_raised_in_the_database_is_caught_and_refused(api: Api) -> None:
    assert api.post("/v1/runs", Role.VIEWER, json={"portfolio_id": 1}).status_code == 403
    api.sql("UPDATE api_keys SET role = 'planner' WHERE name = 'viewer'")
    api.service._known_keys.clear()  # The 5 s cache of checked keys.
    verdict = api.verdict()
    assert verdict["message"] == (
        "API key 'viewer': its row does not match its sealed records: role: 'planner' in the "
        "database, 'viewer' sealed"
    )
    refused = api.post("/v1/runs", Role.VIEWER, json={"portfolio_id": 1})
    assert refused.status_code == 401 and "sealed record" in refused.json()["detail"]


def test_a_renamed_portfolio_index_row_is_caught_and_never_served(api: Api) -> None:
    api.sql("UPDATE portfolios SET name = 'renamed' WHERE id = ?", api.portfolio)
    verdict = api.verdict()
    assert verdict["message"].startswith(
        f"portfolio {api.portfolio}: its index row does not match its sealed record: name: "
        "'renamed' in the database"
    )
    read = api.get(f"/v1/portfolios/{api.portfolio}")
    assert read.status_code == 409 and "'renamed' in the database" in read.text


def test_role_changes_are_sealed_and_verify_stays_intact(api: Api) -> None:
    api.store.change_key("viewer", Role.PLANNER, "north")
    api.store.revoke_key("auditor")
    assert api.store.verify_ledger().ok
    assert api.post("/v1/portfolios", Role.VIEWER, json=portfolio_document()).status_code == 201


@pytest.mark.slow
def test_the_cli_checkpoints_and_verifies(api: Api, tmp_path: Path) -> None:
    env = {"ALLOCATOR_DATABASE_URL": api.url}
    where = tmp_path / "elsewhere" / "heads.jsonl"
    made = cli("audit", "checkpoint", "--to", str(where), env=env)
    assert made.returncode == 0, made.stderr
    assert cli("audit", "verify", "--checkpoints", str(where), env=env).returncode == 0
    rewrite_from(api, seq_of(api, "run_accepted"))
    failed = cli("audit", "verify", "--checkpoints", str(where), env=env)
    assert failed.returncode == 1 and "differs from the checkpoint" in failed.stdout
    where.write_text("not json\n")
    bad = cli("audit", "verify", "--checkpoints", str(where), env=env)
    assert bad.returncode == 2 and "heads.jsonl line 1" in bad.stderr
