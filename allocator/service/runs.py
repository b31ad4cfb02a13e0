"""The allocation service: portfolios in, runs queued and solved in worker processes, results out.

Orchestration, no formats and no SQL: storage goes through the `RunStore` protocol (implemented
by `store.Store`), solving through `solver.solve`. The database is the queue:

- `RunService.submit` validates a run's inputs into one portfolio snapshot (stored portfolio
  or inline one, policy overrides, pins, forbids, the previous run's assignments), caps its
  time limit and records it as `queued`; a full queue raises `QueueFullError`.
- A bounded pool of worker processes (spawned, never forked from the threaded server) claims
  the oldest queued run, solves it with CP-SAT, writes progress (throttled) and the result.
  A worker polls the run's cancel flag and sets the solver's stop event: the best allocation
  found so far is kept and the run ends `cancelled`.
- At start-up, runs left `running` by a server that died are queued again; a supervisor does
  the same for a worker process that dies, and fails a run after `max_attempts` attempts.
  Each attempt is numbered, so a late write from a stale attempt is ignored.

Imports the solver, the domain, `keys` and `settings`; never the API or the store.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any, Protocol

from allocator import __version__
from allocator.errors import AllocatorError, InputIssue, InvalidInputError, NotFoundError
from allocator.model import (
    Allocation,
    Portfolio,
    PreviousAssignment,
    build_portfolio,
    json_location,
)
from allocator.service.keys import AuthenticationError, KeyEntry, Principal, Role, hash_key
from allocator.service.ledger import Verdict
from allocator.service.settings import Settings
from allocator.solver import SOLVER_VERSION, Progress, SolveOptions, relative_gap, solve

log = logging.getLogger("allocator.runs")


class RunStatus(enum.StrEnum):
    """Where a run is: waiting, being solved, or ended one of three ways."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED)


class QueueFullError(AllocatorError):
    """Too many runs are waiting; try again after `retry_after` seconds (HTTP 429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ConflictError(AllocatorError):
    """The run is not in a state that allows the request, e.g. no result yet (HTTP 409)."""


@dataclass(frozen=True)
class PortfolioEntry:
    """A stored portfolio's summary; its content is kept in the ledger."""

    id: int
    name: str
    engineers: int
    opportunities: int
    demands: int
    sha256: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class RunSummary:
    """What is known of a run when it is accepted."""

    week: str
    submitted_by: str
    submitted_at: datetime
    portfolio_id: int | None
    portfolio_name: str
    previous_run_id: int | None
    time_limit: float
    seed: int


@dataclass(frozen=True)
class RunState:
    """A run's queue state as stored: status, attempt, progress and, once ended, a summary."""

    id: int
    status: RunStatus
    week: str
    submitted_by: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    portfolio_id: int | None
    portfolio_name: str
    previous_run_id: int | None
    time_limit: float
    seed: int
    attempt: int
    cancel_requested: bool
    best_objective: float | None
    best_bound: float | None
    gap: float | None
    progress_seconds: float | None
    solve_status: str | None
    objective: float | None
    message: str


@dataclass(frozen=True)
class RunFilter:
    status: RunStatus | None = None
    week: str | None = None
    submitted_by: str | None = None
    portfolio_id: int | None = None


@dataclass(frozen=True)
class RunRequest:
    """A run as submitted. `portfolio` and the overrides are raw data: they are validated
    here, together, so that every problem is reported with its place in the request."""

    portfolio_id: int | None = None
    portfolio: Mapping[str, Any] | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)
    pins: Sequence[Any] = ()
    forbids: Sequence[Any] = ()
    previous_run_id: int | None = None
    time_limit: float | None = None
    seed: int = 0
    week: str | None = None


