"""One job pipeline for every kind of background work: runs, scenario sets, explanations.

The database is the queue: one `jobs` table (kind, per-kind number, status, attempt, lease,
progress, cancel flag, ledger pointers). This module holds what every kind shares and nothing
that solves, so the store can import it without loading a solver:

- the records (`JobState`, `JobProgress`, `NewJob`, `JobFilter`) and `JobStore`, the queue
  methods the store implements;
- `JobService`: submit (with a queue limit and 429), get, list, cancel, the accepted and
  finished records;
- `WorkerPool` and `work`: spawned worker processes that claim the oldest queued job of any
  kind and call its kind's pure handler `handler(inputs, progress, stop) -> outcome`
  (`allocator.solve.job`, `allocator.whatif.job`, `allocator.explain.job`). A watcher thread
  beside the handler writes progress, renews the lease, and turns a cancel flag into the
  handler's stop event. Handlers never touch the store: a kind's `JobKindSpec` (in
  `service.runs`, `service.scenario_sets`, `service.explanations`) loads the handler's typed
  inputs from the records and turns its outcome into the finished record.
- Leases and recovery: a claim gives the job a lease (`settings.lease_seconds`) and a lease
  number, the fencing token: the watcher renews the lease as a heartbeat, and every write of a
  worker (progress, heartbeat, finish) names its lease number, so a worker whose job was
  handed to another (an orphan, a worker that stalled past its lease) writes nothing more and
  is told to stop. Two ways back to the queue, told apart:
  * a worker process dies while its server lives (the supervisor sees it): the job may be
    what killed it, so the attempt counts; `max_attempts` of those fail the job;
  * the server (or machine) holding the job died: its workers die with it (`die_with_parent`:
    prctl PDEATHSIG on Linux and a watch on the parent's pipe), and the job is queued again
    by the next server to start on that host (its workers' pids are gone) or by any
    supervisor once the lease has run out. The attempt does not count; a job interrupted
    `max_interruptions` times fails all the same.

Imports the domain's errors, `keys`, `settings` and `solve.lifeline` (standard library only);
the kinds' modules only inside the worker processes.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import importlib
import logging
import math
import multiprocessing
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from allocator.errors import AllocatorError, NotFoundError
from allocator.service.keys import DEFAULT_TEAM, KeyEntry, PermissionDeniedError, Principal
from allocator.service.ledger import Checkpoint, Verdict
from allocator.service.memory import cap_memory, failure_text
from allocator.service.portfolios import PortfolioEntry
from allocator.service.seals import Seal, SealMismatchError, job_mismatches
from allocator.service.settings import Settings
from allocator.solve.lifeline import die_with_parent

log = logging.getLogger("allocator.jobs")


class JobKind(enum.StrEnum):
    """The kinds of background work. Each numbers its jobs from 1 (the id in its URLs)."""

    RUN = "run"
    SCENARIO_SET = "scenario_set"
    EXPLANATION = "explanation"

    @property
    def label(self) -> str:
        """How messages name jobs of this kind: `run 3`, `scenario set 2`."""
        return self.value.replace("_", " ")

    @property
    def id_key(self) -> str:
        """The key that names the job in its records: `run_id`, `scenario_set_id`."""
        return f"{self.value}_id"

    @property
    def ledger_kinds(self) -> tuple[str, str] | None:
        """The ledger record kinds of its accepted inputs and its outcome; None for work whose
        inputs and outcome are derived from audited records and are kept on the job itself."""
        return LEDGER_KINDS.get(self)

    @property
    def priority(self) -> int:
        """Lower is claimed first: an explanation someone is waiting for goes before runs."""
        return 0 if self is JobKind.EXPLANATION else 1


LEDGER_KINDS = {
    JobKind.RUN: ("run_accepted", "run_finished"),
    JobKind.SCENARIO_SET: ("scenario_accepted", "scenario_finished"),
}


class JobStatus(enum.StrEnum):
    """Where a job is: waiting, being worked on, or ended one of three ways."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class QueueFullError(AllocatorError):
    """Too many jobs are waiting; try again after `retry_after` seconds (HTTP 429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ConflictError(AllocatorError):
    """The job is not in a state that allows the request, e.g. no result yet (HTTP 409)."""


class JobProgress(BaseModel):
    """How far a running job has come; each kind fills what it knows."""

    best_objective: float | None = None
    best_bound: float | None = None
    gap: float | None = None
    seconds: float | None = None
    done: int | None = None
    total: int | None = None
    trail: list[tuple[float, float | None, float | None]] | None = None
    """(seconds, best objective, best bound) as they changed, oldest first: the curve of a
    run's progress (at most `TRAIL_POINTS`, thinned evenly beyond)."""


