"""Jobs run on a Ray cluster (ALLOCATOR_RAY_ADDRESS): the worker claims, heartbeats, fences and
records; the handler runs as a Ray task on a local Ray instance (slow: Ray starts processes).

Real parts: an SQLite store, CP-SAT in Ray's worker processes, the worker loop in this process
(`process_next`, as a worker process does it).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from allocator.core.generate import generate
from allocator.service.jobs import JobKind, JobStatus, process_next
from allocator.service.keys import Principal, Role
from allocator.service.remote import RayRunner
from allocator.service.runs import RunRequest, RunService
from allocator.service.settings import Settings
from allocator.store.repository import Store

pytestmark = pytest.mark.slow

PLANNER = Principal("alice", Role.PLANNER)


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    """One local Ray instance for the module's tests (starting one takes seconds)."""
    ray = pytest.importorskip("ray")  # The `ray` extra is part of `dev`.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunService]:
    url = f"sqlite:///{tmp_path / 'ray.db'}"
    store = Store(url)
    store.migrate()
    settings = Settings(
        database_url=url, workers=1, ray_address="local", poll_seconds=0.1, progress_seconds=0.2
    )
    try:
        yield RunService(store, settings)
    finally:
        store.close()


def submit(service: RunService, engineers: int, opportunities: int, time_limit: float) -> int:
    stored = service.add_portfolio(generate(engineers, opportunities, seed=1), PLANNER)
    request = RunRequest(portfolio_id=stored.id, time_limit=time_limit)
    return service.submit(request, PLANNER).id


def work_on_next(service: RunService) -> None:
    assert process_next(service.store, service.settings, f"test:{os.getpid()}")


def test_a_run_is_solved_as_a_ray_task(ray_instance: Any, service: RunService) -> None:
    """A 3 s search (60 x 200 is not proven optimal sooner) that costs this process, the
    worker, well under a second of CPU: CP-SAT ran in Ray's worker process."""
    run_id = submit(service, 60, 200, time_limit=3.0)
    cpu = time.process_time()
    work_on_next(service)
    assert time.process_time() - cpu < 1.5

    state = service.store.get_job(JobKind.RUN, run_id)
    assert state.status is JobStatus.DONE and state.attempt == 1
    assert state.objective is not None and state.progress.best_objective is not None
    assert service.result(run_id)[1].assignments
    assert service.store.verify_ledger().ok


def test_a_run_on_ray_is_cancelled_with_its_best_allocation(
    ray_instance: Any, service: RunService
) -> None:
    run_id = submit(service, 60, 200, time_limit=60.0)
    worker = threading.Thread(target=work_on_next, args=(service,))
    worker.start()
    deadline = time.monotonic() + 60
    while service.store.get_job(JobKind.RUN, run_id).progress.best_objective is None:
        assert time.monotonic() < deadline, "no progress came back from the Ray task"
        time.sleep(0.2)

    asked = time.monotonic()
    service.cancel(run_id, PLANNER)
    worker.join(30)
    assert not worker.is_alive()
    assert time.monotonic() - asked < 15  # Stopped by its stop event, not its time limit.
    state = service.store.get_job(JobKind.RUN, run_id)
    assert state.status is JobStatus.CANCELLED and state.objective is not None
    allocation = service.result(run_id)[1]
    assert allocation.assignments


def test_a_handlers_own_error_comes_back_as_itself(ray_instance: Any) -> None:
    """What the handler raised in the Ray task is raised in the worker (the job fails with its
    message), not Ray's wrapper around it."""
    runner = RayRunner("local", 0)
    with pytest.raises(Exception) as raised:  # An explanation handler given no inputs.
        runner.run(JobKind.EXPLANATION, None, lambda _: None, threading.Event())
    assert not isinstance(raised.value, ray_instance.exceptions.RayError)


def test_a_scenario_sets_sweep_fans_out_as_ray_tasks(ray_instance: Any) -> None:
    """A scenario set's handler as a Ray task, its sweep's solves Ray tasks of their own
    (executor `ray` inside the task): every scenario compared, progress came back."""
    from test_sweep import small_sweep_scenarios

    from allocator.whatif.job import SweepJob

    job = SweepJob(
        portfolio=generate(12, 30, seed=4),
        scenarios=small_sweep_scenarios()[:2],
        time_limit=1.0,
        executor="ray",
    )
    seen: list[Any] = []
    outcome = RayRunner("local", 0).run(JobKind.SCENARIO_SET, job, seen.append, threading.Event())
    names = [row.name for row in outcome.comparison.scenarios]
    assert names == ["unchanged", "East +2"]
    assert seen and seen[-1][0] == seen[-1][1]  # (done, total): all done.
