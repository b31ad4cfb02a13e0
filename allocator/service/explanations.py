"""Explanations that re-solve, as jobs: the API asks, a worker answers, the API waits.

An explanation of a finished run that needs a re-solve (the price of forcing an unstaffed
opportunity staffed and what it would take, a contrast with an unstaffed one, fairness
verified by a permuted re-solve) is a job of kind `explanation`: queued ahead of runs, worked
on by the same workers, answered by the pure handler `allocator.explain.job.explain_job`.
Its question and answer are kept on the job, not in the ledger: both are derived from the
run's audited records. Answers that need no re-solve stay synchronous views in the API.

Imports the domain, `jobs`, `runs` (the typed run records), `settings` and the explanation
handler (the API process imports the explanations' answer types anyway; it never calls the
handler).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from allocator.core.recent import Recent
from allocator.explain.job import ExplainJob, Question, explain_job
from allocator.model import Allocation, Portfolio
from allocator.service.admission import check_active_jobs
from allocator.service.jobs import (
    ConflictError,
    Ending,
    Finished,
    JobKind,
    JobKindSpec,
    JobProgress,
    JobService,
    JobState,
    JobStatus,
    JobStore,
    NewJob,
    finished_fields,
)
from allocator.service.keys import Principal
from allocator.service.runs import RunAccepted, RunFinished
from allocator.service.settings import Settings


class ExplanationAsked(BaseModel):
    """An explanation job's accepted record: the question about one finished run."""

    explanation_id: int = 0
    run_id: int
    question: Question
    asked_by: str = ""


class ExplanationAnswered(Finished):
    """An explanation job's finished record: the answer, in the field of its question."""

    explanation_id: int
    answer: dict[str, Any] | None = None


def wait_seconds(question: str, time_limit: float) -> float:
    """How long the API waits for an answer: a few re-solves (two opportunities for a
    contrast), plus a worker finishing what it is doing."""
    solves = 8 if question == "contrast" else 4
    return 60.0 + solves * time_limit


class ExplanationService:
    """Ask a question as a job and wait for its answer."""

    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.jobs = JobService(store, settings)

    def submit(self, asked: ExplanationAsked, principal: Principal) -> JobState:
        """Queue the question; another team's run is NotFoundError (not told to exist)."""
        self.jobs.scoped(JobKind.RUN, asked.run_id, principal)
        job = NewJob(
            kind=JobKind.EXPLANATION,
            submitted_by=principal.name,
            submitted_at=datetime.now(UTC),
            time_limit=asked.question.time_limit,
            summary={"run_id": asked.run_id, "question": asked.question.kind},
            team=principal.team,
        )

        def content(number: int) -> dict[str, Any]:
            record = asked.model_copy(update={"explanation_id": number, "asked_by": principal.name})
            return record.model_dump(mode="json")

        check_active_jobs(self.store, principal.name, self.settings)
        return self.jobs.submit(
            job, content, self.settings.queue_size, lambda waiting: sum(waiting)
        )

    def ask(
        self, asked: ExplanationAsked, principal: Principal, poll: float = 0.05
    ) -> dict[str, Any]:
        """The answer (the handler's outcome as JSON); ConflictError when this server has no
        workers, or none answered in time (the job is then cancelled)."""
        if not self.settings.workers:
            raise ConflictError(
                "this server has no workers to re-solve (ALLOCATOR_WORKERS=0); "
                "ask without the re-solve (price=false, verify=false)"
            )
        job = self.submit(asked, principal)
        waited = wait_seconds(asked.question.kind, asked.question.time_limit)
        deadline = time.monotonic() + waited
        while not job.status.ended:
            if time.monotonic() > deadline:
                self.jobs.cancel(JobKind.EXPLANATION, job.id, "server")
                raise ConflictError(
                    f"no worker answered within {waited:.0f} s (they may all be busy with "
                    "long runs); try again later"
                )
            time.sleep(poll)
            job = self.jobs.get(JobKind.EXPLANATION, job.id)
        return self.answer(job.id, asked.question.kind)

    def answer(self, number: int, question: str) -> dict[str, Any]:
        """The answer of an ended explanation job; ConflictError when it has none."""
        state, outcome = self.jobs.finished(JobKind.EXPLANATION, number)
        answered = ExplanationAnswered.model_validate(outcome)
        answer = answered.answer or {}
        if state.status is not JobStatus.DONE or question not in answer:
            reason = answered.error or state.message or state.status.value
            raise ConflictError(f"the explanation could not be worked out: {reason}")
        found: dict[str, Any] = answer[question]
        return found


# ---------------------------------------------------------------------------------------------
# The explanation kind, for the workers

CACHED_RUNS = 4
_runs: Recent[int, tuple[Portfolio, Allocation]] = Recent(CACHED_RUNS)


def _run_records(store: JobStore, run_id: int) -> tuple[Portfolio, Allocation]:
    """The run's portfolio snapshot and allocation, read typed once per worker and kept."""
    kept = _runs.get(run_id)
    if kept is not None:
        return kept
    accepted = RunAccepted.model_validate(store.job_inputs(JobKind.RUN, run_id))
    outcome = store.job_outcome(JobKind.RUN, run_id)
    result = None if outcome is None else RunFinished.model_validate(outcome).result
    if result is None:
        raise ConflictError(f"run {run_id} has no result to explain")
    _runs.put(run_id, (accepted.portfolio, result))
    return accepted.portfolio, result


def _load(store: JobStore, job: JobState, settings: Settings) -> Any:
    asked = ExplanationAsked.model_validate(store.job_inputs(JobKind.EXPLANATION, job.id))
    portfolio, allocation = _run_records(store, asked.run_id)
    return ExplainJob(
        run_id=asked.run_id, portfolio=portfolio, allocation=allocation, question=asked.question
    )


def _progress(_: Any) -> JobProgress:
    return JobProgress()


def _ending(
    job: JobState, outcome: Any, error: str | None, stopped: bool, timing: dict[str, Any]
) -> Ending:
    if outcome is None:
        status = JobStatus.CANCELLED if stopped else JobStatus.FAILED
    else:
        status = JobStatus.DONE
    answered = ExplanationAnswered(
        explanation_id=job.id,
        answer=None if outcome is None else outcome.model_dump(mode="json", exclude_none=True),
        **finished_fields(job, status, error, timing),
    )
    return Ending(status, answered.model_dump(mode="json"), message=error or "")


SPEC: JobKindSpec[Any, Any] = JobKindSpec(
    kind=JobKind.EXPLANATION, load=_load, handler=explain_job, progress=_progress, ending=_ending
)
