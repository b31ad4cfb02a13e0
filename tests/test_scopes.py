"""Teams: a key belongs to a team; planners and viewers see and act on their own team's
portfolios, runs and scenario sets; auditors see all. Another team's run or set is 404 to a
read (its existence is not told) and 403 to cancel or continue; another team's portfolio is
unknown. Through the real app in-process, on an SQLite file, with real CP-SAT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from servicekit import cli, portfolio_document

from allocator.api import create_app
from allocator.service.jobs import process_next
from allocator.service.keys import Role, hash_key, new_key
from allocator.service.settings import Settings
from allocator.store.repository import Store

pytestmark = pytest.mark.service

KEYS = {
    "north": (Role.PLANNER, "north"),
    "north-viewer": (Role.VIEWER, "north"),
    "south": (Role.PLANNER, "south"),
    "south-viewer": (Role.VIEWER, "south"),
    "audrey": (Role.AUDITOR, "audit"),
}


class Teams:
    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'teams.db'}"
        self.settings = Settings(database_url=self.url, workers=0, max_time_limit=1.0)
        self.app = create_app(self.settings)
        self.store: Store = self.app.state.service.store
        self.keys = {}
        for name, (role, team) in KEYS.items():
            key = new_key()
            self.store.add_key(name, role, hash_key(key), team=team)
            self.keys[name] = key
        self.client = TestClient(self.app)

    def call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return self.client.request(method, path, headers=headers, **kwargs)

    def solve_next(self) -> None:
        assert process_next(self.store, self.settings, "test:0")


@pytest.fixture
def teams(tmp_path: Path) -> Iterator[Teams]:
    made = Teams(tmp_path)
    with made.client:
        yield made


def test_another_teams_run_is_not_found_to_reads_and_forbidden_to_actions(teams: Teams) -> None:
    portfolio = teams.call("POST", "/v1/portfolios", "north", json=portfolio_document()).json()
    run = teams.call(
        "POST", "/v1/runs", "north", json={"portfolio_id": portfolio["id"], "time_limit": 1}
    ).json()
    queued = teams.call(
        "POST", "/v1/runs", "north", json={"portfolio_id": portfolio["id"], "time_limit": 1}
    ).json()
    teams.solve_next()
    base = f"/v1/runs/{run['id']}"
    for path in (base, f"{base}/result", f"{base}/inputs", f"{base}/explain/conflicts"):
        assert teams.call("GET", path, "north-viewer").status_code in (200, 409), path
        for other in ("south", "south-viewer"):
            answer = teams.call("GET", path, other)
            assert answer.status_code == 404, (path, other, answer.text)
            assert answer.json()["detail"] == f"run {run['id']} does not exist"
    assert teams.call("GET", f"/v1/portfolios/{portfolio['id']}", "south").status_code == 404
    assert teams.call("GET", f"/v1/portfolios/{portfolio['id']}", "audrey").status_code == 200
    # Lists show one's own team's runs only; auditors every team's.
    assert teams.call("GET", "/v1/runs", "south").json()["total"] == 0
    assert teams.call("GET", "/v1/runs", "north-viewer").json()["total"] == 2
    assert teams.call("GET", "/v1/runs", "audrey").json()["total"] == 2
    # Cancelling or continuing another team's run: 403.
    cancel = teams.call("POST", f"/v1/runs/{queued['id']}/cancel", "south")
    assert cancel.status_code == 403 and "another team" in cancel.json()["detail"]
    assert teams.call("GET", f"/v1/runs/{queued['id']}", "north").json()["status"] == "queued"
    document = portfolio_document(seed=2)
    carry_on = teams.call(
        "POST", "/v1/runs", "south", json={"portfolio": document, "previous_run_id": run["id"]}
    )
    assert carry_on.status_code == 403
    # Another team's portfolio is unknown to a submission.
    borrowed = teams.call("POST", "/v1/runs", "south", json={"portfolio_id": portfolio["id"]})
    assert borrowed.status_code == 422
    assert borrowed.json()["problems"][0]["message"] == "unknown portfolio"
    # The own team continues and cancels.
    assert teams.call("POST", f"/v1/runs/{queued['id']}/cancel", "north").status_code == 200
    again = teams.call(
        "POST", "/v1/runs", "north", json={"portfolio": document, "previous_run_id": run["id"]}
    )
    assert again.status_code == 202


def test_another_teams_scenario_set_is_hidden_and_its_runs_cannot_be_built_on(
    teams: Teams,
) -> None:
    run = teams.call(
        "POST", "/v1/runs", "north", json={"portfolio": portfolio_document(), "time_limit": 1}
    ).json()
    teams.solve_next()
    scenarios = [{"name": "pipeline +20%", "edits": [{"kind": "change_pipeline", "percent": 20}]}]
    made = teams.call(
        "POST", "/v1/scenarios", "north", json={"base_run_id": run["id"], "scenarios": scenarios}
    )
    assert made.status_code == 202, made.text
    set_id = made.json()["id"]
    assert teams.call("GET", f"/v1/scenarios/{set_id}", "south").status_code == 404
    assert teams.call("GET", f"/v1/scenarios/{set_id}/inputs", "south").status_code == 404
    assert teams.call("POST", f"/v1/scenarios/{set_id}/cancel", "south").status_code == 403
    assert teams.call("GET", "/v1/scenarios", "south").json()["total"] == 0
    assert teams.call("GET", "/v1/scenarios", "audrey").json()["total"] == 1
    assert teams.call("GET", f"/v1/scenarios/{set_id}", "north-viewer").status_code == 200
    foreign = teams.call(
        "POST", "/v1/scenarios", "south", json={"base_run_id": run["id"], "scenarios": scenarios}
    )
    assert foreign.status_code == 403


def test_keys_made_before_teams_are_in_the_default_team(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    store.migrate()
    store.add_key("old", Role.PLANNER, hash_key(new_key()))
    assert [(k.name, k.team) for k in store.list_keys()] == [("old", "default")]
    store.close()


@pytest.mark.slow
def test_the_keys_command_sets_and_changes_the_team(tmp_path: Path) -> None:
    env = {"ALLOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    made = cli("keys", "create", "--role", "viewer", "--name", "vic", "--team", "north", env=env)
    assert made.returncode == 0, made.stderr
    assert "in team 'north'" in made.stdout
    changed = cli("keys", "change", "vic", "--role", "planner", "--team", "south", env=env)
    assert changed.returncode == 0 and "role planner, team 'south'" in changed.stdout
    listed = cli("keys", "list", env=env)
    assert "south" in listed.stdout and "planner" in listed.stdout
    assert (
        cli(
            "audit", "verify", env={**env, "ALLOCATOR_CHECKPOINT_PATH": str(tmp_path / "c")}
        ).returncode
        == 0
    )
    nothing = cli("keys", "change", "vic", env=env)
    assert nothing.returncode == 2 and "give one or both" in nothing.stderr
