"""A run next to its baselines: the headline figures of the run's allocation and of each
baseline's (`solve.baselines`) on the same snapshot, as the worker records them with the run.

Records and pure figures only (no solver is imported here): the run's finished record
(`service.runs.RunFinished`) carries a `Comparison`, so that pages only read it. Computed by
`solve.job.compare_job` in the worker that solved the run.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from allocator.io.report import Summary, summarize
from allocator.model import Allocation, Portfolio

BASELINE_LABELS: dict[str, str] = {
    "seniority_first": "status quo: seniority first",
    "first_come_first_served": "status quo: first come, first served",
    "value_density": "greedy: value density",
}
"""The baselines a run is shown next to (names of `solve.baselines.BASELINES`), with labels."""

STATUS_QUO = "seniority_first"
"""The baseline fairness is compared with; its staffed opportunities are kept."""


class BaselineFigures(BaseModel):
    """One baseline's figures on the run's snapshot."""

    name: str
    label: str
    summary: Summary
    staffed_opportunities: list[str] = Field(
        default_factory=list, description="Kept for the status quo only (fairness reads it)."
    )


class Comparison(BaseModel):
    """The run's figures and its baselines', in `BASELINE_LABELS` order."""

    run: Summary
    baselines: list[BaselineFigures]

    def rows(self) -> list[tuple[str, Summary]]:
        """(label, figures), the run first."""
        return [("this run", self.run), *((b.label, b.summary) for b in self.baselines)]

    def staffed_by(self, name: str) -> set[str] | None:
        """The opportunities the named baseline staffed, if they were kept."""
        for baseline in self.baselines:
            if baseline.name == name and name == STATUS_QUO:
                return set(baseline.staffed_opportunities)
        return None


def comparison(
    portfolio: Portfolio, allocation: Allocation, baselines: dict[str, Allocation]
) -> Comparison:
    """The figures of `allocation` and of each baseline's allocation on `portfolio`."""
    return Comparison(
        run=summarize(portfolio, allocation),
        baselines=[
            BaselineFigures(
                name=name,
                label=BASELINE_LABELS.get(name, name),
                summary=summarize(portfolio, found),
                staffed_opportunities=list(found.staffed_opportunities)
                if name == STATUS_QUO
                else [],
            )
            for name, found in baselines.items()
        ],
    )


__all__ = ["BASELINE_LABELS", "STATUS_QUO", "BaselineFigures", "Comparison", "comparison"]