class RunStore(Protocol):
    """What the service needs from storage; `store.Store` implements it."""

    def add_portfolio(self, entry: PortfolioEntry, content: dict[str, Any]) -> PortfolioEntry: ...
    def get_portfolio(self, portfolio_id: int) -> PortfolioEntry: ...
    def portfolio_content(self, portfolio_id: int) -> dict[str, Any]: ...
    def create_run(self, summary: RunSummary, inputs: dict[str, Any]) -> RunState: ...
    def get_run(self, run_id: int) -> RunState: ...
    def list_runs(
        self, where: RunFilter, limit: int, offset: int
    ) -> tuple[list[RunState], int]: ...
    def queued_time_limits(self) -> list[float]: ...
    def run_inputs(self, run_id: int) -> dict[str, Any]: ...
    def run_outcome(self, run_id: int) -> dict[str, Any] | None: ...
    def has_queued(self) -> bool: ...
    def claim_next(self, worker: str) -> RunState | None: ...
    def save_progress(
        self,
        run_id: int,
        attempt: int,
        objective: float,
        bound: float | None,
        gap: float | None,
        seconds: float,
    ) -> None: ...
    def cancel_requested(self, run_id: int, attempt: int) -> bool: ...
    def request_cancel(self, run_id: int, actor: str) -> RunState: ...
    def finish(
        self,
        run_id: int,
        attempt: int,
        status: RunStatus,
        outcome: dict[str, Any],
        actor: str,
        solve_status: str | None = None,
        objective: float | None = None,
        message: str = "",
    ) -> bool: ...
    def requeue_running(self, workers: Sequence[str] | None, max_attempts: int) -> list[int]: ...
    def verify_ledger(self) -> Verdict: ...
    def find_key(self, key_sha256: str) -> KeyEntry | None: ...
    def close(self) -> None: ...


StoreFactory = Callable[[], RunStore]
"""Opens the store in a worker process; must be picklable (e.g. `partial(Store, url)`)."""


