"""/v1/scenarios through the real app on a real SQLite file: accepted at once (202), solved
(here with the job workers' own `process_next`, and once by the server's worker processes),
compared, plotted, listed, cancelled, recorded in the hash-chained ledger; bad edits named
exactly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from servicekit import add_key, portfolio_document

from allocator.api import create_app
from allocator.model import build_portfolio
from allocator.service.jobs import JobKind, execute, process_next
from allocator.service.keys import Role
from allocator.service.runs import RunService
from allocator.service.scenario_sets import ScenarioService
from allocator.service.settings import Settings
from allocator.store.repository import Store
from allocator.whatif.compare import SweepComparison, compare_sweep
from allocator.whatif.scenarios import parse_scenarios
from allocator.whatif.sweep import SweepOptions, run_sweep

SERIAL = SweepOptions(executor="serial")
SCENARIOS = [
    {
        "name": "North +1 consultant",
        "edits": [
            {
                "kind": "add_engineers",
                "profile": {"skills": {"presales_consultant": 4}, "region": "North"},
            }
        ],
    },
    {"name": "pipeline +20%", "edits": [{"kind": "change_pipeline", "percent": 20}]},
]


class Api:
    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.url = f"sqlite:///{tmp_path / 'api.db'}"
        self.settings = Settings(database_url=self.url, **{"workers": 0, **settings})
        self.app = create_app(self.settings)
        self.scenarios: ScenarioService = self.app.state.scenarios
        self.service: RunService = self.app.state.service
        self.store: Store = self.app.state.service.store
        self.keys = {role: add_key(self.url, role, role.value) for role in Role}
        self.client = TestClient(self.app)

    def post(self, path: str, role: Role = Role.PLANNER, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.auth(role), **kwargs)

    def get(self, path: str, role: Role = Role.VIEWER, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.auth(role), **kwargs)

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def solve_next(self) -> None:
        """What a worker process does, here (workers=0: the sweep runs serially)."""
        assert process_next(self.store, self.settings, "test:0")

    def records(self) -> int:
        """Ledger records besides those of the keys (each key is sealed when made)."""
        verdict = self.get("/v1/audit/verify", Role.AUDITOR).json()
        assert verdict["ok"], verdict
        return int(verdict["records"]) - len(Role)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    made = Api(tmp_path, max_time_limit=2.0)
    with made.client:
        yield made


def texts(response: Any) -> list[str]:
    return [problem["text"] for problem in response.json()["problems"]]


def test_a_scenario_set_is_accepted_at_once_then_solved_compared_and_plotted(api: Api) -> None:
    document = portfolio_document()
    stored = api.post("/v1/portfolios", json=document).json()
    accepted = api.post(
        "/v1/scenarios",
        json={"portfolio_id": stored["id"], "scenarios": SCENARIOS, "time_limit": 60},
    )
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert accepted.headers["location"] == f"/v1/scenarios/{body['id']}"
    assert (body["status"], body["scenarios"], body["time_limit"]) == ("queued", 2, 2.0)
    assert body["comparison_url"] is None and body["plot_urls"] == []
    not_yet = api.get(f"/v1/scenarios/{body['id']}/comparison")
    assert not_yet.status_code == 409
    assert (
        not_yet.json()["detail"] == f"scenario set {body['id']} is queued; it has no comparison yet"
    )
    assert api.records() == 2  # The portfolio, and the accepted set.

    api.solve_next()
    done = api.get(f"/v1/scenarios/{body['id']}").json()
    assert (done["status"], done["attempt"]) == ("done", 1)
    assert (done["solves_done"], done["solves_total"]) == (4, 4)  # cold base, base, 2 scenarios
    comparison = SweepComparison.model_validate(
        api.get(done["comparison_url"]).json()["comparison"]
    )
    # The same numbers as the sweep run directly on the same inputs.
    direct = compare_sweep(
        run_sweep(
            build_portfolio(document),
            parse_scenarios(SCENARIOS),
            SweepOptions(time_limit=2.0, executor="serial"),
        )
    )
    assert comparison.base == direct.base
    for got, expected in zip(comparison.scenarios, direct.scenarios, strict=True):
        assert got.model_dump(exclude={"seconds"}) == expected.model_dump(exclude={"seconds"})
    assert comparison.get("North +1 consultant").figures.engineers == 13
    assert api.records() == 3  # + scenario_finished, chained after the others.

    for url in done["plot_urls"]:
        plot = api.get(url)
        assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
        assert plot.content[:8] == b"\x89PNG\r\n\x1a\n"
    unmet = api.get(f"/v1/scenarios/{body['id']}/plots/unmet.png?scenario=pipeline %2B20%25")
    assert unmet.status_code == 200
    missing = api.get(f"/v1/scenarios/{body['id']}/plots/unmet.png?scenario=nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"scenario set {body['id']} has no scenario named 'nope'"
    assert api.get(f"/v1/scenarios/{body['id']}/plots/heatmap.png").status_code == 422

    inputs = api.get(f"/v1/scenarios/{body['id']}/inputs").json()
    assert [s["name"] for s in inputs["scenarios"]] == [s["name"] for s in SCENARIOS]
    recorded = inputs["inputs"]
    assert recorded["portfolio_id"] == stored["id"] and recorded["submitted_by"] == "planner"
    assert recorded["parameters"]["time_limit"] == 2.0 and recorded["versions"]["ortools"]


def test_a_finished_run_can_be_the_base(api: Api) -> None:
    run = api.post("/v1/runs", json={"portfolio": portfolio_document(), "time_limit": 1}).json()
    api.solve_next()
    accepted = api.post("/v1/scenarios", json={"base_run_id": run["id"], "scenarios": SCENARIOS})
    assert accepted.status_code == 202, accepted.text
    recorded = api.scenarios.inputs(accepted.json()["id"])
    result = api.get(f"/v1/runs/{run['id']}/result").json()["allocation"]
    assert recorded["base_allocation"]["assignments"] == result["assignments"]
    api.solve_next()
    done = api.get(f"/v1/scenarios/{accepted.json()['id']}").json()
    # The run's allocation is the warm start: no solve from scratch.
    assert (done["status"], done["solves_total"]) == ("done", 3)


def test_a_ratio_sweep_is_a_scenario_set_with_a_curve_and_a_ratio_plot(api: Api) -> None:
    sweep = {"region": "East", "from": "1:4", "to": "1:1", "steps": 4}
    accepted = api.post(
        "/v1/scenarios", json={"portfolio": portfolio_document(), "ratio_sweep": sweep}
    )
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["kind"] == "ratio_sweep"
    assert api.get(f"/v1/scenarios/{body['id']}/ratio").status_code == 409
    api.solve_next()
    done = api.get(f"/v1/scenarios/{body['id']}").json()
    assert done["plot_urls"][-1] == f"/v1/scenarios/{body['id']}/plots/ratio.png"
    curve = api.get(f"/v1/scenarios/{body['id']}/ratio").json()["curve"]
    requested = sorted(r for p in curve["points"] for r in p["requested"])
    assert requested == ["1:1", "1:2", "1:3", "1:4"]
    counts = [p["presales"] for p in curve["points"]]
    assert counts == sorted(counts) and sum(p["current"] for p in curve["points"]) == 1
    plot = api.get(f"/v1/scenarios/{body['id']}/plots/ratio.png")
    assert plot.status_code == 200 and plot.content[:4] == b"\x89PNG"
    inputs = api.get(f"/v1/scenarios/{body['id']}/inputs").json()
    assert inputs["ratio_sweep"]["from"] == "1:4"
    assert [s["name"] for s in inputs["scenarios"]] == [
        p["name"] for p in api.get(done["comparison_url"]).json()["comparison"]["scenarios"]
    ]
    # A plain scenario set has no curve and no ratio plot.
    plain = api.post(
        "/v1/scenarios", json={"portfolio": portfolio_document(), "scenarios": SCENARIOS}
    ).json()
    api.solve_next()
    assert "ratio.png" not in " ".join(api.get(f"/v1/scenarios/{plain['id']}").json()["plot_urls"])
    missing = api.get(f"/v1/scenarios/{plain['id']}/plots/ratio.png")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"scenario set {plain['id']} is not a ratio sweep"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"scenarios": SCENARIOS},
            ["$.portfolio_id: give one of portfolio_id, portfolio, base_run_id"],
        ),
        (
            {"portfolio_id": 99, "scenarios": SCENARIOS},
            ["$.portfolio_id: unknown portfolio (got 99)"],
        ),
        (
            {"base_run_id": 7, "scenarios": SCENARIOS},
            ["$.base_run_id: unknown run (got 7)"],
        ),
        (
            {
                "portfolio": "DOC",
                "scenarios": [
                    {
                        "name": "typo",
                        "edits": [{"kind": "set_ratio", "region": "Eats", "ratio": "1:4"}],
                    }
                ],
            },
            [
                "scenario 'typo' edit 1 (set_ratio), field region: unknown region; known: "
                "Central, East, North, South, West (got 'Eats')"
            ],
        ),
        (
            {
                "portfolio": "DOC",
                "scenarios": [
                    {"name": "a", "edits": [{"kind": "change_capacity", "percent": -150}]},
                    {"name": "a"},
                ],
            },
            ["$.scenarios[0].edits[0].percent: must be >= -100 (got -150)"],
        ),
        (
            {"portfolio": "DOC", "scenarios": [{"name": "a"}, {"name": "a"}]},
            ["scenario 2, field name: duplicate name (got 'a')"],
        ),
        (
            {"portfolio": "DOC", "scenarios": []},
            ["$.scenarios: give either scenarios or ratio_sweep"],
        ),
        (
            {"portfolio": "DOC", "ratio_sweep": {"region": "East", "to": "2"}},
            ["$.ratio_sweep.to: must look like 1:4 (presales:sales, both > 0) (got '2')"],
        ),
        (
            {"portfolio": "DOC", "ratio_sweep": {"industry": "mining"}},
            [
                "scenario 'ratio sweep' edit 1 (set_ratio), field industry: unknown industry; "
                "known: finance, government, healthcare, manufacturing, power, telecom "
                "(got 'mining')"
            ],
        ),
    ],
)
def test_bad_requests_are_422_naming_the_place(
    api: Api, body: dict[str, Any], expected: list[str]
) -> None:
    if body.get("portfolio") == "DOC":
        body = {**body, "portfolio": portfolio_document()}
    answer = api.post("/v1/scenarios", json=body)
    assert answer.status_code == 422, answer.text
    assert texts(answer) == expected
    assert api.records() == 0  # Nothing was recorded.


def test_roles_unknown_sets_and_recovery_after_a_restart(api: Api) -> None:
    body = {"portfolio": portfolio_document(), "scenarios": SCENARIOS}
    assert api.post("/v1/scenarios", Role.VIEWER, json=body).status_code == 403
    assert api.client.post("/v1/scenarios", json=body).status_code == 401
    assert api.get("/v1/scenarios/5").status_code == 404
    assert api.get("/v1/scenarios/5/comparison").json()["detail"] == (
        "scenario set 5 does not exist"
    )
    accepted = api.post("/v1/scenarios", json=body).json()
    # A server that died while solving it left it running, and its lease has run out: the
    # next start queues it again, without counting the attempt (the server died, not the set).
    claimed = api.store.claim_job("dead:1", -1)
    assert claimed is not None and claimed.kind is JobKind.SCENARIO_SET
    assert api.service.jobs.recover()[JobKind.SCENARIO_SET] == [accepted["id"]]
    assert api.get(f"/v1/scenarios/{accepted['id']}").json()["status"] == "queued"
    api.solve_next()
    assert api.get(f"/v1/scenarios/{accepted['id']}").json()["attempt"] == 1


def test_the_server_solves_a_set_in_its_worker_processes(tmp_path: Path) -> None:
    api = Api(tmp_path, workers=1, poll_seconds=0.05, max_time_limit=1.0)
    with api.client:
        accepted = api.post(
            "/v1/scenarios", json={"portfolio": portfolio_document(), "scenarios": SCENARIOS}
        ).json()
        deadline = time.monotonic() + 120
        state = accepted
        while state["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            state = api.get(f"/v1/scenarios/{accepted['id']}").json()
        assert state["status"] == "done", state
        comparison = api.get(state["comparison_url"]).json()["comparison"]
        assert comparison["executor"] == "serial"  # One worker: it solves the set itself.
        assert [s["name"] for s in comparison["scenarios"]] == [s["name"] for s in SCENARIOS]


def test_scenario_sets_are_listed_and_cancelled_like_runs(api: Api) -> None:
    body = {"portfolio": portfolio_document(), "scenarios": SCENARIOS}
    first = api.post("/v1/scenarios", json=body).json()
    second = api.post("/v1/scenarios", json=body).json()
    listed = api.get("/v1/scenarios", params={"limit": 1}).json()
    assert listed["total"] == 2 and [s["id"] for s in listed["items"]] == [second["id"]]
    cancelled = api.post(f"/v1/scenarios/{second['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"/v1/scenarios/{second['id']}/cancel").status_code == 409
    assert api.post(f"/v1/scenarios/{second['id']}/cancel", Role.VIEWER).status_code == 403
    assert api.get(f"/v1/scenarios/{second['id']}/comparison").status_code == 409
    queued = api.get("/v1/scenarios", params={"status": "queued"}).json()
    assert [s["id"] for s in queued["items"]] == [first["id"]]
    # A running set stops at its next solve, without a comparison.
    claimed = api.store.claim_job("test:0", 30)
    assert claimed is not None and claimed.id == first["id"]
    flagged = api.post(f"/v1/scenarios/{first['id']}/cancel").json()
    assert flagged["status"] == "running"
    execute(api.store, claimed, api.settings, "test:0", None)
    ended = api.get(f"/v1/scenarios/{first['id']}").json()
    assert ended["status"] == "cancelled" and ended["comparison_url"] is None, ended
    assert api.records() == 4  # Two accepted, two finished: the chain covers cancels too.
