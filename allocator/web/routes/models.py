"""The API's input and output models: what goes over the wire, every field described.

Input models carry raw portfolio data (validated by the core, so that messages name the
record, field and value); their OpenAPI schema points at the domain's `Portfolio`, `Policy`,
`Pin` and `Forbid`. Output models are built from the service's records. No logic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from allocator.model import Allocation, Portfolio
from allocator.service.ledger import Verdict
from allocator.service.runs import PortfolioEntry, RunState, RunStatus

MAX_ID = 2**53 - 1
"""Ids are integers below 2^53, so that every JSON client reads them exactly."""
WEEK_PATTERN = r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$"


def _ref(name: str, description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"allOf": [{"$ref": f"#/components/schemas/{name}"}], "description": description}
    )


PortfolioDocument = Annotated[
    dict[str, Any], _ref("Portfolio", "A whole portfolio document (see Portfolio).")
]
PolicyOverrides = Annotated[
    dict[str, Any], _ref("Policy", "Policy fields to change; the others keep their values.")
]
PinDocument = Annotated[dict[str, Any], _ref("Pin", "An assignment that must hold.")]
ForbidDocument = Annotated[dict[str, Any], _ref("Forbid", "An assignment that must not hold.")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # `"seed": true` is no number.


class RunIn(_In):
    """A run to queue: one portfolio (stored or inline) and how to solve it."""

    portfolio_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="A stored portfolio (from POST /v1/portfolios)."
    )
    portfolio: PortfolioDocument | None = Field(
        None, description="A portfolio given inline instead of portfolio_id."
    )
    policy: PolicyOverrides = Field(
        default_factory=dict,
        description='Policy overrides for this run, e.g. {"continuity_penalty": 50}.',
    )
    pins: list[PinDocument] = Field(
        default_factory=list, max_length=10_000, description="Pins added to the portfolio's."
    )
    forbids: list[ForbidDocument] = Field(
        default_factory=list, max_length=10_000, description="Forbids added to the portfolio's."
    )
    previous_run_id: int | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="A finished run whose assignments count as `previous` (continuity); they "
        "replace the portfolio's own previous assignments.",
    )
    time_limit: float | None = Field(
        None,
        gt=0,
        le=86_400,
        description="Seconds of search; capped by the server's ALLOCATOR_MAX_TIME_LIMIT. "
        "Default: ALLOCATOR_DEFAULT_TIME_LIMIT.",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Random seed of the search.")
    week: str | None = Field(
        None,
        pattern=WEEK_PATTERN,
        description="ISO week the run plans, like 2026-W49; default the week of submission.",
    )
    apply_actuals: bool = Field(
        False,
        description="Take the recorded actuals in before solving (needs portfolio_id): for the "
        "week before the run starts (the portfolio's horizon_start, else `week`), hours spent "
        "beyond the plan of the portfolio's earlier runs count as committed, and assignments "
        "with hours spent become the previous assignments; what changed is recorded with the "
        "run's inputs (`overrides.apply_actuals`).",
    )


class Problem(BaseModel):
    """One thing wrong with a request."""

    where: str = Field(description="The record: `$.demands[3]`, `demands.csv row 14`, `query`.")
    field: str = Field(description="The field or column; empty for the whole record.")
    message: str = Field(description="What must hold, in words.")
    value: Any = Field(None, description="The offending value, when there is one.")
    text: str = Field(description="All of it in one line, as the command line prints it.")


class ErrorOut(BaseModel):
    """The body of every error answer."""

    detail: str = Field(description="What went wrong, in one line.")
    problems: list[Problem] = Field(
        default_factory=list, description="For invalid input (422): every problem found."
    )
    request_id: str | None = Field(
        None, description="For an internal error (500): the id its trace is logged under."
    )


class PortfolioSummary(BaseModel):
    """A stored portfolio: its id and what it holds."""

    id: int = Field(description="Portfolio id, for POST /v1/runs.")
    name: str = Field(description="The portfolio's name.")
    engineers: int = Field(description="Number of engineers.")
    opportunities: int = Field(description="Number of opportunities.")
    demands: int = Field(description="Number of demands, written or derived from templates.")
    sha256: str = Field(description="SHA-256 of the stored canonical JSON document.")
    created_by: str = Field(description="Name of the API key that uploaded it.")
    created_at: datetime = Field(description="When it was stored (UTC).")

    @classmethod
    def of(cls, entry: PortfolioEntry) -> PortfolioSummary:
        return cls(**entry.__dict__)


class PortfolioOut(PortfolioSummary):
    """A stored portfolio with its whole document."""

    portfolio: Portfolio = Field(description="The validated portfolio document.")


class ProgressOut(BaseModel):
    """How far a running solve has come."""

    best_objective: float = Field(description="Objective of the best allocation so far, points.")
    best_bound: float | None = Field(
        description="Best proven upper bound so far, points; null until one is proven."
    )
    gap: float | None = Field(
        description="(bound - objective) / max(1, |bound|); null until a bound is proven."
    )
    seconds: float = Field(description="Seconds of search when this was reported.")


class TimingsOut(BaseModel):
    """When the run was submitted, started and ended, and how long each phase took."""

    submitted_at: datetime = Field(description="When the run was accepted (UTC).")
    started_at: datetime | None = Field(description="When its current attempt started.")
    finished_at: datetime | None = Field(description="When it ended.")
    queued_seconds: float | None = Field(description="Seconds from acceptance to start.")
    running_seconds: float | None = Field(description="Seconds from start to end (or now).")


class OutcomeOut(BaseModel):
    """How an ended run came out."""

    solve_status: str | None = Field(description="The solver's status: optimal, feasible, ...")
    objective: float | None = Field(description="Objective of the allocation, points.")
    message: str = Field(description="The solver's or the service's message.")


class RunOut(BaseModel):
    """A run: its inputs in brief, where it is, and how it is doing."""

    id: int = Field(description="Run id.")
    status: RunStatus = Field(description="queued, running, done, failed or cancelled.")
    week: str = Field(description="ISO week the run plans.")
    submitted_by: str = Field(description="Name of the API key that submitted it.")
    portfolio_id: int | None = Field(description="The stored portfolio; null when inline.")
    portfolio_name: str = Field(description="Name of the portfolio solved.")
    previous_run_id: int | None = Field(description="The run whose assignments were previous.")
    time_limit: float = Field(description="Seconds of search granted (after the server cap).")
    seed: int = Field(description="Random seed of the search.")
    attempt: int = Field(description="Attempts started; more than 1 after a worker died.")
    cancel_requested: bool = Field(description="A cancel was asked for.")
    progress: ProgressOut | None = Field(description="While running: the best so far.")
    timings: TimingsOut = Field(description="Times of the run.")
    outcome: OutcomeOut | None = Field(description="Once ended: the solver's verdict.")

    @classmethod
    def of(cls, run: RunState, now: datetime) -> RunOut:
        progress = None
        if run.best_objective is not None:
            progress = ProgressOut(
                best_objective=run.best_objective,
                best_bound=run.best_bound,
                gap=run.gap,
                seconds=run.progress_seconds or 0.0,
            )
        started = run.started_at
        ended = run.finished_at
        timings = TimingsOut(
            submitted_at=run.submitted_at,
            started_at=started,
            finished_at=ended,
            queued_seconds=None if started is None else _seconds(run.submitted_at, started),
            running_seconds=None if started is None else _seconds(started, ended or now),
        )
        outcome = None
        if run.status.ended:
            outcome = OutcomeOut(
                solve_status=run.solve_status, objective=run.objective, message=run.message
            )
        return cls(
            id=run.id,
            status=run.status,
            week=run.week,
            submitted_by=run.submitted_by,
            portfolio_id=run.portfolio_id,
            portfolio_name=run.portfolio_name,
            previous_run_id=run.previous_run_id,
            time_limit=run.time_limit,
            seed=run.seed,
            attempt=run.attempt,
            cancel_requested=run.cancel_requested,
            progress=progress if run.status is RunStatus.RUNNING else None,
            timings=timings,
            outcome=outcome,
        )


def _seconds(start: datetime, end: datetime) -> float:
    return round(max(0.0, (end - start).total_seconds()), 3)


class RunPage(BaseModel):
    """One page of runs, newest first."""

    items: list[RunOut] = Field(description="The runs of this page.")
    total: int = Field(description="Runs matching the filters, on all pages.")
    limit: int = Field(description="Page size asked for.")
    offset: int = Field(description="Runs skipped before this page.")


class ResultOut(BaseModel):
    """A run's allocation, as stored in the audit log when the run ended."""

    run: RunOut = Field(description="The run.")
    allocation: Allocation = Field(description="Status, objective, terms and assignments.")