def iso_week(moment: datetime) -> str:
    """`2026-W48`: the ISO week a run is filed under unless it names one."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def provenance() -> dict[str, str]:
    """Versions of what solves, and the git revision of the code, recorded with every run."""
    versions = {
        "allocator": __version__,
        "solver": SOLVER_VERSION,
        "python": sys.version.split()[0],
    }
    for package in ("ortools", "highspy", "numpy", "pandas", "pydantic"):
        try:
            versions[package] = package_metadata.version(package)
        except package_metadata.PackageNotFoundError:
            versions[package] = "absent"
    versions["platform"] = platform.platform()
    versions["git_revision"] = _git_revision()
    return versions


def _git_revision() -> str:
    if os.environ.get("ALLOCATOR_GIT_REVISION"):
        return os.environ["ALLOCATOR_GIT_REVISION"]
    root = Path(__file__).resolve().parents[2]
    try:
        found = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else "unknown"


def _now() -> datetime:
    return datetime.now(UTC)


class RunService:
    """Portfolios, runs, results, the audit check and API keys, over one store.

    >>> service = RunService(store, Settings(), open_store)  # doctest: +SKIP
    >>> service.start()  # recover runs a dead server left, spawn the workers  # doctest: +SKIP
    """

    def __init__(
        self, store: RunStore, settings: Settings, open_store: StoreFactory | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.open_store = open_store
        self.versions = provenance()
        self._submit_lock = threading.Lock()
        self._known_keys: dict[str, tuple[Principal, float]] = {}
        self._pool: WorkerPool | None = None

    # -----------------------------------------------------------------------------------------
    # Life cycle

    def start(self) -> list[int]:
        """Queue again the runs a dead server left running, then start the worker processes.
        Returns the ids of the runs queued again."""
        recovered = self.store.requeue_running(None, self.settings.max_attempts)
        if recovered:
            log.warning("queued again after a restart: runs %s", recovered)
        if self.settings.workers and self.open_store is not None:
            self._pool = WorkerPool(self.open_store, self.settings, self.store)
            self._pool.start()
        return recovered

    def stop(self) -> None:
        """Stop the worker processes; their runs stay `running` and are queued again at the
        next start."""
        if self._pool is not None:
            self._pool.stop()
            self._pool = None

    # -----------------------------------------------------------------------------------------
    # Keys

    def authenticate(self, key: str | None) -> Principal:
        """The holder of `key`; AuthenticationError when there is none or it is unknown."""
        if not key:
            raise AuthenticationError("send an API key as `Authorization: Bearer KEY`")
        digest = hash_key(key)
        entry = self.store.find_key(digest)
        if entry is None:
            raise AuthenticationError("the API key is not known or was revoked")
        principal = Principal(entry.name, entry.role)
        if self.settings.key_cache_seconds > 0:
            if len(self._known_keys) > 10_000:
                self._known_keys.clear()
            self._known_keys[digest] = (principal, time.monotonic())
        return principal

    def recently_authenticated(self, key: str | None) -> Principal | None:
        """The holder of `key` if it was checked against the store in the last
        `key_cache_seconds` (no I/O, so the API can answer reads without a key lookup)."""
        if not key:
            return None
        found = self._known_keys.get(hash_key(key))
        if found is None or time.monotonic() - found[1] > self.settings.key_cache_seconds:
            return None
        return found[0]

    # -----------------------------------------------------------------------------------------
    # Portfolios

    def add_portfolio(self, portfolio: Portfolio, principal: Principal) -> PortfolioEntry:
        """Store a validated portfolio (within the size limits); returns its summary."""
        self._check_size(portfolio, "$")
        entry = PortfolioEntry(
            id=0,
            name=portfolio.name,
            engineers=len(portfolio.engineers),
            opportunities=len(portfolio.opportunities),
            demands=len(portfolio.demands),
            sha256="",
            created_by=principal.name,
            created_at=_now(),
        )
        return self.store.add_portfolio(entry, portfolio.model_dump(mode="json"))

    def get_portfolio(self, portfolio_id: int) -> tuple[PortfolioEntry, Portfolio]:
        entry = self.store.get_portfolio(portfolio_id)
        return entry, build_portfolio(self.store.portfolio_content(portfolio_id))

    def _check_size(self, portfolio: Portfolio, where: str) -> None:
        limits = (
            ("engineers", len(portfolio.engineers), self.settings.max_engineers),
            ("opportunities", len(portfolio.opportunities), self.settings.max_opportunities),
        )
        issues = [
            InputIssue(where, name, f"at most {limit} are accepted by this server", count)
            for name, count, limit in limits
            if count > limit
        ]
        if issues:
            raise InvalidInputError(issues)

    # -----------------------------------------------------------------------------------------
    # Runs

    def submit(self, request: RunRequest, principal: Principal) -> RunState:
        """Validate and queue a run; raises InvalidInputError, NotFoundError, QueueFullError."""
        portfolio, portfolio_id = self._snapshot(request)
        requested = request.time_limit or self.settings.default_time_limit
        time_limit = min(requested, self.settings.max_time_limit)
        submitted_at = _now()
        week = request.week or iso_week(submitted_at)
        snapshot = portfolio.model_dump(mode="json")
        inputs = {
            "portfolio_id": portfolio_id,
            "portfolio": snapshot,
            "policy": snapshot["policy"],
            "overrides": {
                "policy": dict(request.policy),
                "pins": list(request.pins),
                "forbids": list(request.forbids),
            },
            "previous_run_id": request.previous_run_id,
            "parameters": {
                "time_limit": time_limit,
                "requested_time_limit": requested,
                "seed": request.seed,
                "solver_threads": self.settings.solver_threads,
                "reproducible": True,
            },
            "week": week,
            "submitted_by": principal.name,
            "submitted_role": principal.role.value,
            "submitted_at": submitted_at.isoformat(),
            "versions": self.versions,
            "git_revision": self.versions["git_revision"],
        }
        summary = RunSummary(
            week=week,
            submitted_by=principal.name,
            submitted_at=submitted_at,
            portfolio_id=portfolio_id,
            portfolio_name=portfolio.name,
            previous_run_id=request.previous_run_id,
            time_limit=time_limit,
            seed=request.seed,
        )
        with self._submit_lock:
            waiting = self.store.queued_time_limits()
            if len(waiting) >= self.settings.queue_size:
                seconds = math.ceil(sum(waiting) / max(1, self.settings.workers))
                raise QueueFullError(
                    f"{len(waiting)} runs are waiting, the most this server queues",
                    retry_after=max(1, seconds),
                )
            return self.store.create_run(summary, inputs)

    def _snapshot(self, request: RunRequest) -> tuple[Portfolio, int | None]:
        """The one portfolio the run solves: base + overrides + previous run's assignments."""
        if (request.portfolio_id is None) == (request.portfolio is None):
            raise InvalidInputError(
                [InputIssue("$", "portfolio_id", "give either portfolio_id or portfolio")]
            )
        if request.portfolio_id is not None:
            try:
                base = self.store.portfolio_content(request.portfolio_id)
            except NotFoundError:
                raise InvalidInputError(
                    [InputIssue("$", "portfolio_id", "unknown portfolio", request.portfolio_id)]
                ) from None
            prefix: tuple[str | int, ...] = ()
        else:
            base = dict(request.portfolio or {})
            prefix = ("portfolio",)
        data = dict(base)
        counts = {}
        for kind in ("pins", "forbids"):
            existing = base.get(kind) or []
            existing = list(existing) if isinstance(existing, list | tuple) else []
            counts[kind] = len(existing)
            data[kind] = existing + list(getattr(request, kind))
        if request.policy:
            policy = base.get("policy")
            data["policy"] = {**(policy if isinstance(policy, Mapping) else {}), **request.policy}

        def locate(loc: tuple[str | int, ...]) -> str:
            kind = loc[0] if loc else ""
            index = loc[1] if len(loc) >= 2 else None
            if kind in counts and isinstance(index, int) and index >= counts[kind]:
                return json_location((kind, index - counts[kind], *loc[2:]))
            if kind == "policy" and request.policy:
                return json_location(loc)
            return json_location((*prefix, *loc))

        portfolio = build_portfolio(data, locate)
        self._check_size(portfolio, json_location(prefix))
        if request.previous_run_id is not None:
            portfolio = portfolio.model_copy(
                update={"previous": self._previous(request.previous_run_id, portfolio)}
            )
        return portfolio, request.portfolio_id

    def _previous(self, run_id: int, portfolio: Portfolio) -> tuple[PreviousAssignment, ...]:
        """The previous run's assignments that still make sense in `portfolio`."""

        def problem(message: str) -> InvalidInputError:
            return InvalidInputError([InputIssue("$", "previous_run_id", message, run_id)])

        try:
            outcome = self.store.run_outcome(run_id)
        except NotFoundError:
            raise problem("unknown run") from None
        result = (outcome or {}).get("result")
        if not result:
            raise problem("names a run without a result")
        engineers = {e.id for e in portfolio.engineers}
        opportunities = {o.id for o in portfolio.opportunities}
        demands = portfolio.demand_by_id()
        kept = []
        for assignment in Allocation.model_validate(result).assignments:
            if (
                assignment.engineer_id not in engineers
                or assignment.opportunity_id not in opportunities
            ):
                continue
            demand = demands.get(assignment.demand_id)
            same = demand is not None and demand.opportunity_id == assignment.opportunity_id
            kept.append(
                PreviousAssignment(
                    engineer_id=assignment.engineer_id,
                    opportunity_id=assignment.opportunity_id,
                    demand_id=assignment.demand_id if same else "",
                )
            )
        return tuple(kept)

    def get_run(self, run_id: int) -> RunState:
        return self.store.get_run(run_id)

    def list_runs(
        self, where: RunFilter, limit: int = 50, offset: int = 0
    ) -> tuple[list[RunState], int]:
        return self.store.list_runs(where, limit, offset)

    def inputs(self, run_id: int) -> dict[str, Any]:
        """Everything that went into the run, as recorded in the ledger."""
        return self.store.run_inputs(run_id)

    def result(self, run_id: int) -> tuple[RunState, Allocation]:
        """The run's allocation; ConflictError while it has none (queued, running, failed)."""
        state = self.store.get_run(run_id)
        outcome = self.store.run_outcome(run_id)
        if outcome is None:
            raise ConflictError(f"run {run_id} is {state.status.value}; it has no result yet")
        if not outcome.get("result"):
            reason = outcome.get("error") or state.message or "it ended without one"
            raise ConflictError(f"run {run_id} is {state.status.value} without a result: {reason}")
        return state, Allocation.model_validate(outcome["result"])

    def cancel(self, run_id: int, principal: Principal) -> RunState:
        """Cancel a queued run at once, or stop a running one keeping its best allocation."""
        state = self.store.get_run(run_id)
        if state.status.ended:
            raise ConflictError(f"run {run_id} has already ended ({state.status.value})")
        return self.store.request_cancel(run_id, principal.name)

    def verify_audit(self) -> Verdict:
        return self.store.verify_ledger()


