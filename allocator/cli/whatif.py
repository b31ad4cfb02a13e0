"""The `allocator sweep ...` commands: what-if scenarios, ratio sweeps, hiring recommendations.

An edge: parses arguments and files, calls the service (`sweep`, `compare`, `ratios`,
`hiring`), prints tables, writes JSON and PNG files (`plots`), shows a progress bar. Exit
codes as the rest of the CLI: 0 success, 2 bad input (one line per problem).

    allocator sweep scenarios PORTFOLIO SCENARIOS.json --out var/whatif
    allocator sweep ratio --region East --from 1:6 --to 1:2 --steps 9 PORTFOLIO
    allocator sweep hires PORTFOLIO --budget 3
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from allocator.cli.errors import bad_input_exits
from allocator.errors import InputIssue, InvalidInputError
from allocator.io import strictjson
from allocator.io.formats import load_portfolio, spreadsheet_safe
from allocator.whatif.compare import SweepComparison, compare_sweep
from allocator.whatif.hiring import HiringRecommendation, recommend_hires
from allocator.whatif.ratios import RatioCurve, RatioSweepSpec, hire_profile, ratio_sweep
from allocator.whatif.scenarios import parse_ratio, parse_scenarios
from allocator.whatif.sweep import EXECUTORS, ExecutorName, SweepOptions, run_sweep

app = typer.Typer(
    help="What-if planning: scenarios, presales-to-sales ratios and hires, each re-solved.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

PortfolioArg = Annotated[Path, typer.Argument(help="CSV folder, .json or .xlsx portfolio.")]
OutOption = Annotated[Path, typer.Option(help="Folder for the JSON and PNG files.")]
TimeLimit = Annotated[
    float, typer.Option(min=0.1, help="Search budget of each solve (deterministic seconds).")
]
Seed = Annotated[int, typer.Option(help="Random seed of every solve.")]
Processes = Annotated[int, typer.Option(min=0, help="Solves at once; 0: one per CPU core.")]
ExecutorOption = Annotated[
    str, typer.Option(help=f"Where solves run: {', '.join(EXECUTORS)} (ray: optional extra).")
]
RayAddress = Annotated[
    str | None, typer.Option(help="Ray cluster to join (e.g. auto); default a local instance.")
]


def _options(
    time_limit: float, seed: int, processes: int, executor: str, ray_address: str | None
) -> SweepOptions:
    if executor not in EXECUTORS:
        choices = ", ".join(EXECUTORS)
        raise InvalidInputError(
            [InputIssue("--executor", "", f"unknown executor; choose from {choices}", executor)]
        )
    name: ExecutorName = executor
    return SweepOptions(
        time_limit=time_limit,
        seed=seed,
        processes=processes,
        executor=name,
        ray_address=ray_address,
    )


@contextmanager
def _progress(title: str) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar fed by the sweep's (done, total, name) callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(title, total=None, last="starting worker processes")

        def update(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, last=name)

        yield update


def _write(out: Path, name: str, data: bytes | str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "scenario"


# ---------------------------------------------------------------------------------------------


@app.command()
def scenarios(
    portfolio: PortfolioArg,
    scenario_file: Annotated[
        Path, typer.Argument(help='JSON: [{"name": ..., "edits": [...]}, ...]', metavar="SCENARIOS")
    ],
    out: OutOption = Path("whatif"),
    time_limit: TimeLimit = 5.0,
    seed: Seed = 0,
    processes: Processes = 0,
    executor: ExecutorOption = "local",
    ray_address: RayAddress = None,
    unmet: Annotated[
        str | None, typer.Option(help="Scenario whose unmet demand is drawn (default: the first).")
    ] = None,
) -> None:
    """Solve the base and each scenario in parallel and compare them side by side.

    Writes comparison.json (every figure, churn and the assignment diff), diff.csv,
    comparison.png and unmet.png into --out.
    """
    with bad_input_exits():
        options = _options(time_limit, seed, processes, executor, ray_address)
        base = load_portfolio(portfolio)
        found = _read_json(scenario_file)
        scenario_list = parse_scenarios(found, f"{scenario_file.name} $")
        with _progress(f"{len(scenario_list)} scenarios") as progress:
            result = run_sweep(base, scenario_list, options, progress)
        comparison = compare_sweep(result)
        chosen = None
        if comparison.scenarios:
            if unmet is not None and unmet not in {c.name for c in comparison.scenarios}:
                raise InvalidInputError([InputIssue("--unmet", "", "no such scenario", unmet)])
            chosen = comparison.get(unmet) if unmet else comparison.scenarios[0]
    _print_comparison(comparison)
    from allocator.whatif.plots import comparison_plot, unmet_plot  # Matplotlib: only when drawing.

    written = [
        _write(out, "comparison.json", comparison.model_dump_json(indent=2)),
        _write(out, "diff.csv", _diff_csv(comparison)),
        _write(out, "comparison.png", comparison_plot(comparison)),
        _write(out, "unmet.png", unmet_plot(comparison.base, chosen)),
    ]
    console.print("Wrote " + ", ".join(str(p) for p in written))


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise InvalidInputError([InputIssue(str(path), "", "no such file")])
    return strictjson.loads(path.read_bytes(), str(path))


def _diff_csv(comparison: SweepComparison) -> str:
    lines: list[list[str]] = [
        [
            "scenario",
            "demand_id",
            "opportunity_id",
            "skill",
            "base_engineer",
            "scenario_engineer",
            "change",
        ]
    ]
    for c in comparison.scenarios:
        for change in c.changes:
            lines.append(
                [
                    c.name,
                    change.demand_id,
                    change.opportunity_id,
                    change.skill,
                    change.base_engineer or "",
                    change.scenario_engineer or "",
                    change.change,
                ]
            )
    buffer = io.StringIO()
    safe = [[spreadsheet_safe(cell) for cell in line] for line in lines]
    csv.writer(buffer, lineterminator="\n").writerows(safe)
    return buffer.getvalue()


def _print_comparison(comparison: SweepComparison) -> None:
    base = comparison.base
    table = Table(
        title=f"Scenarios against the base ({comparison.executor}, {comparison.seconds:.1f} s)",
        caption="Value: tier-weighted expected value covered (currency x tier factor). "
        "Objective: points. Unmet: hours of unstaffed roles over the horizon. Churn: base "
        "assignments changed.",
    )
    for column in (
        "Scenario",
        "Value covered",
        "vs base",
        "A/B/C",
        "Objective",
        "Unmet h",
        "Churn",
    ):
        table.add_column(column, justify="left" if column == "Scenario" else "right")

    def tiers(f: Any) -> str:
        return "/".join(str(f.staffed_by_tier[t].staffed) for t in ("A", "B", "C"))

    def label(f: Any) -> str:
        return f.name if f.status == "optimal" else f"{f.name} ({f.status})"

    table.add_row(
        label(base),
        f"{base.expected_value_covered:,.0f}",
        "",
        tiers(base),
        f"{base.objective:,.2f}" if base.objective is not None else "-",
        f"{base.unmet_hours:,.0f}",
        "",
    )
    for c in comparison.scenarios:
        f = c.figures
        share = c.value_delta / base.expected_value_covered if base.expected_value_covered else 0
        table.add_row(
            label(f),
            f"{f.expected_value_covered:,.0f}",
            f"{c.value_delta:+,.0f} ({100 * share:+.1f}%)",
            tiers(f),
            "-" if c.objective_delta is None else f"{c.objective_delta:+,.2f}",
            f"{f.unmet_hours:,.0f}",
            f"{100 * c.churn.share:.0f}%",
        )
    console.print(table)
    for c in comparison.scenarios:
        for note in c.notes:
            console.print(f"  {c.name}: {note}", markup=False, highlight=False)


# ---------------------------------------------------------------------------------------------


@app.command()
def ratio(
    portfolio: PortfolioArg,
    region: Annotated[str | None, typer.Option(help="The region whose ratio changes.")] = None,
    industry: Annotated[str | None, typer.Option(help="Or the industry.")] = None,
    start: Annotated[str, typer.Option("--from", help="First ratio, presales:sales.")] = "1:6",
    stop: Annotated[str, typer.Option("--to", help="Last ratio, presales:sales.")] = "1:2",
    steps: Annotated[int, typer.Option(min=2, max=200, help="Ratios from --from to --to.")] = 9,
    every_engineer: Annotated[
        bool, typer.Option(help="Solve every headcount in between, not only the steps.")
    ] = False,
    skill: Annotated[
        str | None,
        typer.Option(help="Hires' skill (default: the scope's most demanded skill)."),
    ] = None,
    level: Annotated[int, typer.Option(min=1, max=5, help="Hires' proficiency.")] = 4,
    capacity: Annotated[float, typer.Option(min=1, max=168, help="Hires' hours a week.")] = 40.0,
    hire_region: Annotated[
        str | None, typer.Option(help="Hires' home region (industry sweeps; default derived).")
    ] = None,
    sales: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="The scope's real sales headcount (default: distinct requesters, who may be "
            "fewer).",
        ),
    ] = None,
    out: OutOption = Path("whatif"),
    time_limit: TimeLimit = 5.0,
    seed: Seed = 0,
    processes: Processes = 0,
    executor: ExecutorOption = "local",
    ray_address: RayAddress = None,
) -> None:
    """Value covered as a region's (or industry's) presales-to-sales ratio goes from --from to
    --to, and the marginal value of each added engineer. Writes ratio.json and ratio.png."""
    with bad_input_exits():
        options = _options(time_limit, seed, processes, executor, ray_address)
        _ratio_option("--from", start)
        _ratio_option("--to", stop)
        base = load_portfolio(portfolio)
        profile = hire_profile(
            base,
            region,
            industry,
            skill=skill,
            level=level,
            capacity_hours=capacity,
            home=hire_region,
        )
        spec = RatioSweepSpec(
            region=region,
            industry=industry,
            start=start,
            stop=stop,
            steps=steps,
            profile=profile,
            every_engineer=every_engineer,
            sales=sales,
        )
        with _progress("ratio sweep") as progress:
            curve = ratio_sweep(base, spec, options, progress)
    _print_curve(curve)
    from allocator.whatif.plots import ratio_plot

    written = [
        _write(out, "ratio.json", curve.model_dump_json(indent=2)),
        _write(out, "ratio.png", ratio_plot(curve)),
    ]
    console.print("Wrote " + ", ".join(str(p) for p in written))


def _ratio_option(option: str, text: str) -> Any:
    try:
        return parse_ratio(text)
    except ValueError as error:
        raise InvalidInputError([InputIssue(option, "", str(error), text)]) from None


def _print_curve(curve: RatioCurve) -> None:
    hire = curve.profile
    skills = ", ".join(f"{s} {lvl}" for s, lvl in hire["skills"].items())
    table = Table(
        title=f"Ratio sweep, {curve.scope}: {curve.sales} salespeople ({curve.sales_source}), "
        f"{curve.current_presales} presales today",
        caption="Value: tier-weighted expected value covered (currency x tier factor). "
        "Per engineer: its change since the previous row, per engineer added.",
    )
    for column in ("Presales", "Ratio", "Requested", "Change", "Value", "Per engineer", "Staffed"):
        table.add_column(column, justify="left" if column == "Requested" else "right")
    for p in curve.points:
        change = f"+{p.hired}" if p.hired else (f"-{p.released}" if p.released else "today")
        status = "" if p.status == "optimal" else f" ({p.status})"
        table.add_row(
            f"{p.presales}{status}",
            p.ratio,
            ", ".join(p.requested),
            change,
            f"{p.expected_value_covered:,.0f}",
            "" if p.marginal_value is None else f"{p.marginal_value:+,.0f}",
            str(p.staffed),
        )
    console.print(table)
    console.print(
        f"Hires: {skills}, home {hire['region']}, {hire['capacity_hours']:g} h/week. "
        f"Releases: {curve.release_rule}.",
        markup=False,
        highlight=False,
    )


# ---------------------------------------------------------------------------------------------


@app.command()
def hires(
    portfolio: PortfolioArg,
    budget: Annotated[int, typer.Option(min=1, max=50, help="Hires to plan (greedy).")] = 1,
    level: Annotated[int, typer.Option(min=1, max=5, help="Candidates' proficiency.")] = 4,
    capacity: Annotated[
        float, typer.Option(min=1, max=168, help="Candidates' hours a week.")
    ] = 40.0,
    top: Annotated[int, typer.Option(min=1, help="Candidates shown.")] = 15,
    out: OutOption = Path("whatif"),
    time_limit: TimeLimit = 5.0,
    seed: Seed = 0,
    processes: Processes = 0,
    executor: ExecutorOption = "local",
    ray_address: RayAddress = None,
) -> None:
    """Rank one more engineer per (skill, region) in demand by the value covered it adds
    (re-solve), and plan --budget hires greedily. Writes hires.json and hires.png."""
    with bad_input_exits():
        options = _options(time_limit, seed, processes, executor, ray_address)
        base = load_portfolio(portfolio)
        with _progress(f"hiring, budget {budget}") as progress:
            recommendation = recommend_hires(
                base, budget, options, level=level, capacity_hours=capacity, progress=progress
            )
    _print_hires(recommendation, top)
    from allocator.whatif.plots import hiring_plot

    written = [
        _write(out, "hires.json", recommendation.model_dump_json(indent=2)),
        _write(out, "hires.png", hiring_plot(recommendation, top)),
    ]
    console.print("Wrote " + ", ".join(str(p) for p in written))


def _print_hires(rec: HiringRecommendation, top: int) -> None:
    table = Table(
        title="One more engineer, on the base",
        caption="Value: tier-weighted expected value covered added (currency x tier "
        "factor); objective in points, with its proven range when the solves were not proven "
        "optimal.",
    )
    for column in ("#", "Skill", "Region", "Value +", "Objective +", "Staffed +"):
        table.add_column(column, justify="left" if column in ("Skill", "Region") else "right")
    for k, c in enumerate(rec.ranking[:top], start=1):
        objective = f"{c.objective_delta:+,.2f}"
        if not c.exact and c.objective_low is not None and c.objective_high is not None:
            objective += f" [{c.objective_low:+,.0f}, {c.objective_high:+,.0f}]"
        table.add_row(
            str(k),
            c.skill,
            c.region,
            f"{c.value_delta:+,.0f}",
            objective,
            f"{c.staffed_delta:+d}",
        )
    console.print(table)
    plan = Table(title=f"Greedy plan for {rec.budget} hires (re-solved after each pick)")
    for column in ("Round", "Hire", "Value +", "Value after"):
        plan.add_column(column, justify="left" if column == "Hire" else "right")
    for p in rec.plan:
        plan.add_row(
            str(p.round),
            f"{p.skill} in {p.region}",
            f"{p.value_delta:+,.0f}",
            f"{p.expected_value_covered:,.0f}",
        )
    console.print(plan)
    if rec.stopped:
        console.print(f"Stopped: {rec.stopped}", markup=False, highlight=False)
    console.print(
        f"Method: {rec.method}. Precision: {rec.precision}.", markup=False, highlight=False
    )
