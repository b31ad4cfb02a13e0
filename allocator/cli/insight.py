"""The `allocator report ...` commands and `allocator generate-history`: presales investment,
contribution and calibration from a history of runs, actuals and outcomes.

An edge: reads a history folder (`insight.history.load_history`: `portfolio/`,
`runs/<ISO week>.json`, `actuals.csv`, `outcomes.csv`), calls the insight reports, prints
tables, writes JSON and PNG files. Exit codes as the rest of the CLI: 0, or 2 on bad input
with one line per problem.

    allocator generate-history data/sample --out var/history --weeks 8 --bias stage=proposal:0.5
    allocator report investment var/history --by stage --png investment.png
    allocator report calibration var/history --png calibration.png --whatif
    allocator report contribution var/history --engineer ENG-0001
    allocator report ratios var/history
    allocator report feed var/history --week 2026-W44 --out next-portfolio
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from allocator.cli.errors import bad_input_exits
from allocator.cli.pipelines import mapped_records, print_flags
from allocator.errors import InputIssue, InvalidInputError
from allocator.insight.calibration import DIMENSIONS, calibrated_whatif, calibration_report
from allocator.insight.contribution import contribution_report
from allocator.insight.evidence import evidence_report, sweep_from_evidence
from allocator.insight.feedback import feed_actuals
from allocator.insight.history import generate_history, load_history, parse_bias, write_history
from allocator.insight.investment import GROUPINGS, investment_report
from allocator.insight.records import week_monday
from allocator.insight.stats import Estimate
from allocator.io.formats import load_portfolio, write_portfolio_csv
from allocator.solver import SolveOptions
from allocator.whatif.sweep import SweepOptions

app = typer.Typer(
    help="Presales investment, contribution and calibration from actuals and outcomes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

HistoryArg = Annotated[
    Path,
    typer.Argument(
        help="History folder: portfolio/, runs/<ISO week>.json, actuals.csv, outcomes.csv."
    ),
]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON.")]
PngOption = Annotated[Path | None, typer.Option("--png", help="Also write the plot as PNG.")]


def _write_json(report: BaseModel, path: Path | None) -> None:
    if path is not None:
        path.write_text(report.model_dump_json(indent=2) + "\n")
        console.print(f"Wrote {path}")


def _rate(e: Estimate, percent: bool = False, digits: int = 0) -> str:
    """`35% [18-55] n=20`, `-` for an empty sample."""
    if e.value is None:
        return f"- n={e.n}"
    scale, unit = (100, "%") if percent else (1, "")
    value = f"{e.value * scale:,.{digits}f}{unit}"
    if e.low is None or e.high is None:
        return f"{value} n={e.n}"
    return f"{value} [{e.low * scale:,.{digits}f}-{e.high * scale:,.{digits}f}] n={e.n}"


def _one_of(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidInputError(
            [InputIssue(option, "", f"must be one of {', '.join(choices)}", value)]
        )


def _check_week(week: str, option: str) -> None:
    try:
        week_monday(week)
    except ValueError as error:
        raise InvalidInputError([InputIssue(option, "", str(error), week)]) from None


def generate_history_command(
    portfolio: Annotated[Path, typer.Argument(help="CSV folder, .json or .xlsx portfolio.")],
    out: Annotated[Path, typer.Option(help="Folder to write the history into.")],
    weeks: Annotated[int, typer.Option(min=1, max=52, help="Weekly runs.")] = 6,
    start_week: Annotated[str, typer.Option(help="ISO week of the first run.")] = "2026-W36",
    time_limit: Annotated[float, typer.Option(min=0.1, help="Seconds of search per run.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Seed of the draws and the solver.")] = 0,
    bias: Annotated[
        list[str] | None,
        typer.Option(help="Planted factor on win probabilities: stage=proposal:0.5 (repeat)."),
    ] = None,
    support_lift: Annotated[
        float, typer.Option(min=0, help="Relative lift of the win probability with presales hours.")
    ] = 0.0,
    noise: Annotated[float, typer.Option(min=0, help="Sigma of the weekly hours noise.")] = 0.25,
    missing_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of engineer-weeks with no timesheet.")
    ] = 0.05,
) -> None:
    """Generate a history: weekly runs (real solver), noisy actuals, outcomes drawn from the
    win probabilities with an optional planted bias."""
    with bad_input_exits():
        _check_week(start_week, "--start-week")
        planted = parse_bias(bias or [])
        history = generate_history(
            load_portfolio(portfolio),
            weeks=weeks,
            start_week=start_week,
            time_limit=time_limit,
            seed=seed,
            bias=planted,
            support_lift=support_lift,
            noise=noise,
            missing_rate=missing_rate,
        )
        write_history(history, out)
    decided = sum(o.outcome.value != "open" for o in history.outcomes)
    console.print(
        f"Wrote {out}: {len(history.runs)} runs, {len(history.actuals)} actuals rows, "
        f"{len(history.outcomes)} outcomes ({decided} decided)"
    )


@app.command()
def investment(
    history: HistoryArg,
    by: Annotated[str, typer.Option(help=f"Grouping: {', '.join(GROUPINGS)}.")] = "stage",
    level_rates: Annotated[
        Path | None,
        typer.Option(help="JSON {title: cost per hour} for engineers without their own rate."),
    ] = None,
    json_out: JsonOption = None,
    png: PngOption = None,
) -> None:
    """Presales hours and cost against outcomes, per group, with 95 % intervals and n."""
    with bad_input_exits():
        _one_of("--by", by, GROUPINGS)
        rates = _level_rates(level_rates)
        h = load_history(history)
        report = investment_report(h.portfolio, h.actuals, h.outcomes, h.runs, rates, ["all", by])
    table = Table(title=f"Presales investment by {by}", caption=report.period)
    columns = (
        "Group",
        "Opps",
        "Decided",
        "Hours",
        "Cost",
        "Missing wk",
        "Win rate with hours",
        "Win rate without",
        "Won value / h",
        "Hours / won deal",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "Group" else "right")
    for row in report.rows:
        table.add_row(
            row.level,
            str(row.opportunities),
            str(row.decided),
            f"{row.hours:,.1f}",
            f"{row.cost:,.0f}"
            + (f" (+{row.hours_unpriced:,.0f} h unpriced)" if row.hours_unpriced else ""),
            str(row.missing_weeks),
            _rate(row.win_rate_supported, percent=True),
            _rate(row.win_rate_unsupported, percent=True),
            _rate(row.won_value_per_hour),
            _rate(row.hours_per_won_deal, digits=1),
        )
    console.print(table)
    console.print(report.method, markup=False, highlight=False)
    _write_json(report, json_out)
    if png is not None:
        from allocator.insight.plots import investment_png  # Matplotlib: only when drawing.

        png.write_bytes(investment_png(report, by if by not in ("all", "opportunity") else "stage"))
        console.print(f"Wrote {png}")


def _level_rates(path: Path | None) -> dict[str, float] | None:
    if path is None:
        return None
    try:
        data: Any = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InvalidInputError([InputIssue(str(path), "", f"cannot be read: {error}")]) from None
    if not isinstance(data, dict):
        raise InvalidInputError([InputIssue(path.name, "", "must map titles to rates >= 0")])
    for title, rate in data.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
            raise InvalidInputError(
                [InputIssue(path.name, str(title), "must be a rate >= 0", rate)]
            )
    return {str(k): float(v) for k, v in data.items()}


@app.command()
def calibration(
    history: HistoryArg,
    by: Annotated[str, typer.Option(help=f"Dimension: {', '.join(DIMENSIONS)}.")] = "stage",
    whatif: Annotated[
        bool, typer.Option(help="Solve with calibrated probabilities and compare (what-if).")
    ] = False,
    min_n: Annotated[
        int, typer.Option(min=1, help="Decided opportunities a level needs to be calibrated.")
    ] = 20,
    time_limit: Annotated[float, typer.Option(min=0.1, help="Seconds per what-if solve.")] = 5.0,
    clear_only: Annotated[
        bool, typer.Option(help="Calibrate only levels whose interval excludes 1.")
    ] = False,
    json_out: JsonOption = None,
    png: PngOption = None,
) -> None:
    """Assumed against observed win probability per stage, industry, tier and bin."""
    with bad_input_exits():
        _one_of("--by", by, DIMENSIONS)
        h = load_history(history)
        report = calibration_report(h.portfolio, h.outcomes)
    table = Table(title=f"Calibration ({report.decided} decided)", caption=report.period)
    for column in (
        "Dimension",
        "Group",
        "n",
        "Won",
        "Assumed",
        "Observed [95%]",
        "Observed / assumed",
    ):
        table.add_column(column, justify="left" if column in ("Dimension", "Group") else "right")
    for row in report.rows:
        if row.dimension not in (by, "bin"):
            continue
        ratio = (
            "-"
            if row.ratio is None
            else f"{row.ratio:.2f} [{row.ratio_low or 0:.2f}-{row.ratio_high or 0:.2f}]"
        )
        table.add_row(
            row.dimension,
            row.level,
            str(row.n),
            str(row.won),
            "-" if row.assumed is None else f"{row.assumed:.2f}",
            _rate(row.observed, percent=True),
            ratio,
        )
    console.print(table)
    console.print(report.method, markup=False, highlight=False)
    _write_json(report, json_out)
    if png is not None:
        from allocator.insight.plots import reliability_png

        png.write_bytes(reliability_png(report, by))
        console.print(f"Wrote {png}")
    if whatif:
        with bad_input_exits():
            shown = calibrated_whatif(
                h.portfolio, report, by, min_n, SolveOptions(time_limit=time_limit), clear_only
            )
        c = shown.comparison
        console.print(
            f"What-if, probabilities calibrated by {by} (both runs valued with the calibrated "
            f"probabilities): expected value covered {c.figures.expected_value_covered:,.0f} "
            f"({c.value_delta:+,.0f} against the run as planned), "
            f"{c.churn.reassigned + c.churn.dropped} assignments changed.",
            markup=False,
            highlight=False,
        )
        for note in c.notes:
            console.print(f"  {note}", markup=False, highlight=False)


@app.command()
def contribution(
    history: HistoryArg,
    engineer: Annotated[
        list[str] | None, typer.Option(help="Only these engineers (repeat).")
    ] = None,
    json_out: JsonOption = None,
) -> None:
    """Each engineer's hours by opportunity, value supported and won, planned against actual,
    utilization: the same view for the engineer and the manager; no single score."""
    with bad_input_exits():
        h = load_history(history)
        known = {e.id for e in h.portfolio.engineers}
        unknown = [e for e in engineer or [] if e not in known]
        if unknown:
            raise InvalidInputError([InputIssue("--engineer", "", "unknown engineer", unknown[0])])
        report = contribution_report(h.portfolio, h.actuals, h.outcomes, h.runs, engineer)
    table = Table(title="Contribution per engineer", caption=report.period)
    columns = (
        "Engineer",
        "Weeks reported",
        "Missing weeks",
        "Planned h (reported wk)",
        "Actual h",
        "Utilization",
        "Opps",
        "Value supported",
        "Won",
        "Value won",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "Engineer" else "right")
    for c in report.engineers:
        table.add_row(
            f"{c.engineer_id} {c.name}",
            f"{c.weeks_reported}/{c.weeks_planned} planned",
            ", ".join(c.missing_weeks) or "-",
            f"{c.planned_hours_reported_weeks:,.1f}",
            f"{c.actual_hours:,.1f}",
            "-" if c.utilization is None else f"{100 * c.utilization:.0f}%",
            str(c.opportunities_supported),
            f"{c.value_supported:,.0f}",
            f"{c.won}/{c.decided} decided",
            f"{c.value_won:,.0f}",
        )
    console.print(table)
    if engineer:
        for c in report.engineers:
            detail = Table(title=f"{c.engineer_id} by opportunity")
            for column in ("Opportunity", "Planned h", "Actual h", "Value", "Outcome", "Value won"):
                detail.add_column(column, justify="left" if column == "Opportunity" else "right")
            for line in c.by_opportunity:
                detail.add_row(
                    line.opportunity_id,
                    f"{line.planned:,.1f}",
                    f"{line.actual:,.1f}",
                    f"{line.value:,.0f}",
                    line.outcome,
                    "-" if line.value_won is None else f"{line.value_won:,.0f}",
                )
            console.print(detail)
    console.print(report.method, markup=False, highlight=False)
    _write_json(report, json_out)


@app.command()
def ratios(
    history: HistoryArg,
    sweep_region: Annotated[
        list[str] | None,
        typer.Option(help="Also sweep this region from its measured ratio (repeat)."),
    ] = None,
    sweep_industry: Annotated[
        list[str] | None,
        typer.Option(help="Also sweep this industry from its measured ratio (repeat)."),
    ] = None,
    extra: Annotated[int, typer.Option(min=1, max=20, help="Engineers added by a sweep.")] = 2,
    time_limit: Annotated[float, typer.Option(min=0.1, help="Seconds per sweep solve.")] = 2.0,
    json_out: JsonOption = None,
) -> None:
    """Presales:sales per region and industry, and what a presales hour covered and won; with
    --sweep-region/--sweep-industry, next to the marginal value of one more engineer."""
    with bad_input_exits():
        h = load_history(history)
        sweeps = {}
        options = SweepOptions(time_limit=time_limit, processes=1)
        for dimension, names in (("region", sweep_region), ("industry", sweep_industry)):
            for name in names or []:
                scope = {dimension: name}
                sweeps[f"{dimension} {name}"] = sweep_from_evidence(
                    h.portfolio, **scope, extra=extra, options=options
                )
        report = evidence_report(h.portfolio, h.actuals, h.outcomes, sweeps)
    table = Table(title="Staffing ratios from evidence", caption=report.period)
    for column in (
        "Scope",
        "Presales",
        "Sales",
        "Ratio",
        "Hours",
        "Covered value / h",
        "Won value / h",
        "Next engineer adds (sweep)",
    ):
        table.add_column(column, justify="left" if column == "Scope" else "right")
    for row in report.rows:
        table.add_row(
            row.scope,
            str(row.presales),
            str(row.sales),
            f"{row.ratio} ({row.sweep_from})",
            f"{row.hours:,.1f}",
            _rate(row.covered_value_per_hour),
            _rate(row.won_value_per_hour),
            "-" if row.sweep_marginal_value is None else f"{row.sweep_marginal_value:+,.0f}",
        )
    console.print(table)
    console.print(
        report.method + " A sweep starts from the measured headcount (in brackets, exact): "
        "allocator sweep ratio --region R --from P:S --to 1:2 PORTFOLIO, or --sweep-region R "
        "here.",
        markup=False,
        highlight=False,
    )
    _write_json(report, json_out)


@app.command()
def feed(
    history: HistoryArg,
    week: Annotated[str, typer.Option(help="ISO week the next run starts in.")],
    out: Annotated[Path, typer.Option(help="Folder for the adjusted portfolio (CSV).")],
) -> None:
    """The next run's portfolio with the actuals taken in, and the engineers flagged."""
    with bad_input_exits():
        _check_week(week, "--week")
        h = load_history(history)
        fed = feed_actuals(h.portfolio, h.runs, h.actuals, week)
        write_portfolio_csv(fed.portfolio, out)
    print_flags(fed)
    console.print(
        f"Wrote {out}: {len(fed.flags)} engineers flagged, {fed.previous_kept} assignments "
        f"with hours spent kept as previous"
    )