# ---------------------------------------------------------------------------------------------
# Worker processes


class WorkerPool:
    """`settings.workers` spawned processes, each solving one run at a time; a supervisor
    thread replaces a process that dies and queues its run again."""

    def __init__(self, open_store: StoreFactory, settings: Settings, store: RunStore) -> None:
        self.open_store = open_store
        self.settings = settings
        self.store = store
        self.context = multiprocessing.get_context("spawn")
        self.processes: dict[str, multiprocessing.process.BaseProcess] = {}
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._counter = 0

    def start(self) -> None:
        for _ in range(self.settings.workers):
            self._spawn()
        self._supervisor.start()

    def _spawn(self) -> None:
        self._counter += 1
        process = self.context.Process(
            target=work,
            args=(self.open_store, self.settings, os.getpid()),
            name=f"allocator-worker-{self._counter}",
            daemon=True,
        )
        process.start()
        self.processes[worker_name(process.pid or 0)] = process

    def _supervise(self) -> None:
        while not self._stopping.wait(1.0):
            dead = [name for name, p in self.processes.items() if not p.is_alive()]
            if not dead or self._stopping.is_set():
                continue
            for name in dead:
                self.processes.pop(name)
            try:
                again = self.store.requeue_running(dead, self.settings.max_attempts)
            except Exception:  # The store being down must not end supervision.
                log.exception("could not queue again the runs of dead workers %s", dead)
                again = []
            log.warning("worker processes %s died; runs queued again: %s", dead, again)
            for _ in dead:
                self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        self.processes.clear()


