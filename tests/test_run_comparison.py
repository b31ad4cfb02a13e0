"""A run's figures next to its baselines (the status quo and the greedy) are worked out by the
worker that solved it and kept in its sealed finished record, so the planning app's pages only
read them; a run recorded without them (finished before they were kept) reads as not computed,
and nothing is solved in the server for it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from servicekit import portfolio_document
from test_api import Api

from allocator.io.comparison import BASELINE_LABELS, STATUS_QUO
from allocator.io.report import summarize
from allocator.service import runs
from allocator.service.jobs import JobKind, now
from allocator.service.keys import Role
from allocator.solve.baselines import run_baseline

pytestmark = pytest.mark.service


def submitted(api: Api) -> int:
    document = portfolio_document(engineers=10, opportunities=30, seed=3)
    run = api.post("/v1/runs", json={"portfolio": document, "time_limit": 1})
    assert run.status_code == 202, run.text
    number: int = run.json()["id"]
    return number


def test_the_worker_records_the_baselines_with_the_run(tmp_path: Path) -> None:
    api = Api(tmp_path, max_time_limit=5.0)
    with api.client:
        run_id = submitted(api)
        api.solve_next()
        compared = api.service.comparison(run_id)
        assert compared is not None
        assert [b.name for b in compared.baselines] == list(BASELINE_LABELS)
        portfolio = api.service.accepted(run_id).portfolio
        _, allocation = api.service.result(run_id)
        assert compared.run == summarize(portfolio, allocation)
        for baseline in compared.baselines:  # The same figures as a baseline solved here.
            found = run_baseline(portfolio, baseline.name)
            assert baseline.summary == summarize(portfolio, found)
            kept = set(found.staffed_opportunities) if baseline.name == STATUS_QUO else set()
            assert set(baseline.staffed_opportunities) == kept
        assert compared.staffed_by(STATUS_QUO) == kept_status_quo(portfolio)
        record = api.store.job_outcome(JobKind.RUN, run_id)  # The sealed ledger record.
        assert record is not None and record["comparison"]["baselines"]
        assert api.store.verify_ledger().ok


def kept_status_quo(portfolio: Any) -> set[str]:
    return set(run_baseline(portfolio, STATUS_QUO).staffed_opportunities)


def test_a_run_recorded_without_baselines_reads_as_not_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(tmp_path, max_time_limit=5.0)
    with api.client:
        run_id = submitted(api)
        # An older server's worker: the same run record, without the comparison.
        job = api.store.claim_job("old:1", 60)
        assert job is not None
        inputs = runs.SPEC.load(api.store, job, api.settings)
        solved = runs.SPEC.handler(inputs, lambda _: None, threading.Event())
        assert job.started_at is not None
        at = {"started_at": job.started_at.isoformat(), "finished_at": now().isoformat()}
        timing = {"worker": "old:1", **at, "seconds": 1.0}
        ending = runs.SPEC.ending(job, runs.Solved(solved.allocation, None), None, False, timing)
        ending.outcome.pop("comparison")
        assert api.store.finish_job(JobKind.RUN, job.id, job.lease, ending, "old:1")
        assert api.service.comparison(run_id) is None
        refuse_solvers(monkeypatch)
        signed = api.client.post("/app/signin", data={"key": api.keys[Role.PLANNER]})
        assert signed.status_code == 200
        summary = api.client.get(f"/app/runs/{run_id}/summary")
        assert summary.status_code == 200 and "not computed for this run" in summary.text
        # Fairness then asks an explanation job; this server has no workers to answer it.
        fairness = api.client.get(f"/app/fairness?run={run_id}")
        assert fairness.status_code == 409 and "no workers" in fairness.text


def refuse_solvers(monkeypatch: pytest.MonkeyPatch) -> None:
    """CP-SAT, HiGHS and the baselines' greedy refuse to run in this process from now on."""
    import highspy
    from ortools.sat.python import cp_model

    import allocator.explain.explanations as explanations
    import allocator.solve.baselines as baselines

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("a solver ran in the server process")

    monkeypatch.setattr(cp_model.CpSolver, "solve", refuse)
    monkeypatch.setattr(cp_model.CpSolver, "Solve", refuse, raising=False)
    monkeypatch.setattr(highspy.Highs, "run", refuse)
    monkeypatch.setattr(baselines, "greedy_selection", refuse)
    monkeypatch.setattr(baselines, "run_baseline", refuse)
    monkeypatch.setattr(explanations, "run_baseline", refuse)


def test_fairness_reads_the_same_off_the_snapshot_as_off_the_compiled_run() -> None:
    from allocator.explain.explanations import Coverage, Run, fairness
    from allocator.model import build_portfolio

    portfolio = build_portfolio(portfolio_document(engineers=10, opportunities=30, seed=3))
    allocation = run_baseline(portfolio, "value_density")
    status_quo = kept_status_quo(portfolio)
    compiled = Run.of(portfolio, allocation)
    solved_here = fairness(compiled)
    assert fairness(compiled, status_quo=status_quo) == solved_here
    assert fairness(Coverage.of(portfolio, allocation), status_quo=status_quo) == solved_here
