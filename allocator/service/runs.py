"""Runs: portfolios in, runs queued and solved by the job workers, results out.

Orchestration, no formats and no SQL: a run is a job of kind `run` (`jobs.py` holds the queue,
the workers and recovery shared with every kind); storage goes through the `JobStore`
protocol (implemented by `store.Store`), solving through the pure handler
`allocator.solve.job.solve_job`. This module adds what is particular to runs:

- `RunService.submit` validates a run's inputs into one portfolio snapshot (stored portfolio
  or inline one, policy overrides, pins, forbids, the previous run's assignments, and when the
  request carries a `feed` the recorded actuals taken in by `insight.feedback.feed_actuals`),
  caps its time limit and records it as `queued` with its `run_accepted` record (`RunAccepted`,
  typed; what the actuals changed is under its overrides' `apply_actuals`); a full queue
  raises `QueueFullError`.
- `RunState`, the routers' view of a run job; `RunAccepted` and `RunFinished`, the typed
  ledger records, read typed everywhere.
- `SPEC`: how a worker loads a run's inputs, reports its progress and records its end.
- The service's life cycle (recovery of every kind, the one worker pool), keys and portfolios.

Imports the domain, `jobs`, `keys`, `ledger` and `settings`; the solver only inside a worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from pydantic import BaseModel

from allocator import __version__
from allocator.errors import InputIssue, InvalidInputError, NotFoundError
from allocator.io.comparison import Comparison
from allocator.model import (
    Allocation,
    Portfolio,
    PreviousAssignment,
    build_portfolio,
    json_location,
)
from allocator.service import checkpoints
from allocator.service.admission import (
    check_active_jobs,
    check_portfolio,
    check_raw_portfolio,
    check_upload_quota,
)
from allocator.service.jobs import (
    Accepted,
    ConflictError,
    Ending,
    Finished,
    JobFilter,
    JobKind,
    JobKindSpec,
    JobProgress,
    JobService,
    JobState,
    JobStatus,
    JobStore,
    NewJob,
    QueueFullError,
    StoreFactory,
    WorkerPool,
    execute,
    finished_fields,
)
from allocator.service.keys import AuthenticationError, KeyEntry, Principal, Role, hash_key
from allocator.service.ledger import Checkpoint, Verdict, canonical
from allocator.service.portfolios import PortfolioEntry
from allocator.service.seals import SealMismatchError
from allocator.service.settings import Settings

if TYPE_CHECKING:  # Only a type: importing insight would load pandas into the store.
    from allocator.insight.feedback import FedPortfolio

log = logging.getLogger("allocator.runs")

RunStatus = JobStatus
"""A run's statuses are the jobs' (queued, running, done, failed, cancelled)."""


class RunSummary(BaseModel):
    """What is known of a run when it is accepted (kept on its job for lists and views)."""

    week: str
    portfolio_id: int | None
    portfolio_name: str
    previous_run_id: int | None
    time_limit: float
    seed: int


@dataclass(frozen=True)
class RunState:
    """A run job as the routers show it: status, attempt, progress and, once ended, a summary."""

    id: int
    status: JobStatus
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
    trail: tuple[tuple[float, float | None, float | None], ...] = ()
    """(seconds, best objective, best bound) as the solve went: the progress curve."""

    @classmethod
    def of(cls, job: JobState) -> RunState:
        summary = RunSummary.model_validate(job.summary)
        return cls(
            id=job.id,
            status=job.status,
            week=summary.week,
            submitted_by=job.submitted_by,
            submitted_at=job.submitted_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            portfolio_id=summary.portfolio_id,
            portfolio_name=summary.portfolio_name,
            previous_run_id=summary.previous_run_id,
            time_limit=summary.time_limit,
            seed=summary.seed,
            attempt=job.attempt,
            cancel_requested=job.cancel_requested,
            best_objective=job.progress.best_objective,
            best_bound=job.progress.best_bound,
            gap=job.progress.gap,
            progress_seconds=job.progress.seconds,
            solve_status=job.result_status,
            objective=job.objective,
            message=job.message,
            trail=tuple(job.progress.trail or ()),
        )


class RunParameters(BaseModel):
    """How a run is solved, as granted when it was accepted."""

    time_limit: float
    requested_time_limit: float
    seed: int
    solver_threads: int
    reproducible: bool = True


class RunAccepted(Accepted):
    """The `run_accepted` ledger record: everything that went into the run."""

    run_id: int
    portfolio_id: int | None
    portfolio: Portfolio
    """The snapshot solved: overrides, pins, forbids and previous assignments applied."""
    policy: dict[str, Any]
    overrides: dict[str, Any]
    previous_run_id: int | None
    parameters: RunParameters
    week: str
    git_revision: str = "unknown"


class RunFinished(Finished):
    """The `run_finished` ledger record: how the run ended, with its allocation if any."""

    run_id: int
    run_seconds: float | None = None
    result: Allocation | None = None
    comparison: Comparison | None = None
    """The run's figures next to the baselines' on its snapshot, worked out by the worker
    (None for runs without a result, cancelled ones, and those finished before it was kept)."""


@dataclass(frozen=True)
class RunFilter:
    status: JobStatus | None = None
    week: str | None = None
    submitted_by: str | None = None
    portfolio_id: int | None = None
    team: str | None = None
    """Only this team's runs; None: every team's (auditors)."""


Feeder: TypeAlias = Callable[[Portfolio, str], "FedPortfolio"]
"""(snapshot, ISO week the run starts) -> the snapshot with the recorded actuals taken in."""


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
    validated: Portfolio | None = None
    """The stored portfolio `portfolio_id`, already validated and within the size limits by
    the caller that just stored it (`add_portfolio`): solved as is, not read and validated
    again. Only without overrides."""
    feed: Feeder | None = None
    """Apply the recorded actuals (`apply_actuals`): the caller that knows where they are
    stored gives the feeder; the run starts in the portfolio's horizon start, else its week.
    Needs a stored portfolio (its earlier runs are the plan the actuals are read against)."""


class RunStore(JobStore, Protocol):
    """What the service needs from storage beyond the queue; `store.Store` implements it."""

    def add_portfolio(
        self, entry: PortfolioEntry, content: dict[str, Any], text: str | None = None
    ) -> PortfolioEntry: ...
    def get_portfolio(self, portfolio_id: int) -> PortfolioEntry: ...
    def uploaded_bytes(self, actor: str) -> int: ...
    def head(self) -> tuple[int, str]: ...


def iso_week(moment: datetime) -> str:
    """`2026-W48`: the ISO week a run is filed under unless it names one."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def provenance() -> dict[str, str]:
    """Versions of what solves, and the git revision of the code, recorded with every run."""
    versions = {
        "allocator": __version__,
        "solver": _solver_version(),
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


def _solver_version() -> str:
    """OR-Tools' version, read from its package metadata (the server imports no solver)."""
    try:
        return package_metadata.version("ortools")
    except package_metadata.PackageNotFoundError:
        return "unknown"


def _now() -> datetime:
    return datetime.now(UTC)


class RunService:
    """Portfolios, runs, results, the audit check and API keys, over one store; and the life
    cycle of the job workers every kind shares.

    >>> service = RunService(store, Settings(), open_store)  # doctest: +SKIP
    >>> service.start()  # recover jobs a dead server left, spawn the workers  # doctest: +SKIP
    """

    def __init__(
        self, store: RunStore, settings: Settings, open_store: StoreFactory | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.open_store = open_store
        self.jobs = JobService(store, settings)
        self.versions = provenance()
        self._known_keys: dict[str, tuple[Principal, float]] = {}
        self._pool: WorkerPool | None = None

    # -----------------------------------------------------------------------------------------
    # Life cycle

    def start(self) -> list[int]:
        """Queue again the jobs of every kind a dead server left running, then start the
        worker processes. Returns the numbers of the runs queued again."""
        recovered = self.jobs.recover()
        if self.settings.workers and self.open_store is not None:
            self._pool = WorkerPool(self.open_store, self.settings, self.store)
            self._pool.start()
        return recovered.get(JobKind.RUN, [])

    def stop(self) -> None:
        """Stop the worker processes; their jobs stay `running` and are queued again at the
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
        try:
            entry = self.store.find_key(digest)
        except SealMismatchError as mismatch:
            log.error("refused a key: %s", mismatch)
            raise AuthenticationError(
                "the API key's stored role or team does not match its sealed record; ask an "
                "administrator to run `allocator audit verify`"
            ) from None
        if entry is None:
            raise AuthenticationError("the API key is not known or was revoked")
        principal = Principal(entry.name, entry.role, entry.team)
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
        check_size(portfolio, self.settings, "$")
        content = portfolio.model_dump(mode="json")
        text = canonical(content)  # Once: the quota counts it, the ledger seals it.
        check_upload_quota(self.store, principal.name, len(text), self.settings)
        entry = PortfolioEntry(
            id=0,
            name=portfolio.name,
            engineers=len(portfolio.engineers),
            opportunities=len(portfolio.opportunities),
            demands=len(portfolio.demands),
            sha256="",
            created_by=principal.name,
            created_at=_now(),
            team=principal.team,
        )
        return self.store.add_portfolio(entry, content, text)

    def portfolio_scoped(self, portfolio_id: int, principal: Principal) -> PortfolioEntry:
        """The portfolio's summary, if `principal`'s team may see it (NotFoundError if not:
        another team's portfolio is not told to exist)."""
        entry = self.store.get_portfolio(portfolio_id)
        if not principal.sees(entry.team):
            raise NotFoundError(f"portfolio {portfolio_id} does not exist")
        return entry

    def get_portfolio(self, portfolio_id: int) -> tuple[PortfolioEntry, Portfolio]:
        entry = self.store.get_portfolio(portfolio_id)
        return entry, build_portfolio(self.store.portfolio_content(portfolio_id))

    # -----------------------------------------------------------------------------------------
    # Runs

    def submit(self, request: RunRequest, principal: Principal) -> RunState:
        """Validate and queue a run; raises InvalidInputError, NotFoundError, QueueFullError."""
        portfolio, portfolio_id = self._snapshot(request, principal)
        requested = request.time_limit or self.settings.default_time_limit
        time_limit = min(requested, self.settings.max_time_limit)
        submitted_at = _now()
        week = request.week or iso_week(submitted_at)
        applied: dict[str, Any] = {}
        if request.feed is not None:
            if portfolio_id is None:
                message = "needs portfolio_id: actuals are read against its earlier runs' plans"
                raise InvalidInputError([InputIssue("$", "apply_actuals", message, True)])
            fed = request.feed(portfolio, portfolio.horizon_start or week)
            portfolio = fed.portfolio
            applied = {"apply_actuals": fed.model_dump(mode="json", exclude={"portfolio"})}
        parameters = RunParameters(
            time_limit=time_limit,
            requested_time_limit=requested,
            seed=request.seed,
            solver_threads=self.settings.solver_threads,
            reproducible=True,
        )

        def accepted(number: int) -> dict[str, Any]:
            # Constructed, not validated: every field is typed here, and validating would run
            # the portfolio's own checks again (0.4 s at L, inside the store's write lock).
            record = RunAccepted.model_construct(
                run_id=number,
                portfolio_id=portfolio_id,
                portfolio=portfolio,
                policy=portfolio.policy.model_dump(mode="json"),
                overrides={
                    "policy": dict(request.policy),
                    "pins": list(request.pins),
                    "forbids": list(request.forbids),
                    **applied,
                },
                previous_run_id=request.previous_run_id,
                parameters=parameters,
                week=week,
                submitted_by=principal.name,
                submitted_role=principal.role.value,
                submitted_at=submitted_at.isoformat(),
                versions=self.versions,
                git_revision=self.versions["git_revision"],
            )
            return record.model_dump(mode="json")

        summary = RunSummary(
            week=week,
            portfolio_id=portfolio_id,
            portfolio_name=portfolio.name,
            previous_run_id=request.previous_run_id,
            time_limit=time_limit,
            seed=request.seed,
        )
        job = NewJob(
            kind=JobKind.RUN,
            submitted_by=principal.name,
            submitted_at=submitted_at,
            time_limit=time_limit,
            summary=summary.model_dump(mode="json"),
            week=week,
            portfolio_id=portfolio_id,
            team=principal.team,
        )
        workers = max(1, self.settings.workers)
        check_active_jobs(self.store, principal.name, self.settings)
        state = self.jobs.submit(
            job, accepted, self.settings.queue_size, lambda waiting: sum(waiting) / workers
        )
        return RunState.of(state)

    def _snapshot(self, request: RunRequest, principal: Principal) -> tuple[Portfolio, int | None]:
        """The one portfolio the run solves: base + overrides + previous run's assignments.
        Another team's portfolio is unknown; continuing another team's run is refused."""
        if (request.portfolio_id is None) == (request.portfolio is None):
            raise InvalidInputError(
                [InputIssue("$", "portfolio_id", "give either portfolio_id or portfolio")]
            )
        if request.validated is not None:
            overridden = request.policy or request.pins or request.forbids
            if request.portfolio_id is None or overridden:
                raise ValueError("a validated snapshot is a stored portfolio without overrides")
            self.portfolio_scoped(request.portfolio_id, principal)
            return self._continued(request, request.validated, principal), request.portfolio_id
        if request.portfolio_id is not None:
            try:
                self.portfolio_scoped(request.portfolio_id, principal)
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
            if "value_unit" in request.policy:  # Set by this request: it wins.
                source = request.policy.get("value_unit_source", "set")
                data["policy"]["value_unit_source"] = source

        def locate(loc: tuple[str | int, ...]) -> str:
            kind = loc[0] if loc else ""
            index = loc[1] if len(loc) >= 2 else None
            if kind in counts and isinstance(index, int) and index >= counts[kind]:
                return json_location((kind, index - counts[kind], *loc[2:]))
            if kind == "policy" and request.policy:
                return json_location(loc)
            return json_location((*prefix, *loc))

        check_raw_portfolio(data, self.settings, json_location(prefix))
        portfolio = build_portfolio(data, locate)
        check_size(portfolio, self.settings, json_location(prefix))
        return self._continued(request, portfolio, principal), request.portfolio_id

    def _continued(
        self, request: RunRequest, portfolio: Portfolio, principal: Principal
    ) -> Portfolio:
        """`portfolio` with the previous run's assignments, when the request continues one."""
        if request.previous_run_id is None:
            return portfolio
        with contextlib.suppress(NotFoundError):  # Unknown: `_previous` says so.
            self.jobs.scoped(JobKind.RUN, request.previous_run_id, principal, acting=True)
        return portfolio.model_copy(
            update={"previous": self._previous(request.previous_run_id, portfolio)}
        )

    def _previous(self, run_id: int, portfolio: Portfolio) -> tuple[PreviousAssignment, ...]:
        """The previous run's assignments that still make sense in `portfolio`."""

        def problem(message: str) -> InvalidInputError:
            return InvalidInputError([InputIssue("$", "previous_run_id", message, run_id)])

        try:
            outcome = self.store.job_outcome(JobKind.RUN, run_id)
        except NotFoundError:
            raise problem("unknown run") from None
        result = None if outcome is None else RunFinished.model_validate(outcome).result
        if result is None:
            raise problem("names a run without a result")
        engineers = {e.id for e in portfolio.engineers}
        opportunities = {o.id for o in portfolio.opportunities}
        demands = portfolio.demand_by_id()
        kept = []
        for assignment in result.assignments:
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

    def get_run(self, run_id: int, principal: Principal | None = None) -> RunState:
        """The run (another team's is NotFoundError when `principal` is given)."""
        return RunState.of(self.jobs.get(JobKind.RUN, run_id, principal))

    def list_runs(
        self, where: RunFilter, limit: int = 50, offset: int = 0
    ) -> tuple[list[RunState], int]:
        found = JobFilter(
            JobKind.RUN,
            where.status,
            where.week,
            where.submitted_by,
            where.portfolio_id,
            where.team,
        )
        jobs, total = self.jobs.find(found, limit, offset)
        return [RunState.of(job) for job in jobs], total

    def inputs(self, run_id: int) -> dict[str, Any]:
        """Everything that went into the run, as recorded in the ledger."""
        return self.jobs.accepted(JobKind.RUN, run_id)

    def accepted(self, run_id: int) -> RunAccepted:
        """The run's accepted record, typed."""
        return RunAccepted.model_validate(self.inputs(run_id))

    def result(self, run_id: int) -> tuple[RunState, Allocation]:
        """The run's allocation; ConflictError while it has none (queued, running, failed)."""
        state, finished = self._finished(run_id)
        assert finished.result is not None
        return state, finished.result

    def comparison(self, run_id: int) -> Comparison | None:
        """The finished run's figures next to its baselines', as its worker recorded them;
        None when they were not worked out (a cancelled run, one finished before they were
        kept); ConflictError while the run has no result."""
        return self._finished(run_id)[1].comparison

    def _finished(self, run_id: int) -> tuple[RunState, RunFinished]:
        """The run and its finished record; ConflictError unless it has a result."""
        job, outcome = self.jobs.finished(JobKind.RUN, run_id)
        state = RunState.of(job)
        finished = RunFinished.model_validate(outcome)
        if finished.result is None:
            reason = finished.error or state.message or "it ended without one"
            raise ConflictError(f"run {run_id} is {state.status.value} without a result: {reason}")
        return state, finished

    def cancel(self, run_id: int, principal: Principal) -> RunState:
        """Cancel a queued run at once, or stop a running one keeping its best allocation."""
        return RunState.of(self.jobs.cancel(JobKind.RUN, run_id, principal.name))

    def verify_audit(self, checkpoint_path: Path | None = None) -> Verdict:
        """The chain, checked against the checkpoints file (`settings.checkpoint_path`), and
        every row against its sealed records."""
        path = checkpoint_path or Path(self.settings.checkpoint_path)
        return self.store.verify_ledger(checkpoints.read(path))

    def checkpoint(self, path: Path | None = None) -> Checkpoint:
        """Append the chain's head, with the time, to the checkpoints file; returns it."""
        seq, sha = self.store.head()
        mark = Checkpoint(at=_now().isoformat(), seq=seq, sha256=sha)
        checkpoints.append(path or Path(self.settings.checkpoint_path), mark)
        return mark


def check_size(portfolio: Portfolio, settings: Settings, where: str) -> None:
    """InvalidInputError when the portfolio is larger than this server accepts (engineers,
    opportunities, demands, candidate pairs, estimated memory) or its objective is too large
    to count exactly: see `admission`."""
    check_portfolio(portfolio, settings, where)


# ---------------------------------------------------------------------------------------------
# The run kind, for the workers


def _load(store: JobStore, job: JobState, settings: Settings) -> Any:
    from allocator.solve.job import SolveJob

    accepted = RunAccepted.model_validate(store.job_inputs(JobKind.RUN, job.id))
    parameters = accepted.parameters
    return SolveJob(
        portfolio=accepted.portfolio,
        time_limit=parameters.time_limit,
        workers=parameters.solver_threads,
        seed=parameters.seed,
        reproducible=parameters.reproducible,
    )


@dataclass(frozen=True)
class Solved:
    """A run handler's outcome: the allocation and, unless stopped, the baselines' figures."""

    allocation: Allocation
    comparison: Comparison | None


def _handle(inputs: Any, progress: Any, stop: threading.Event) -> Solved:
    from allocator.solve.job import compare_job, solve_job

    allocation = solve_job(inputs, progress, stop)
    try:
        compared = compare_job(inputs.portfolio, allocation, stop)
    except Exception:  # The figures beside the run must never cost the run its result.
        log.exception("the baselines of a run could not be worked out")
        compared = None
    return Solved(allocation, compared)


def _progress(raw: Any) -> JobProgress:
    """The solver's `Progress` (objective, bound, seconds) as the job's progress."""
    bound = raw.best_bound
    gap = None if bound is None else max(0.0, bound - raw.objective) / max(1.0, abs(bound))
    return JobProgress(best_objective=raw.objective, best_bound=bound, gap=gap, seconds=raw.seconds)


def _ending(
    job: JobState,
    solved: Solved | None,
    error: str | None,
    stopped: bool,
    timing: dict[str, Any],
) -> Ending:
    allocation = None if solved is None else solved.allocation
    if allocation is None:
        status = JobStatus.FAILED
    else:
        status = JobStatus.CANCELLED if stopped else JobStatus.DONE
    finished = RunFinished(
        run_id=job.id,
        run_seconds=timing["seconds"],
        result=allocation,
        comparison=None if solved is None or stopped else solved.comparison,
        **finished_fields(job, status, error, timing),
    )
    if allocation is None:
        return Ending(status, finished.model_dump(mode="json"), message=error or "")
    return Ending(
        status,
        finished.model_dump(mode="json"),
        result_status=allocation.status.value,
        objective=allocation.objective,
        message=allocation.message,
    )


SPEC: JobKindSpec[Any, Solved] = JobKindSpec(
    kind=JobKind.RUN, load=_load, handler=_handle, progress=_progress, ending=_ending
)


__all__ = [
    "ConflictError",
    "KeyEntry",
    "PortfolioEntry",
    "QueueFullError",
    "Role",
    "RunAccepted",
    "RunFilter",
    "RunFinished",
    "RunRequest",
    "RunService",
    "RunState",
    "RunStatus",
    "RunStore",
    "RunSummary",
    "execute",
]
