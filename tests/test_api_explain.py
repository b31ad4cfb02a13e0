"""The explanation endpoints through the real app: each answers the run's stored inputs and
result, with a summary paragraph; unknown records are 404, runs without a result 409."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servicekit import portfolio_document
from test_api import Api

from allocator.service.keys import Role


@pytest.fixture
def solved(tmp_path: Path) -> Iterator[tuple[Api, int, dict[str, object]]]:
    api = Api(tmp_path, max_time_limit=5.0)
    with api.client:
        document = portfolio_document(engineers=10, opportunities=30, seed=3)
        run = api.post("/v1/runs", json={"portfolio": document, "time_limit": 2}).json()
        api.solve_next()
        result = api.get(f"/v1/runs/{run['id']}/result").json()["allocation"]
        yield api, run["id"], result


def test_an_unstaffed_opportunity_is_explained_with_its_price(
    solved: tuple[Api, int, dict[str, object]],
) -> None:
    api, run_id, result = solved
    staffed = set(result["staffed_opportunities"])  # type: ignore[call-overload]
    inputs = api.get(f"/v1/runs/{run_id}/inputs").json()["inputs"]
    asking = {d["opportunity_id"] for d in inputs["portfolio"]["demands"]}
    unstaffed = sorted(asking - staffed)
    assert unstaffed, "the portfolio leaves something unstaffed"
    answer = api.get(f"/v1/runs/{run_id}/explain/opportunities/{unstaffed[0]}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["staffed"] is False and body["roles"]
    assert body["price"]["method"] and "term_changes" in body["price"]
    assert body["summary"].startswith(f"{unstaffed[0]} (tier ")
    assert "got nobody" in body["summary"]


def test_engineer_contrast_fairness_and_conflicts(
    solved: tuple[Api, int, dict[str, object]],
) -> None:
    api, run_id, result = solved
    first = result["assignments"][0]  # type: ignore[index]
    engineer = api.get(f"/v1/runs/{run_id}/explain/engineers/{first['engineer_id']}").json()
    assert engineer["engineer_id"] == first["engineer_id"]
    assert any(w["opportunity_id"] == first["opportunity_id"] for w in engineer["serves"])
    staffed = result["staffed_opportunities"]  # type: ignore[index]
    pair = api.get(
        f"/v1/runs/{run_id}/explain/contrast", params={"a": staffed[0], "b": staffed[-1]}
    ).json()
    assert pair["a"]["opportunity_id"] == staffed[0] and pair["summary"]
    fair = api.get(f"/v1/runs/{run_id}/explain/fairness").json()
    assert [g["group"] for g in fair["by_tier"]] == ["A", "B", "C"]
    assert fair["baseline"] == "seniority_first"
    conflicts = api.get(f"/v1/runs/{run_id}/explain/conflicts").json()
    assert conflicts == {"conflicts": [], "summary": "The run is not infeasible."}


def test_unknown_records_and_runs_without_result(
    solved: tuple[Api, int, dict[str, object]],
) -> None:
    api, run_id, _ = solved
    missing = api.get(f"/v1/runs/{run_id}/explain/opportunities/NOPE")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no opportunity 'NOPE' in this run"
    assert api.get(f"/v1/runs/{run_id}/explain/engineers/NOPE").status_code == 404
    assert api.get("/v1/runs/999/explain/fairness").status_code == 404
    queued = api.post("/v1/runs", json={"portfolio": portfolio_document(), "time_limit": 1})
    not_yet = api.get(f"/v1/runs/{queued.json()['id']}/explain/fairness")
    assert not_yet.status_code == 409
    assert api.client.get(f"/v1/runs/{run_id}/explain/fairness").status_code == 401
    assert api.get(f"/v1/runs/{run_id}/explain/fairness", Role.AUDITOR).status_code == 200
