"""Teams: a key belongs to a team; planners and viewers see and act on their own team's
portfolios, runs and scenario sets; auditors see all. Another team's run or set is 404 to a
read (its existence is not told) and 403 to cancel or continue; another team's portfolio is
unknown. Through the real app in-process, on an SQLite file, with real CP-SAT."""

from __future__ import annotations

import json
import re
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
    keys_of = KEYS

    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'teams.db'}"
        self.settings = Settings(database_url=self.url, workers=0, max_time_limit=1.0)
        self.app = create_app(self.settings)
        self.store: Store = self.app.state.service.store
        self.keys = {}
        for name, (role, team) in self.keys_of.items():
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


# ---------------------------------------------------------------------------------------------
# The web app: one workspace per team


SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
WEB_KEYS = {
    **KEYS,
    "nina": (Role.REQUESTER, "north"),
    "sue": (Role.REQUESTER, "south"),
}


class WebTeams(Teams):
    """The app with one signed-in browser session per key; runs solved in-process."""

    keys_of = WEB_KEYS

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.sessions: dict[str, TestClient] = {}

    def page(self, who: str) -> TestClient:
        if who not in self.sessions:
            client = TestClient(self.app)
            signed = client.post("/app/signin", data={"key": self.keys[who]})
            assert signed.status_code == 200, signed.text
            self.sessions[who] = client
        return self.sessions[who]

    def post(self, who: str, url: str, files: Any = None, **data: str) -> Any:
        found = CSRF.search(self.page(who).get("/app").text)
        assert found is not None
        return self.page(who).post(
            url, data={"csrf": found.group(1), **data}, files=files, follow_redirects=False
        )

    def run_week(self, who: str) -> int:
        answer = self.post(who, "/app/runs", time_limit="1")
        assert answer.status_code == 303, answer.text[:500]
        self.solve_next()
        return int(answer.headers["location"].rsplit("/", 1)[1])


@pytest.fixture
def web_teams(tmp_path: Path) -> Iterator[WebTeams]:
    made = WebTeams(tmp_path)
    with made.client:
        sample = [("files", (p.name, p.read_bytes(), "text/csv")) for p in SAMPLE.iterdir()]
        assert made.post("north", "/app/import", files=sample).status_code == 303
        south = json.dumps(portfolio_document(seed=2)).encode()
        upload = [("files", ("south.json", south, "application/json"))]
        assert made.post("south", "/app/import", files=upload).status_code == 303
        yield made
        for client in made.sessions.values():
            client.close()


def _plan_name(web: WebTeams, who: str) -> str:
    name: str = web.page(who).get("/app/export.json").json()["name"]
    return name


@pytest.mark.slow
def test_each_team_plans_and_runs_in_its_own_workspace_and_auditors_see_all(
    web_teams: WebTeams,
) -> None:
    web = web_teams
    assert _plan_name(web, "north-viewer") == "sample"
    assert _plan_name(web, "south-viewer") == "generated-12x30-seed2"
    north_run, south_run = web.run_week("north"), web.run_week("south")
    # The weekly runs list and the start page: one's own team's runs.
    north_runs = web.page("north-viewer").get("/app/runs").text
    assert f"/app/runs/{north_run}" in north_runs and f"/app/runs/{south_run}" not in north_runs
    assert f"/app/runs/{south_run}" not in web.page("north").get("/app").text
    # Another team's run by id: 404 on every read, 403 to cancel.
    for path in (
        f"/app/runs/{south_run}",
        f"/app/runs/{south_run}/progress",
        f"/app/runs/{south_run}/summary",
        f"/app/runs/{south_run}/plan.csv",
        f"/app/board?run={south_run}",
        f"/app/board/{south_run}/explain/OPP-00001",
        f"/app/board/{south_run}/price/OPP-00001",
        f"/app/fairness?run={south_run}",
        f"/app/audit/runs/{south_run}/inputs.json",
        f"/app/audit/runs/{south_run}/result.json",
    ):
        assert web.page("north-viewer").get(path).status_code == 404, path
        assert web.page("south-viewer").get(path).status_code == 200, path
    diff = web.page("north-viewer").get(f"/app/audit/diff?a={north_run}&b={south_run}")
    assert diff.status_code == 422 and f"run {south_run} does not exist" in diff.text
    refused = web.post("north", f"/app/runs/{south_run}/cancel")
    assert refused.status_code == 403 and "another team" in refused.text
    # The board and fairness without a run show one's own team's last run.
    assert f"run={north_run}" in web.page("north-viewer").get("/app/board").text
    # The auditor reads every team's runs, and chooses a team to see its plan.
    audrey = web.page("audrey")
    for run in (north_run, south_run):
        assert audrey.get(f"/app/runs/{run}").status_code == 200
        assert audrey.get(f"/app/audit/runs/{run}/result.json").status_code == 200
    assert audrey.get(f"/app/audit/diff?a={north_run}&b={south_run}").status_code == 200
    every = audrey.get("/app/audit").text
    assert f"/app/runs/{north_run}" in every and f"/app/runs/{south_run}" in every
    for team in ("audit", "north", "south"):  # The chooser offers the known teams.
        assert f'<option value="{team}">' in every
    chosen = web.post("audrey", "/app/scope", team="south", next="/app/runs")
    assert chosen.status_code == 303 and chosen.headers["location"] == "/app/runs"
    assert _plan_name(web, "audrey") == "generated-12x30-seed2"
    south_only = audrey.get("/app/runs").text
    assert f"/app/runs/{south_run}" in south_only and f"/app/runs/{north_run}" not in south_only
    assert f"/app/runs/{north_run}" not in audrey.get("/app/audit").text
    assert web.post("north", "/app/scope", team="south").status_code == 403  # Auditors only.
    # A team without a plan: the app's error page (HTML), not the API's JSON.
    assert web.post("audrey", "/app/scope", team="nobody").status_code == 303
    empty = audrey.get("/app/pipeline")
    assert empty.status_code == 404 and empty.headers["content-type"].startswith("text/html")
    assert "the workspace of team &#39;nobody&#39; is empty" in empty.text
    assert audrey.get("/v1/runs/999").headers["content-type"] == "application/json"
    assert _plan_name(web, "north") == "sample"


