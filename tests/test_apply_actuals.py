"""A run that applies the recorded actuals (issue 15 leftover): POST /v1/runs with
`apply_actuals: true` takes the stored actuals of the week before it starts in through
`feed_actuals`, against the plans of the portfolio's earlier runs, and records what changed
with its inputs; through the real app on an SQLite file."""

from __future__ import annotations

import pytest
from test_api import Api
from test_api_insight import ACTUALS_CSV, PORTFOLIO, api  # noqa: F401  (the fixture)

pytestmark = pytest.mark.service


def _planned_then_spent(client: Api) -> int:
    """A stored portfolio planned in 2026-W10 (E1 on O1 and O2, 8 h; E2 on O3, 4 h), and the
    week's timesheet: E1 9 h, E2 5 h."""
    portfolio_id = int(client.post("/v1/portfolios", json=PORTFOLIO).json()["id"])
    run = client.post("/v1/runs", json={"portfolio_id": portfolio_id, "week": "2026-W10"})
    assert run.status_code == 202, run.text
    client.solve_next()
    plan = client.get(f"/v1/runs/{run.json()['id']}/result").json()["allocation"]
    assert sorted((a["engineer_id"], a["opportunity_id"]) for a in plan["assignments"]) == [
        ("E1", "O1"),
        ("E1", "O2"),
        ("E2", "O3"),
    ]
    files = {"file": ("actuals.csv", ACTUALS_CSV.encode(), "text/csv")}
    assert client.post("/v1/actuals", files=files).status_code == 201
    return portfolio_id


def test_a_run_applies_the_recorded_actuals_when_asked(api: Api) -> None:  # noqa: F811
    portfolio_id = _planned_then_spent(api)
    asked = {"portfolio_id": portfolio_id, "week": "2026-W11", "apply_actuals": True}
    run = api.post("/v1/runs", json=asked)
    assert run.status_code == 202, run.text
    inputs = api.get(f"/v1/runs/{run.json()['id']}/inputs").json()["inputs"]
    applied = inputs["overrides"]["apply_actuals"]
    assert applied["week_read"] == "2026-W10"
    assert [(f["engineer_id"], f["kind"], f["planned"], f["actual"]) for f in applied["flags"]] == [
        ("E1", "over_plan", 8.0, 9.0),
        ("E2", "over_plan", 4.0, 5.0),
    ]
    engineers = {e["id"]: e for e in inputs["portfolio"]["engineers"]}
    assert (engineers["E1"]["committed_hours"], engineers["E2"]["committed_hours"]) == (1.0, 1.0)
    assert applied["previous_kept"] == 3  # hours were spent on all three assignments
    assert len(inputs["portfolio"]["previous"]) == 3
    api.solve_next()
    assert api.get(f"/v1/runs/{run.json()['id']}").json()["status"] == "done"

    plain = api.post("/v1/runs", json={"portfolio_id": portfolio_id, "week": "2026-W11"})
    inputs = api.get(f"/v1/runs/{plain.json()['id']}/inputs").json()["inputs"]
    assert "apply_actuals" not in inputs["overrides"]
    assert all(e["committed_hours"] == 0 for e in inputs["portfolio"]["engineers"])


def test_applying_actuals_needs_a_stored_portfolio(api: Api) -> None:  # noqa: F811
    answer = api.post("/v1/runs", json={"portfolio": PORTFOLIO, "apply_actuals": True})
    assert answer.status_code == 422
    texts = [problem["text"] for problem in answer.json()["problems"]]
    assert texts == [
        "$.apply_actuals: needs portfolio_id: actuals are read against its earlier "
        "runs' plans (got True)"
    ]
