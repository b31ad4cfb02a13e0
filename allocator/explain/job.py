"""The explanation handler of the job pipeline: the answers that re-solve (the price of
forcing an opportunity staffed, what it would take, a contrast, the permutation check of
fairness), pure (no store, no service), so that no solver runs in the API process.

`explain_job(inputs, progress, stop)` is called by a worker process with the run's portfolio
and allocation and the question; the run's look-ups are kept for the few most recent runs of
the process, since a finished run never changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from allocator.core.recent import Recent
from allocator.explain.explanations import (
    Contrast,
    Fairness,
    OpportunityExplanation,
    Run,
    contrast,
    explain_opportunity,
    fairness,
)
from allocator.model import Allocation, Portfolio

CACHED_RUNS = 4


class Question(BaseModel):
    """What is asked about a run: an opportunity (with its price), two side by side, or
    fairness (verified by a permuted re-solve); each re-solve within `time_limit` seconds."""

    kind: Literal["opportunity", "contrast", "fairness"]
    opportunity_id: str = ""
    a: str = ""
    b: str = ""
    with_price: bool = True
    verify: bool = False
    time_limit: float = 3.0


class ExplainJob(BaseModel):
    """One question about one finished run."""

    run_id: int
    portfolio: Portfolio
    allocation: Allocation
    question: Question


class ExplainOutcome(BaseModel):
    """The answer, in the field of its question."""

    opportunity: OpportunityExplanation | None = None
    contrast: Contrast | None = None
    fairness: Fairness | None = None


_runs: Recent[int, Run] = Recent(CACHED_RUNS)


def _run(inputs: ExplainJob) -> Run:
    run = _runs.get(inputs.run_id)
    if run is None:
        run = Run.of(inputs.portfolio, inputs.allocation)
        _runs.put(inputs.run_id, run)
    return run


def explain_job(
    inputs: ExplainJob, progress: Callable[[Any], None], stop: threading.Event
) -> ExplainOutcome:
    """Answer the question (re-solving as it needs, each re-solve within `time_limit`)."""
    run = _run(inputs)
    asked = inputs.question
    if asked.kind == "opportunity":
        answer = explain_opportunity(
            run, asked.opportunity_id, with_price=asked.with_price, time_limit=asked.time_limit
        )
        return ExplainOutcome(opportunity=answer)
    if asked.kind == "contrast":
        return ExplainOutcome(contrast=contrast(run, asked.a, asked.b, asked.time_limit))
    return ExplainOutcome(fairness=fairness(run, verify=asked.verify, time_limit=asked.time_limit))
