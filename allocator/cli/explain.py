"""`allocator explain`: the explanations of a run on the command line.

An edge: reads a result file (with its portfolio) or a stored run (by id, from the database
`ALLOCATOR_DATABASE_URL` names), calls `allocator.explain.explanations`, prints the plain-language
paragraph, or the structured answer with `--json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.console import Console

from allocator.cli.errors import bad_input_exits
from allocator.errors import InputIssue, InvalidInputError, NotFoundError
from allocator.explain.explanations import (
    Run,
    contrast,
    explain_conflicts,
    explain_engineer,
    explain_opportunity,
    fairness,
)
from allocator.io.formats import load_allocation, load_portfolio

console = Console()


def load_run(result_or_run: str, portfolio: Path | None) -> Run:
    """A result file with its portfolio, or a stored run by id."""
    path = Path(result_or_run)
    if path.is_file():
        if portfolio is None:
            raise InvalidInputError(
                [InputIssue("--portfolio", "", "is required with a result file", None)]
            )
        return Run.of(load_portfolio(portfolio), load_allocation(path))
    if not result_or_run.isdigit():
        raise InvalidInputError(
            [InputIssue(result_or_run, "", "is neither a result file nor a run id")]
        )
    from allocator.service.jobs import JobKind
    from allocator.service.runs import RunAccepted, RunFinished
    from allocator.service.settings import Settings
    from allocator.store.repository import Store

    store = Store(Settings().database_url)
    try:
        outcome = store.job_outcome(JobKind.RUN, int(result_or_run))
        result = None if outcome is None else RunFinished.model_validate(outcome).result
        if result is None:
            raise NotFoundError(f"run {result_or_run} has no result yet")
        accepted = RunAccepted.model_validate(store.job_inputs(JobKind.RUN, int(result_or_run)))
    finally:
        store.close()
    return Run.of(accepted.portfolio, result)


def explain(
    result_or_run: Annotated[str, typer.Argument(help="A result JSON file, or a stored run id.")],
    portfolio: Annotated[
        Path | None, typer.Option(help="The portfolio of a result file (CSV folder/.json/.xlsx).")
    ] = None,
    opportunity: Annotated[str | None, typer.Option(help="Explain this opportunity.")] = None,
    engineer: Annotated[str | None, typer.Option(help="Explain this engineer's work.")] = None,
    contrast_pair: Annotated[
        str | None, typer.Option("--contrast", help="Two opportunities, `A,B`: side by side.")
    ] = None,
    show_fairness: Annotated[
        bool, typer.Option("--fairness", help="Coverage by seniority, region, industry, tier.")
    ] = False,
    verify: Annotated[
        bool, typer.Option(help="With --fairness: re-solve with seniority permuted.")
    ] = False,
    conflicts: Annotated[bool, typer.Option(help="An infeasible run's conflict.")] = False,
    time_limit: Annotated[float, typer.Option(min=0.1, help="Seconds per re-solve.")] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the structured answer.")] = False,
) -> None:
    """Why an opportunity got (or did not get) its engineers, and more."""
    with bad_input_exits():
        run = load_run(result_or_run, portfolio)
        answer: BaseModel | str
        if opportunity is not None:
            answer = explain_opportunity(run, opportunity, time_limit=time_limit)
        elif engineer is not None:
            answer = explain_engineer(run, engineer)
        elif contrast_pair is not None:
            names = [part.strip() for part in contrast_pair.split(",") if part.strip()]
            if len(names) != 2:
                raise InvalidInputError(
                    [InputIssue("--contrast", "", "needs two opportunities, A,B", contrast_pair)]
                )
            answer = contrast(run, names[0], names[1], time_limit=time_limit)
        elif show_fairness:
            answer = fairness(run, verify=verify, time_limit=time_limit)
        elif conflicts:
            answer = explain_conflicts(run)
        else:
            raise InvalidInputError(
                [
                    InputIssue(
                        "explain",
                        "",
                        "say what to explain: --opportunity, --engineer, --contrast, "
                        "--fairness or --conflicts",
                    )
                ]
            )
    if isinstance(answer, str):
        console.print(answer, markup=False, highlight=False, soft_wrap=True)
    elif as_json:
        console.print_json(answer.model_dump_json())
    else:
        console.print(getattr(answer, "summary", ""), markup=False, highlight=False, soft_wrap=True)