TRAIL_POINTS = 120
"""Most points a job's progress trail keeps."""


class Accepted(BaseModel):
    """What every kind's accepted record holds besides its own inputs."""

    model_config = ConfigDict(extra="allow")  # Fields added later are read back as they are.

    submitted_by: str
    submitted_role: str
    submitted_at: str
    versions: dict[str, str]


class Finished(BaseModel):
    """What every kind's finished record holds besides its own outcome."""

    model_config = ConfigDict(extra="allow")

    status: JobStatus
    attempt: int
    worker: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None


def finished_fields(
    job: JobState, status: JobStatus, error: str | None, timing: Mapping[str, Any]
) -> dict[str, Any]:
    """The `Finished` fields of an attempt that ran: see `execute`'s timing."""
    return {
        "status": status,
        "attempt": job.attempt,
        "worker": timing["worker"],
        "started_at": timing["started_at"],
        "finished_at": timing["finished_at"],
        "error": error,
    }


@dataclass(frozen=True)
class NewJob:
    """A job as accepted: what every kind has, and its kind's summary for lists and views."""

    kind: JobKind
    submitted_by: str
    submitted_at: datetime
    time_limit: float
    summary: Mapping[str, Any]
    week: str | None = None
    portfolio_id: int | None = None
    team: str = DEFAULT_TEAM
    """The submitter's team: only that team (and auditors) see and act on the job."""


@dataclass(frozen=True)
class JobState:
    """A job's queue state as stored. `id` is its number within its kind."""

    kind: JobKind
    id: int
    status: JobStatus
    submitted_by: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    time_limit: float
    week: str | None
    portfolio_id: int | None
    attempt: int
    lease: int
    """The fencing token: the number of the claim that holds the job (counts every claim)."""
    worker: str
    cancel_requested: bool
    progress: JobProgress
    summary: dict[str, Any]
    result_status: str | None
    objective: float | None
    message: str
    team: str = DEFAULT_TEAM

    @property
    def label(self) -> str:
        return f"{self.kind.label} {self.id}"


@dataclass(frozen=True)
class JobFilter:
    kind: JobKind
    status: JobStatus | None = None
    week: str | None = None
    submitted_by: str | None = None
    portfolio_id: int | None = None
    team: str | None = None
    """Only this team's jobs; None: every team's."""


@dataclass(frozen=True)
class Ending:
    """How an attempt ended, as the store records it."""

    status: JobStatus
    outcome: dict[str, Any]
    result_status: str | None = None
    objective: float | None = None
    message: str = ""


class JobStore(Protocol):
    """The queue methods of the store (`store.Store` implements them)."""

    def create_job(
        self,
        job: NewJob,
        content: Callable[[int], dict[str, Any]],
        admit: Callable[[Sequence[float]], None] | None = None,
    ) -> JobState: ...
    def get_job(self, kind: JobKind, number: int) -> JobState: ...
    def list_jobs(
        self, where: JobFilter, limit: int, offset: int
    ) -> tuple[list[JobState], int]: ...
    def queued_time_limits(self, kind: JobKind | None = JobKind.RUN) -> list[float]: ...
    def job_inputs(self, kind: JobKind, number: int) -> dict[str, Any]: ...
    def job_outcome(self, kind: JobKind, number: int) -> dict[str, Any] | None: ...
    def has_queued(self) -> bool: ...
    def claim_job(self, worker: str, lease_seconds: float) -> JobState | None: ...
    def save_job_progress(
        self,
        kind: JobKind,
        number: int,
        lease: int,
        progress: JobProgress | None,
        lease_seconds: float,
    ) -> bool: ...
    def job_cancel_requested(self, kind: JobKind, number: int, lease: int) -> bool: ...
    def cancel_job(self, kind: JobKind, number: int, actor: str) -> JobState: ...
    def finish_job(
        self, kind: JobKind, number: int, lease: int, ending: Ending, actor: str
    ) -> bool: ...
    def requeue_jobs(
        self,
        workers: Sequence[str] | None,
        max_attempts: int,
        expired: bool = False,
        counted: bool = True,
        max_claims: int | None = None,
    ) -> dict[JobKind, list[int]]: ...
    def running_workers(self) -> list[str]: ...
    def portfolio_content(self, portfolio_id: int) -> dict[str, Any]: ...
    def get_portfolio(self, portfolio_id: int) -> PortfolioEntry: ...
    def job_seals(self, kind: JobKind, numbers: Sequence[int]) -> dict[int, list[Seal]]: ...
    def get_job_sealed(self, kind: JobKind, number: int) -> tuple[JobState, list[Seal]]: ...
    def verify_ledger(self, checkpoints: Sequence[Checkpoint] = ()) -> Verdict: ...
    def find_key(self, key_sha256: str) -> KeyEntry | None: ...
    def close(self) -> None: ...