@pytest.mark.slow
def test_requests_and_scenario_sets_stay_in_their_team(web_teams: WebTeams) -> None:
    web = web_teams
    form = {
        "opportunity_id": "OPP-00001",
        "tier": "A",
        "roles.0.skill": "solution_architect",
        "roles.0.min_proficiency": "3",
        "roles.0.hours": "8",
        "roles.0.start_week": "1",
        "roles.0.end_week": "2",
    }
    filed = web.post("nina", "/app/requests/new", **form)
    assert filed.status_code == 303, filed.text[:500]
    url = filed.headers["location"]
    number = url.rsplit("/", 1)[1]
    assert web.page("nina").get(url).status_code == 200
    for who in ("sue", "south", "south-viewer"):
        assert web.page(who).get(url).status_code == 404, who
        assert f"Request {number}" not in web.page(who).get("/app/requests").text, who
    assert f"Request {number}" in web.page("north-viewer").get("/app/requests").text
    assert f"Request {number}" in web.page("audrey").get("/app/requests").text
    assert web.post("sue", f"{url}/withdraw").status_code == 403
    assert web.post("sue", f"{url}/edit", **form).status_code == 403
    assert "Withdrawn" not in web.page("nina").get(url).text
    # The request is in north's plan only, and only north's run takes it in.
    north_run = web.run_week("north")
    web.run_week("south")
    assert f"run {north_run}" in web.page("nina").get(url).text
    # A scenario set of north's is not south's to see.
    made = web.post(
        "north",
        "/app/whatif",
        **{"s0.name": "less travel", "s0.kind": "change_policy", "s0.field": "travel_penalty"},
        **{"s0.value": "0", "time_limit": "1"},
    )
    assert made.status_code == 303, made.text[:500]
    set_url = made.headers["location"]
    assert web.page("north-viewer").get(set_url).status_code == 200
    assert web.page("south").get(set_url).status_code == 404
    assert web.page("south").get(f"{set_url}/comparison.png").status_code == 404
    assert set_url not in web.page("south").get("/app/whatif").text
    assert set_url in web.page("north-viewer").get("/app/whatif").text