def worker_name(pid: int) -> str:
    """How runs name the worker process solving them: `host:pid`."""
    return f"{socket.gethostname()}:{pid}"


def work(open_store: StoreFactory, settings: Settings, parent_pid: int) -> None:
    """A worker process's life: claim the oldest queued run, solve it, repeat; end with the
    parent."""
    name = worker_name(os.getpid())
    _lower_priority(settings.worker_niceness)
    store = open_store()
    try:
        while os.getppid() == parent_pid:
            if not store.has_queued():
                time.sleep(settings.poll_seconds)
                continue
            run = store.claim_next(name)
            if run is not None:
                execute(store, run, settings, name, parent_pid)
    finally:
        store.close()


def _lower_priority(niceness: int) -> None:
    """Renice every thread of this process (Linux keeps niceness per thread; the threads the
    solver starts later inherit it)."""
    if not niceness:
        return
    tasks = Path("/proc/self/task")
    threads = [int(task.name) for task in tasks.iterdir()] if tasks.is_dir() else [0]
    for thread in threads:
        with contextlib.suppress(OSError):  # A thread that has just ended.
            os.setpriority(os.PRIO_PROCESS, thread, niceness)


class _Watch:
    """Carries progress from the solver's threads to the watcher, and the stop request back."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.done = threading.Event()
        self.latest: Progress | None = None

    def on_progress(self, progress: Progress) -> None:
        self.latest = progress


def execute(store: RunStore, run: RunState, settings: Settings, name: str, parent_pid: int) -> None:
    """Solve one claimed run and record how it ended. Never raises for the run's own errors:
    they end the run `failed` with the error recorded."""
    started = time.perf_counter()
    watch = _Watch()
    watcher = threading.Thread(
        target=_watch, args=(store, run, settings, watch, parent_pid), daemon=True
    )
    watcher.start()
    try:
        inputs = store.run_inputs(run.id)
        parameters = inputs["parameters"]
        options = SolveOptions(
            time_limit=float(parameters["time_limit"]),
            workers=int(parameters["solver_threads"]),
            seed=int(parameters["seed"]),
            reproducible=bool(parameters["reproducible"]),
        )
        portfolio = build_portfolio(inputs["portfolio"])
        allocation = solve(portfolio, options, on_progress=watch.on_progress, stop=watch.stop)
    except Exception as error:
        watch.done.set()
        log.error("run %s failed:\n%s", run.id, traceback.format_exc())
        message = f"{type(error).__name__}: {error}"
        outcome = _outcome(run, RunStatus.FAILED, None, message, started, name)
        store.finish(run.id, run.attempt, RunStatus.FAILED, outcome, name, message=message)
        return
    watch.done.set()
    watcher.join()
    status = RunStatus.CANCELLED if watch.stop.is_set() else RunStatus.DONE
    outcome = _outcome(run, status, allocation, None, started, name)
    store.finish(
        run.id,
        run.attempt,
        status,
        outcome,
        name,
        solve_status=allocation.status.value,
        objective=allocation.objective,
        message=allocation.message,
    )


def _outcome(
    run: RunState,
    status: RunStatus,
    allocation: Allocation | None,
    error: str | None,
    started: float,
    worker: str,
) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "status": status.value,
        "attempt": run.attempt,
        "worker": worker,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": _now().isoformat(),
        "run_seconds": round(time.perf_counter() - started, 3),
        "result": None if allocation is None else allocation.model_dump(mode="json"),
        "error": error,
    }


def _watch(
    store: RunStore, run: RunState, settings: Settings, watch: _Watch, parent_pid: int
) -> None:
    """Beside a solve: end the process with its parent, write progress, pass on a cancel."""
    written: Progress | None = None
    last_write = 0.0
    while not watch.done.wait(settings.poll_seconds):
        if os.getppid() != parent_pid:
            os._exit(70)  # The server died: its successor queues this run again.
        try:
            if not watch.stop.is_set() and store.cancel_requested(run.id, run.attempt):
                watch.stop.set()
            progress = watch.latest
            due = time.monotonic() - last_write >= settings.progress_seconds
            if progress is not None and progress is not written and due:
                bound = progress.best_bound
                gap = None if bound is None else relative_gap(progress.objective, bound)
                store.save_progress(
                    run.id,
                    run.attempt,
                    progress.objective,
                    progress.best_bound,
                    gap,
                    progress.seconds,
                )
                written, last_write = progress, time.monotonic()
        except Exception:  # A busy database must not stop the solve; try again next tick.
            log.exception("progress of run %s not written", run.id)


__all__ = [
    "ConflictError",
    "KeyEntry",
    "PortfolioEntry",
    "QueueFullError",
    "Role",
    "RunFilter",
    "RunRequest",
    "RunService",
    "RunState",
    "RunStatus",
    "RunStore",
    "RunSummary",
]