StoreFactory = Callable[[], JobStore]
"""Opens the store in a worker process; must be picklable (e.g. `partial(Store, url)`)."""

Inputs = TypeVar("Inputs")
Outcome = TypeVar("Outcome")


@dataclass(frozen=True)
class JobKindSpec(Generic[Inputs, Outcome]):
    """What the worker needs to know of a kind: how to read the handler's typed inputs from
    the records, the pure handler, how to report its progress, and how to record its end."""

    kind: JobKind
    load: Callable[[JobStore, JobState, Settings], Inputs]
    handler: Callable[[Inputs, Callable[[Any], None], threading.Event], Outcome]
    progress: Callable[[Any], JobProgress]
    ending: Callable[[JobState, Outcome | None, str | None, bool, dict[str, Any]], Ending]
    """(job, outcome or None, error or None, stopped, timing fields) -> Ending."""


SPECS = {
    JobKind.RUN: "allocator.service.runs",
    JobKind.SCENARIO_SET: "allocator.service.scenario_sets",
    JobKind.EXPLANATION: "allocator.service.explanations",
}
"""The module of each kind; its `SPEC` is imported in the worker processes only."""


def spec_of(kind: JobKind) -> JobKindSpec[Any, Any]:
    spec: JobKindSpec[Any, Any] = importlib.import_module(SPECS[kind]).SPEC
    return spec


def now() -> datetime:
    return datetime.now(UTC)


SUMMARY_FIGURES = ("seed", "portfolio_name", "previous_run_id", "base_run_id")
"""The summary fields a job's accepted record seals (where the kind has them)."""


def job_figures(job: JobState) -> dict[str, Any]:
    """The figures of a job's row that its sealed records fix (see `seals.sealed_figures`)."""
    figures: dict[str, Any] = {
        "status": job.status.value,
        "submitted_by": job.submitted_by,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "attempt": job.attempt,
        "result_status": job.result_status,
        "objective": job.objective,
        "time_limit": job.time_limit,
        "week": job.week,
        "portfolio_id": job.portfolio_id,
    }
    figures.update({k: job.summary[k] for k in SUMMARY_FIGURES if k in job.summary})
    return figures


def with_figures(job: JobState, sealed: Mapping[str, Any]) -> JobState:
    """The job with its sealed figures in place of its row's."""
    columns = {k: v for k, v in sealed.items() if k not in SUMMARY_FIGURES}
    for name in ("submitted_at", "started_at", "finished_at"):
        if isinstance(columns.get(name), str):
            columns[name] = datetime.fromisoformat(columns[name])
    if "status" in columns:
        columns["status"] = JobStatus(columns["status"])
    summary = {**job.summary, **{k: v for k, v in sealed.items() if k in SUMMARY_FIGURES}}
    known = {k: v for k, v in columns.items() if k in JobState.__dataclass_fields__}
    return replace(job, **known, summary=summary)


