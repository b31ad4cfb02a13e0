"""`allocator import crm|team|time-off|commitments`, `allocator export` and `allocator
validate`: real pipelines in and out (docs/imports.md).

Also what `allocator import actuals|outcomes --mapping` and `allocator solve --apply-actuals`
share with them: an export read through its mapping (`mapped_records`), and a history
folder's actuals taken into a portfolio (`applied_actuals`, `print_flags`).

An edge: reads the files, calls `io.imports`, `io.exports` and the domain's checks, prints.
Bad input exits 2 with one line per problem (file, row, column, value); `import` writes
nothing then, unless `--skip-bad` is given.
"""

from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Annotated

import typer
from rich.console import Console

from allocator.cli.errors import bad_input_exits
from allocator.errors import InputIssue, InvalidInputError
from allocator.explain.explanations import EXPORT_REASONS, export_reasons
from allocator.insight.feedback import FedPortfolio, feed_actuals
from allocator.insight.history import load_history
from allocator.insight.records import week_monday
from allocator.io.exports import write_plan_csv, write_plan_xlsx
from allocator.io.formats import load_allocation, load_portfolio
from allocator.io.imports import import_into, record_rows
from allocator.io.mapping import load_mapping
from allocator.model import Portfolio, expected_value, unstaffable_opportunities

console = Console()

Source = Annotated[Path, typer.Argument(help="The export: .csv or .xlsx.")]
MappingOption = Annotated[Path, typer.Option("--mapping", help="The mapping file (.toml).")]
Out = Annotated[
    Path, typer.Option("--out", help="Portfolio folder to write, or to add to when it exists.")
]
SkipBad = Annotated[
    bool, typer.Option("--skip-bad", help="Write the good rows and list the bad ones.")
]
Start = Annotated[
    str | None,
    typer.Option(
        "--start", help="ISO week of week 1, like 2026-W50 (default: the folder's, else now)."
    ),
]
Weeks = Annotated[int | None, typer.Option("--horizon-weeks", min=1, max=52, help="Weeks planned.")]


def _run_import(
    kind: str,
    source: Path,
    mapping: Path,
    out: Path,
    skip_bad: bool,
    start: str | None = None,
    weeks: int | None = None,
) -> None:
    with bad_input_exits():
        portfolio, report = import_into(
            kind,
            source,
            load_mapping(mapping),
            out,
            skip_bad=skip_bad,
            start=start,
            horizon_weeks=weeks,
        )
    for line in report.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"Wrote {out}: {len(portfolio.engineers)} engineers, {len(portfolio.opportunities)} "
        f"opportunities, {len(portfolio.demands)} demands; weeks "
        f"{portfolio.week_label(1)} to {portfolio.week_label(portfolio.horizon_weeks)}",
        soft_wrap=True,
    )


def import_crm(
    source: Source,
    mapping: MappingOption,
    out: Out,
    skip_bad: SkipBad = False,
    start: Start = None,
    horizon_weeks: Weeks = None,
) -> None:
    """Opportunities and their roles from a CRM opportunity report (replaces the folder's)."""
    _run_import("crm", source, mapping, out, skip_bad, start, horizon_weeks)


def import_team(
    source: Source, mapping: MappingOption, out: Out, skip_bad: SkipBad = False
) -> None:
    """Engineers from an HR roster or skills matrix (replaces the folder's engineers)."""
    _run_import("team", source, mapping, out, skip_bad)


def import_time_off(
    source: Source, mapping: MappingOption, out: Out, skip_bad: SkipBad = False
) -> None:
    """Time off as date ranges, added to the engineers of the folder."""
    _run_import("time_off", source, mapping, out, skip_bad)


def import_commitments(
    source: Source, mapping: MappingOption, out: Out, skip_bad: SkipBad = False
) -> None:
    """Hours per week committed elsewhere over a range of dates or ISO weeks, added to the
    engineers of the folder."""
    _run_import("commitments", source, mapping, out, skip_bad)


def mapped_records(kind: str, source: Path, mapping: Path, skip_bad: bool) -> list[dict[str, str]]:
    """An actuals or outcomes export read through its mapping (`io.imports.record_rows`) as
    the plain rows the service stores; the import's report printed. Raises InvalidInputError
    naming every bad row unless `skip_bad`."""
    read = load_mapping(mapping)
    if read.kind != kind:
        raise InvalidInputError([InputIssue("--mapping", "kind", f"is not {kind!r}", read.kind)])
    found = record_rows(source, read, skip_bad=skip_bad)
    for line in found.report.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return found.rows