def test_the_migration_keeps_the_one_workspace_as_the_default_teams(tmp_path: Path) -> None:
    """A database of before teams had workspaces (revision 0008): its workspace row (id 1)
    and its requests, actuals and outcomes become team `default`'s."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from allocator.store.repository import MIGRATIONS

    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
        connection.execute(
            text(
                "INSERT INTO workspace (id, version, content, updated_by, updated_at, run_ids) "
                "VALUES (1, 7, '{\"name\": \"old\"}', 'pat', '2026-12-01 10:00:00', '[3, 5]')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO plan_requests (requester, opportunity_id, content, submitted_at) "
                "VALUES ('sam', 'OPP-1', '{}', '2026-12-01 10:00:00')"
            )
        )
    store.migrate()
    row = store.get_workspace("default")
    assert row is not None and row.team == "default"
    assert (row.version, row.content, row.updated_by, row.run_ids) == (
        7,
        {"name": "old"},
        "pat",
        (3, 5),
    )
    assert store.get_workspace("north") is None
    requests, total = store.list_plan_requests("default", None, 10, 0)
    assert total == 1 and requests[0].team == "default" and requests[0].requester == "sam"
    assert store.list_plan_requests("north", None, 10, 0)[1] == 0
    store.close()


# ---------------------------------------------------------------------------------------------
# Actuals, outcomes and reports

INSIGHT_PORTFOLIO = {
    "name": "insight",
    "horizon_weeks": 2,
    "engineers": [{"id": "E1", "region": "R1", "skills": {"x": 3}, "cost_rate": 100}],
    "opportunities": [
        {
            "id": "O1",
            "industry": "power",
            "region": "R1",
            "stage": "s1",
            "value": 1000,
            "win_probability": 0.5,
        },
        {
            "id": "O2",
            "industry": "power",
            "region": "R1",
            "stage": "s1",
            "value": 2000,
            "win_probability": 0.5,
        },
    ],
    "demands": [{"opportunity_id": o, "skill": "x", "hours": 4} for o in ("O1", "O2")],
}


def _actuals(hours: int) -> dict[str, Any]:
    return {
        "rows": [{"engineer_id": "E1", "opportunity_id": "O1", "week": "2026-W10", "hours": hours}]
    }


def test_actuals_outcomes_and_reports_count_one_teams_data(teams: Teams) -> None:
    stored = {}
    for team, hours in (("north", 6), ("south", 40)):
        made = teams.call("POST", "/v1/portfolios", team, json=INSIGHT_PORTFOLIO).json()
        stored[team] = made["id"]
        run = {"portfolio_id": made["id"], "week": "2026-W10", "time_limit": 1}
        assert teams.call("POST", "/v1/runs", team, json=run).status_code == 202
        teams.solve_next()
        imported = teams.call(
            "POST", "/v1/actuals", team, json=_actuals(hours), params={"portfolio_id": made["id"]}
        )
        assert imported.status_code == 201, imported.text
        outcome = {"opportunity_id": "O1", "outcome": "won", "value": 900, "date": "2026-03-20"}
        assert teams.call("POST", "/v1/outcomes", team, json={"rows": [outcome]}).status_code == 201
    # Another team's portfolio cannot be checked against (not found), nor reported on.
    borrowed = teams.call(
        "POST", "/v1/actuals", "south", json=_actuals(1), params={"portfolio_id": stored["north"]}
    )
    assert borrowed.status_code == 404
    for report in ("investment", "calibration", "contribution", "ratios", "planned-vs-actual"):
        path = f"/v1/reports/{report}"
        query = {"portfolio_id": stored["north"]}
        assert teams.call("GET", path, "south-viewer", params=query).status_code == 404, path
        assert teams.call("GET", path, "north-viewer", params=query).status_code == 200, path
        assert teams.call("GET", path, "audrey", params=query).status_code == 200, path
    png = teams.call(
        "GET", "/v1/reports/investment.png", "south", params={"portfolio_id": stored["north"]}
    )
    assert png.status_code == 404
    # Lists: one's own team's rows; auditors every team's.
    assert [a["hours"] for a in teams.call("GET", "/v1/actuals", "north-viewer").json()] == [6]
    assert [a["hours"] for a in teams.call("GET", "/v1/actuals", "south-viewer").json()] == [40]
    assert sorted(a["hours"] for a in teams.call("GET", "/v1/actuals", "audrey").json()) == [6, 40]
    assert len(teams.call("GET", "/v1/outcomes", "north-viewer").json()) == 1
    assert len(teams.call("GET", "/v1/outcomes", "audrey").json()) == 2
    # A report counts only the portfolio's team's hours (same engineer and opportunity ids).
    for who in ("north-viewer", "audrey"):
        contribution = teams.call(
            "GET", "/v1/reports/contribution", who, params={"portfolio_id": stored["north"]}
        ).json()
        assert [(c["engineer_id"], c["actual_hours"]) for c in contribution["engineers"]] == [
            ("E1", 6)
        ]
    south = teams.call(
        "GET", "/v1/reports/contribution", "south", params={"portfolio_id": stored["south"]}
    ).json()
    assert [c["actual_hours"] for c in south["engineers"]] == [40]
    assert teams.call("GET", "/v1/audit/verify", "audrey").json()["ok"] is True