def ended_record(
    kind: JobKind, number: int, status: JobStatus, attempt: int, error: str | None, **more: Any
) -> dict[str, Any]:
    """The finished record of a job that ended without its handler's outcome."""
    return {
        kind.id_key: number,
        "status": status.value,
        "attempt": attempt,
        "finished_at": now().isoformat(),
        "result": None,
        "error": error,
        **more,
    }


# ---------------------------------------------------------------------------------------------
# The service


def key_busy(submitted_by: str, active: Sequence[float], most: int) -> QueueFullError | None:
    """The 429 for a key that has `most` jobs or more queued or running (`active`: their
    time limits, which tell when one may end); None while it has fewer."""
    if len(active) < most:
        return None
    return QueueFullError(
        f"key {submitted_by!r} has {len(active)} jobs queued or running, the most one key may "
        f"have (ALLOCATOR_MAX_JOBS_PER_KEY = {most})",
        retry_after=max(1, math.ceil(min(active, default=10.0))),
    )


@dataclass
class JobService:
    """Submit, read, list and cancel jobs of any kind, over one store."""

    store: JobStore
    settings: Settings
    _submit_lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(
        self,
        job: NewJob,
        content: Callable[[int], dict[str, Any]],
        queue_size: int,
        retry_after: Callable[[list[float]], float],
    ) -> JobState:
        """Queue `job` with its accepted record (`content(number)`); QueueFullError when
        `queue_size` jobs of its kind are waiting, or when its key already has
        `max_jobs_per_key` jobs queued or running. The key's count is taken inside the
        store's write transaction that inserts the job (serialised with every other
        submission, of any process), so simultaneous submissions cannot both pass at the
        limit."""
        most = self.settings.max_jobs_per_key

        def admit(active: Sequence[float]) -> None:
            refused = key_busy(job.submitted_by, active, most)
            if refused is not None:
                raise refused

        with self._submit_lock:
            waiting = self.store.queued_time_limits(job.kind)
            if len(waiting) >= queue_size:
                raise QueueFullError(
                    f"{len(waiting)} {job.kind.label}s are waiting, the most this server queues",
                    retry_after=max(1, math.ceil(retry_after(waiting))),
                )
            return self.store.create_job(job, content, admit)

    def get(self, kind: JobKind, number: int, principal: Principal | None = None) -> JobState:
        """The job, its figures checked against its sealed records: SealMismatchError (never
        the row's figures) when the database row was changed past the application. With
        `principal`, another team's job is NotFoundError."""
        state, seals = self.store.get_job_sealed(kind, number)
        if principal is not None and not principal.sees(state.team):
            raise not_found(kind, number)
        _, problems = self._checked(state, seals)
        if problems:
            raise SealMismatchError(
                f"{state.label}: the database row does not match its sealed records "
                f"({'; '.join(problems)}); `allocator audit verify` names every such row"
            )
        return state

    def find(
        self, where: JobFilter, limit: int = 50, offset: int = 0
    ) -> tuple[list[JobState], int]:
        """Jobs matching `where`, newest first, and how many match in all; each job's figures
        are the sealed ones (a row that differs is logged, and served as sealed). The page's
        rows and their records are two reads: a job that ended between them is read again in
        one statement (`get_job_sealed`) before its row is called changed."""
        states, total = self.store.list_jobs(where, limit, offset)
        checked = []
        for state, (sealed, problems) in zip(states, self._sealed(states), strict=True):
            if problems:
                state, seals = self.store.get_job_sealed(state.kind, state.id)
                sealed, problems = self._checked(state, seals)
            if problems:
                log.error(
                    "%s: the database row differs from its sealed records: %s",
                    state.label,
                    problems,
                )
                state = with_figures(state, sealed)
            checked.append(state)
        return checked, total

    def _sealed(self, states: Sequence[JobState]) -> list[tuple[dict[str, Any], list[str]]]:
        """For each job: its sealed figures and what in its row differs from them."""
        found: list[tuple[dict[str, Any], list[str]]] = []
        by_kind: dict[JobKind, list[int]] = {}
        for state in states:
            if state.kind.ledger_kinds:
                by_kind.setdefault(state.kind, []).append(state.id)
        seals = {kind: self.store.job_seals(kind, numbers) for kind, numbers in by_kind.items()}
        for state in states:
            records = seals[state.kind].get(state.id, []) if state.kind in seals else []
            found.append(self._checked(state, records))
        return found

    @staticmethod
    def _checked(state: JobState, records: Sequence[Seal]) -> tuple[dict[str, Any], list[str]]:
        """The job's sealed figures and what in its row differs from them (`records`: its
        sealed records, in order)."""
        kinds = state.kind.ledger_kinds
        if kinds is None:  # Unaudited work: nothing is sealed.
            return {}, []
        accepted = [seal for seal in records if seal.kind == kinds[0]]
        finished = [seal for seal in records if seal.kind == kinds[1]]
        return job_mismatches(job_figures(state), state.status.ended, accepted, finished)

    def scoped(
        self, kind: JobKind, number: int, principal: Principal, acting: bool = False
    ) -> JobState:
        """The job, if `principal`'s team may see it. Another team's job is NotFoundError
        when read (its existence is not told), PermissionDeniedError when acted on (cancel,
        continue)."""
        state = self.store.get_job(kind, number)
        if principal.sees(state.team):
            return state
        if acting:
            raise PermissionDeniedError(
                f"key {principal.name!r} may not act on {state.label}: it belongs to another team"
            )
        raise not_found(kind, number)

    def accepted(self, kind: JobKind, number: int) -> dict[str, Any]:
        """The job's accepted record, as recorded."""
        return self.store.job_inputs(kind, number)

    def finished(self, kind: JobKind, number: int) -> tuple[JobState, dict[str, Any]]:
        """The job and its finished record; ConflictError while it has none."""
        state = self.get(kind, number)
        outcome = self.store.job_outcome(kind, number)
        if outcome is None:
            raise ConflictError(f"{state.label} is {state.status.value}; it has no result yet")
        return state, outcome

    def cancel(self, kind: JobKind, number: int, actor: str) -> JobState:
        """Cancel a queued job at once, or ask the worker of a running one to stop."""
        state = self.store.get_job(kind, number)
        if state.status.ended:
            raise ConflictError(f"{state.label} has already ended ({state.status.value})")
        return self.store.cancel_job(kind, number, actor)

    def recover(self) -> dict[JobKind, list[int]]:
        """Queue again the jobs a dead server left running: those of worker processes of this
        host that are gone, and those whose lease ran out anywhere. Neither counts as an
        attempt: the server died, not the job. Jobs held by live workers (of other servers on
        this database) are left alone."""
        dead = [name for name in self.store.running_workers() if worker_is_gone(name)]
        recovered = requeue_interrupted(self.store, self.settings, dead)
        for kind, numbers in recovered.items():
            if numbers:
                log.warning("queued again after a restart: %ss %s", kind.label, numbers)
        return recovered