class RunInputsOut(BaseModel):
    """Everything that went into a run, as recorded in the audit log when it was accepted."""

    run_id: int = Field(description="Run id.")
    inputs: dict[str, Any] = Field(
        description="Portfolio snapshot, policy, overrides, parameters, versions, git "
        "revision, who submitted it and when."
    )


class BadRecord(BaseModel):
    """The first audit record that does not match the chain."""

    seq: int = Field(description="Sequence number of the record.")
    kind: str = Field(description="portfolio, run_accepted or run_finished.")
    subject_id: int = Field(description="The portfolio or run id the record is about.")
    recorded_at: str = Field(description="When it was recorded, as stored.")
    reason: str = Field(description="What does not match.")


class AuditOut(BaseModel):
    """The outcome of recomputing the audit chain."""

    ok: bool = Field(description="Every record matches its hash and links to the one before.")
    records: int = Field(description="Records checked.")
    head_sha256: str = Field(description="Hash of the last record that matched.")
    first_bad: BadRecord | None = Field(description="The first record that does not match.")
    message: str = Field(description="The verdict in one line.")

    @classmethod
    def of(cls, verdict: Verdict) -> AuditOut:
        bad = None
        message = f"All {verdict.records} records match; the chain is intact."
        if verdict.first_bad is not None:
            record = verdict.first_bad
            bad = BadRecord(
                seq=record.seq,
                kind=record.kind,
                subject_id=record.subject_id,
                recorded_at=record.recorded_at,
                reason=verdict.reason,
            )
            message = (
                f"Record {record.seq} ({record.kind} of {record.subject_id}) does not match: "
                f"{verdict.reason}."
            )
        elif not verdict.ok:
            message = verdict.reason
        return cls(
            ok=verdict.ok,
            records=verdict.records,
            head_sha256=verdict.head_sha256,
            first_bad=bad,
            message=message,
        )


class HealthOut(BaseModel):
    """The server answers and its database too."""

    status: str = Field(description="`ok`.")
    version: str = Field(description="Version of the allocator package.")
    queued: int = Field(description="Runs waiting for a worker.")
    workers: int = Field(description="Solver worker processes configured.")