def applied_actuals(portfolio: Portfolio, history: Path, week: str | None) -> FedPortfolio:
    """`portfolio` with the actuals of a history folder taken in (`feed_actuals` against its
    runs' plans) for a run starting in `week`, else in the portfolio's horizon start."""
    start = week or portfolio.horizon_start
    if start is None:
        message = "needs --week (the ISO week the run starts): the portfolio has no horizon_start"
        raise InvalidInputError([InputIssue("--apply-actuals", "", message, str(history))])
    try:
        week_monday(start)
    except ValueError as error:
        raise InvalidInputError([InputIssue("--week", "", str(error), start)]) from None
    found = load_history(history)
    return feed_actuals(portfolio, found.runs, found.actuals, start)


def print_flags(fed: FedPortfolio) -> None:
    """One line per engineer flagged by the actuals taken in."""
    for flag in fed.flags:
        actual = "no timesheet" if flag.actual is None else f"{flag.actual:g} h"
        change = (
            f"; committed {flag.committed_before:g} -> {flag.committed_after:g} h/week"
            if flag.committed_after != flag.committed_before
            else ""
        )
        console.print(
            f"{flag.engineer_id}: {flag.kind} in {flag.week} "
            f"(planned {flag.planned:g} h, {actual}){change}",
            markup=False,
            highlight=False,
        )


def add_import_commands(group: typer.Typer) -> None:
    """`crm`, `team`, `time-off` and `commitments` under the `allocator import` group."""
    group.command("crm")(import_crm)
    group.command("team")(import_team)
    group.command("time-off")(import_time_off)
    group.command("commitments")(import_commitments)


def export(
    result: Annotated[Path, typer.Argument(help="A result JSON written by `allocator solve`.")],
    portfolio: Annotated[Path, typer.Option(help="The portfolio the result was made for.")],
    out: Annotated[Path, typer.Option(help="plan.xlsx (the workbook) or plan.csv.")],
    reasons: Annotated[
        bool,
        typer.Option(
            "--reasons/--no-reasons",
            help="Say why each unstaffed opportunity got nobody (the binding reason of its "
            f"roles, for the {EXPORT_REASONS} of highest expected value; no re-solve).",
        ),
    ] = True,
) -> None:
    """Write the plan for the people who act on it: a workbook (by engineer x ISO week, by
    opportunity, unstaffed with the reason, the objective terms) or a CSV keyed by CRM id."""
    with bad_input_exits():
        loaded = load_portfolio(portfolio)
        allocation = load_allocation(result)
        suffix = out.suffix.lower()
        if suffix not in (".xlsx", ".csv"):
            raise InvalidInputError(
                [InputIssue("--out", "", "must end in .xlsx or .csv", str(out))]
            )
        why = export_reasons(loaded, allocation) if reasons else None
        write = write_plan_xlsx if suffix == ".xlsx" else write_plan_csv
        write(loaded, allocation, out, why)
    console.print(f"Wrote {out}")


def validate(
    portfolio: Annotated[Path, typer.Argument(help="CSV folder, .json or .xlsx portfolio.")],
) -> None:
    """Check a portfolio without solving: print every problem (exit 2) and every warning."""
    with bad_input_exits():
        loaded = load_portfolio(portfolio)
    warnings = portfolio_warnings(loaded)
    for line in warnings:
        console.print(f"warning: {line}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"OK: {len(loaded.engineers)} engineers, {len(loaded.opportunities)} opportunities, "
        f"{len(loaded.demands)} demands over {loaded.horizon_weeks} weeks; "
        f"value_unit {loaded.policy.value_unit:g} ({loaded.policy.value_unit_source}); "
        f"{len(warnings)} warnings.",
        soft_wrap=True,
    )


def portfolio_warnings(portfolio: Portfolio) -> list[str]:
    """What is legal but likely not what the planner meant."""
    found = [
        f"opportunity {u.opportunity_id} cannot be staffed: {u.reason}"
        for u in unstaffable_opportunities(portfolio)
    ]
    unknown = [o.id for o in portfolio.opportunities if not o.industry]
    if unknown:
        found.append(
            f"{len(unknown)} opportunities have no industry (no industry fit): "
            + ", ".join(unknown[:5])
            + (" ..." if len(unknown) > 5 else "")
        )
    policy = portfolio.policy
    values = [expected_value(o, policy) for o in portfolio.opportunities]
    if values:
        points = median(values) * policy.value_weight / policy.value_unit
        fit = 2 * policy.skill_fit_weight + policy.industry_fit_weight + policy.travel_penalty
        if points < fit:
            found.append(
                f"the median opportunity's expected value is worth {points:,.2f} points at "
                f"value_unit {policy.value_unit:g}, less than one assignment's fit and travel "
                f"({fit} points): fit, not value, would drive the allocation"
            )
    if not portfolio.horizon_start:
        found.append("no horizon_start: weeks are numbered 1..N with no calendar")
    return found