def requeue_interrupted(
    store: JobStore, settings: Settings, workers: Sequence[str]
) -> dict[JobKind, list[int]]:
    """Queue again, without counting an attempt, the jobs of `workers` (known dead with their
    server) and every job whose lease has run out."""
    return store.requeue_jobs(
        list(workers),
        settings.max_attempts,
        expired=True,
        counted=False,
        max_claims=settings.max_attempts + settings.max_interruptions,
    )


def worker_is_gone(name: str) -> bool:
    """Whether the worker process `host:pid` is known to be dead: it ran on this host and
    its pid is no longer alive. A worker of another host is never known dead here (its lease
    tells); a pid taken again by another process only delays recovery until the lease ends."""
    host, _, pid = name.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not pid_alive(int(pid))


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except OSError:
        return not status.parent.parent.is_dir()  # No /proc: trust the signal.


# ---------------------------------------------------------------------------------------------
# Worker processes


def lease_seconds(settings: Settings) -> float:
    """How long a claim holds without a heartbeat from its worker (the watcher renews it five
    times as often)."""
    return max(settings.lease_seconds, 10 * settings.poll_seconds)


class WorkerPool:
    """`settings.workers` spawned processes, each working on one job at a time; a supervisor
    thread replaces a process that dies and queues its job again."""

    def __init__(self, open_store: StoreFactory, settings: Settings, store: JobStore) -> None:
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
        # The workers are no daemons: end them before multiprocessing would wait for them.
        atexit.register(self.stop)

    def _spawn(self) -> None:
        self._counter += 1
        process = self.context.Process(
            target=work,
            args=(self.open_store, self.settings, os.getpid()),
            name=f"allocator-worker-{self._counter}",
            # Not a daemon: a scenario set's sweep starts processes of its own. The workers
            # end with the server all the same (see `_watch`), and `stop` ends them.
            daemon=False,
        )
        process.start()
        self.processes[worker_name(process.pid or 0)] = process

    def _supervise(self) -> None:
        ticks = 0
        every = max(1, round(lease_seconds(self.settings) / 3))
        while not self._stopping.wait(1.0):
            ticks += 1
            if ticks % every == 0:  # Jobs of servers that died elsewhere, leases run out.
                self._requeue([], expired=True)
            dead = [name for name, p in self.processes.items() if not p.is_alive()]
            if not dead or self._stopping.is_set():
                continue
            for name in dead:
                self.processes.pop(name)
            again = self._requeue(dead)
            others = {k.label: v for k, v in again.items() if v and k is not JobKind.RUN}
            log.warning(
                "worker processes %s died; runs queued again: %s%s",
                dead,
                again.get(JobKind.RUN, []),
                f"; other jobs: {others}" if others else "",
            )
            for _ in dead:
                self._spawn()

    def _requeue(self, workers: list[str], expired: bool = False) -> dict[JobKind, list[int]]:
        try:
            if expired:
                again = requeue_interrupted(self.store, self.settings, workers)
            else:  # Workers that died under a live server: the attempt counts.
                again = self.store.requeue_jobs(workers, self.settings.max_attempts)
        except Exception:  # The store being down must not end supervision.
            log.exception("could not queue again the jobs of workers %s", workers)
            return {}
        if expired and any(again.values()):
            log.warning("jobs whose lease expired, queued again: %s", again)
        return again

    def stop(self) -> None:
        self._stopping.set()
        atexit.unregister(self.stop)
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        self.processes.clear()