import_app = typer.Typer(
    help="Import a CRM report, an HR roster or time off into a portfolio folder through a "
    "mapping (crm, team, time-off, commitments; docs/imports.md), or actuals and outcomes into the "
    "service's database (ALLOCATOR_DATABASE_URL; each import is a record of the audit chain).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
FileArg = Annotated[Path, typer.Argument(help="A CSV or .xlsx file (columns: see --help).")]
PortfolioIdOption = Annotated[
    int | None, typer.Option(min=1, help="Check every engineer and opportunity against it.")
]
ActorOption = Annotated[str, typer.Option(help="Who imports; recorded in the ledger.")]
TeamOption = Annotated[
    str, typer.Option(help="The team (business unit) whose actuals or outcomes these are.")
]
MappingFileOption = Annotated[
    Path | None,
    typer.Option(
        "--mapping",
        help="Read the export through this mapping (.toml, kind actuals or outcomes; "
        "docs/imports.md) instead of the plain columns.",
    ),
]
SkipBadOption = Annotated[
    bool, typer.Option("--skip-bad", help="With --mapping: import the good rows, list the bad.")
]


def _import(
    kind: str,
    file: Path,
    portfolio_id: int | None,
    actor: str,
    team: str,
    mapping: Path | None = None,
    skip_bad: bool = False,
) -> None:
    # The store and the service only when called (the CLI starts without them).
    from allocator.cli.main import _open_store, _settings
    from allocator.service.insight import InsightService, rows_from_file
    from allocator.service.keys import Principal, Role, checked_name
    from allocator.service.runs import RunService
    from allocator.store.insight import InsightRepository

    with bad_input_exits():
        try:
            data = file.read_bytes()
        except OSError as error:
            raise InvalidInputError(
                [InputIssue(str(file), "", f"cannot be read: {error.strerror}")]
            ) from None
        if mapping is None:
            rows = rows_from_file(file.name, data)
        else:
            rows = mapped_records(kind, file, mapping, skip_bad)
        settings = _settings()
        store = _open_store(settings)
        try:
            service = InsightService(RunService(store, settings), InsightRepository(store))
            principal = Principal(actor, Role.PLANNER, checked_name(team, "--team"))
            add = service.import_actuals if kind == "actuals" else service.import_outcomes
            entry = add(file.name, rows, principal, portfolio_id)
        finally:
            store.close()
    console.print(
        f"Imported {entry.rows} {kind} rows from {entry.source} as {kind} import {entry.id} "
        f"(ledger record {entry.ledger_seq})"
    )


def _import_command(kind: str, doc: str) -> Callable[..., None]:
    """The `allocator import actuals|outcomes` command: the same options for both kinds."""

    def command(
        file: FileArg,
        portfolio_id: PortfolioIdOption = None,
        actor: ActorOption = "cli",
        team: TeamOption = "default",
        mapping: MappingFileOption = None,
        skip_bad: SkipBadOption = False,
    ) -> None:
        _import(kind, file, portfolio_id, actor, team, mapping, skip_bad)

    command.__doc__ = doc
    return command


import_app.command("actuals")(
    _import_command(
        "actuals",
        "Hours spent: engineer_id, opportunity_id, week (ISO week like 2026-W45), hours; or a "
        "timesheet export through --mapping (hours by day summed per ISO week).",
    )
)
import_app.command("outcomes")(
    _import_command(
        "outcomes",
        "Deal outcomes: opportunity_id, outcome (won|lost|no_decision|open), value (won only), "
        "date (YYYY-MM-DD); or a CRM report through --mapping (stages mapped to outcomes).",
    )
)
