"""The explanation endpoints through the real app: each answers the run's stored inputs and
result, with a summary paragraph; unknown records are 404, runs without a result 409. Answers
that re-solve are explanation jobs: here a thread works on them as a worker process would;
the last test has real worker processes and no solver in this (the API's) process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servicekit import portfolio_document
from test_api import Api

from allocator.service.jobs import process_next
from allocator.service.keys import Role


def work_in_a_thread(api: Api) -> threading.Event:
    """Explanation jobs answered by a thread of this process, as a worker would."""
    api.app.state.explanations.settings = api.settings.model_copy(update={"workers": 1})
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            if not process_next(api.store, api.settings, "thread:0"):
                stop.wait(0.02)

    threading.Thread(target=loop, daemon=True).start()
    return stop


@pytest.fixture
def solved(tmp_path: Path) -> Iterator[tuple[Api, int, dict[str, object]]]:
    api = Api(tmp_path, max_time_limit=5.0)
    with api.client:
        document = portfolio_document(engineers=10, opportunities=30, seed=3)
        run = api.post("/v1/runs", json={"portfolio": document, "time_limit": 2}).json()
        api.solve_next()
        result = api.get(f"/v1/runs/{run['id']}/result").json()["allocation"]
        stop = work_in_a_thread(api)
        try:
            yield api, run["id"], result
        finally:
            stop.set()


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
    assert conflicts == {
        "conflicts": [],
        "conflict_sets": [],
        "conflicts_complete": False,
        "summary": "The run is not infeasible.",
    }


def test_unknown_records_and_runs_without_result(
    solved: tuple[Api, int, dict[str, object]],
) -> None:
    api, run_id, _ = solved
    missing = api.get(f"/v1/runs/{run_id}/explain/opportunities/NOPE")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no opportunity 'NOPE' in this run"
    assert api.get(f"/v1/runs/{run_id}/explain/engineers/NOPE").status_code == 404
    assert api.get("/v1/runs/999/explain/fairness").status_code == 404
    queued = api.post("/v1/runs", json={"portfolio": portfolio_document(), "time_limit": 60})
    not_yet = api.get(f"/v1/runs/{queued.json()['id']}/explain/fairness")
    assert not_yet.status_code == 409
    assert api.client.get(f"/v1/runs/{run_id}/explain/fairness").status_code == 401
    assert api.get(f"/v1/runs/{run_id}/explain/fairness", Role.AUDITOR).status_code == 200


@pytest.mark.slow
def test_no_solver_runs_in_the_api_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With real worker processes, every explanation answers while CP-SAT and HiGHS refuse to
    run in this process, the API's: the re-solves happen in the workers."""
    import highspy
    from ortools.sat.python import cp_model

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("a solver ran in the API process")

    api = Api(tmp_path, max_time_limit=2.0, poll_seconds=0.05)
    api.settings = api.settings.model_copy(update={"workers": 1})
    for service in (api.service, api.app.state.explanations, api.app.state.scenarios):
        service.settings = api.settings
    with api.client:
        document = portfolio_document(engineers=10, opportunities=30, seed=3)
        run = api.post("/v1/runs", json={"portfolio": document, "time_limit": 1}).json()
        api.solve_next()  # Solved here, before the solvers are refused.
        monkeypatch.setattr(cp_model.CpSolver, "solve", refuse)
        monkeypatch.setattr(cp_model.CpSolver, "Solve", refuse, raising=False)
        monkeypatch.setattr(highspy.Highs, "run", refuse)
        result = api.get(f"/v1/runs/{run['id']}/result").json()["allocation"]
        staffed = result["staffed_opportunities"]
        inputs = api.get(f"/v1/runs/{run['id']}/inputs").json()["inputs"]
        unstaffed = sorted(
            {d["opportunity_id"] for d in inputs["portfolio"]["demands"]} - set(staffed)
        )
        base = f"/v1/runs/{run['id']}/explain"
        priced = api.get(f"{base}/opportunities/{unstaffed[0]}", params={"time_limit": 1})
        assert priced.status_code == 200, priced.text
        assert priced.json()["price"]["method"]
        pair = api.get(f"{base}/contrast", params={"a": staffed[0], "b": unstaffed[0]})
        assert pair.status_code == 200, pair.text
        fair = api.get(f"{base}/fairness", params={"verify": True, "time_limit": 1})
        assert fair.status_code == 200 and fair.json()["summary"], fair.text
        assert api.get(f"{base}/engineers/{result['assignments'][0]['engineer_id']}").is_success