def run_worker_host(open_store: StoreFactory, settings: Settings, stop: threading.Event) -> None:
    """`allocator worker`: a process with no HTTP that recovers the jobs its host's dead
    workers left, then runs `settings.workers` worker processes (replaced when they die) until
    `stop` is set. Any number of these, on any machines, share one database's queue."""
    store = open_store()
    try:
        JobService(store, settings).recover()
        pool = WorkerPool(open_store, settings, store)
        pool.start()
        try:
            stop.wait()
        finally:
            pool.stop()
    finally:
        store.close()


def worker_name(pid: int) -> str:
    """How jobs name the worker process working on them: `host:pid`."""
    return f"{socket.gethostname()}:{pid}"


def work(open_store: StoreFactory, settings: Settings, parent_pid: int) -> None:
    """A worker process's life: claim the oldest queued job, work on it, repeat; end with the
    parent (at once, whatever the worker is doing: `die_with_parent`)."""
    die_with_parent(parent_pid, settings.poll_seconds)
    cap_memory(settings.worker_memory_mb)  # One job cannot take the machine down.
    name = worker_name(os.getpid())
    lower_priority(settings.worker_niceness)
    store = open_store()
    try:
        while os.getppid() == parent_pid:
            if not process_next(store, settings, name, parent_pid):
                time.sleep(settings.poll_seconds)
    finally:
        store.close()


def process_next(
    store: JobStore, settings: Settings, name: str, parent_pid: int | None = None
) -> bool:
    """Claim the oldest queued job (interactive kinds first) and work on it here; False when
    nothing waits. Worker processes loop on this; tests call it to work in-process."""
    if not store.has_queued():  # A read first: claiming takes the write lock.
        return False
    job = store.claim_job(name, lease_seconds(settings))
    if job is None:
        return False
    execute(store, job, settings, name, parent_pid)
    return True


def lower_priority(niceness: int) -> None:
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
    """Carries progress from the handler's threads to the watcher, and the stop request back."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.done = threading.Event()
        self.latest: JobProgress | None = None
        self.trail: list[tuple[float, float | None, float | None]] = []
        self._stride = 1
        self._held = 0
        self._lock = threading.Lock()

    def note(self, progress: JobProgress) -> None:
        """The handler's latest progress, with the trail of objective and bound so far: each
        change is a point while there is room; beyond `TRAIL_POINTS` every other point goes
        and from then on only every `stride`-th change stays (the latest is always the last
        point), so the trail stays even over the whole search."""
        with self._lock:
            if progress.seconds is not None and (
                progress.best_objective is not None or progress.best_bound is not None
            ):
                point = (round(progress.seconds, 3), progress.best_objective, progress.best_bound)
                if not self.trail:
                    self.trail.append(point)
                elif self.trail[-1][1:] != point[1:]:
                    if self._held + 1 < self._stride and len(self.trail) > 1:
                        self.trail[-1] = point  # Between two kept points: the latest only.
                        self._held += 1
                    else:
                        self.trail.append(point)
                        self._held = 0
                if len(self.trail) > TRAIL_POINTS:  # Every other point, the last one kept.
                    self.trail = [*self.trail[:-1:2], self.trail[-1]]
                    self._stride *= 2
            if self.trail:
                progress = progress.model_copy(update={"trail": list(self.trail)})
            self.latest = progress


def execute(
    store: JobStore, job: JobState, settings: Settings, name: str, parent_pid: int | None
) -> None:
    """Work on one claimed job and record how it ended. Never raises for the job's own
    errors: they end the job `failed` with the error recorded."""
    spec = spec_of(job.kind)
    started = time.perf_counter()
    watch = _Watch()

    def on_progress(raw: Any) -> None:
        watch.note(spec.progress(raw))

    watcher = threading.Thread(
        target=_watch, args=(store, job, settings, watch, parent_pid), daemon=True
    )
    watcher.start()
    outcome: Any = None
    error: str | None = None
    try:
        if store.job_cancel_requested(job.kind, job.id, job.lease):
            watch.stop.set()  # Cancelled between its claim and now.
        inputs = spec.load(store, job, settings)
        if settings.ray_address:  # On the Ray cluster; all the rest stays here.
            from allocator.service.remote import ray_runner

            runner = ray_runner(settings.ray_address, settings.worker_niceness)
            outcome = runner.run(job.kind, inputs, on_progress, watch.stop)
        else:
            outcome = spec.handler(inputs, on_progress, watch.stop)
    except Exception as failure:
        log.error("%s failed:\n%s", job.label, traceback.format_exc())
        error = failure_text(failure)
    watch.done.set()
    watcher.join()
    if watch.latest is not None:  # The last word, which the watcher may have held back.
        with contextlib.suppress(Exception):
            store.save_job_progress(
                job.kind, job.id, job.lease, watch.latest, lease_seconds(settings)
            )
    timing = {
        "worker": name,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": now().isoformat(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    ending = spec.ending(job, outcome, error, watch.stop.is_set(), timing)
    if not store.finish_job(job.kind, job.id, job.lease, ending, name):
        log.warning(
            "%s was no longer held by lease %d: its result is not written", job.label, job.lease
        )


def _watch(
    store: JobStore, job: JobState, settings: Settings, watch: _Watch, parent_pid: int | None
) -> None:
    """Beside a handler: end the process with its parent, write progress and renew the
    lease (the heartbeat), pass on a cancel or a lost lease as a stop."""
    written: JobProgress | None = None
    last_write = time.monotonic()
    lease = lease_seconds(settings)
    while not watch.done.wait(settings.poll_seconds):
        if parent_pid is not None and os.getppid() != parent_pid:
            os._exit(70)  # The server died: its successor queues this job again.
        try:
            if not watch.stop.is_set() and store.job_cancel_requested(job.kind, job.id, job.lease):
                watch.stop.set()
            progress = watch.latest
            since = time.monotonic() - last_write
            fresh = progress is not None and progress is not written
            if (fresh and since >= settings.progress_seconds) or since >= lease / 5:
                held = store.save_job_progress(
                    job.kind, job.id, job.lease, progress if fresh else None, lease
                )
                written, last_write = progress, time.monotonic()
                if not held:  # Handed to another worker: stop; nothing more is written.
                    watch.stop.set()
        except Exception:  # A busy database must not stop the work; try again next tick.
            log.exception("progress of %s not written", job.label)


def not_found(kind: JobKind, number: int) -> NotFoundError:
    return NotFoundError(f"{kind.label} {number} does not exist")
