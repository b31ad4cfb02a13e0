"""The `allocator` command line: solve, check, generate, schema; serve, keys, db, demo.

An edge: parses arguments, calls the service functions, prints. Exit codes: 0 success,
1 a check failed, 2 bad input (one line per problem, naming file, row, column and value).
The service commands read their settings from `ALLOCATOR_*` variables (`settings.py`) and
import the API and the store only when called, so that `solve` starts fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from allocator.cli.audit import app as audit_app
from allocator.cli.errors import EXIT_CHECK_FAILED, bad_input_exits
from allocator.cli.explain import explain
from allocator.cli.insight import app as report_app
from allocator.cli.insight import generate_history_command, import_app
from allocator.cli.pipelines import (
    add_import_commands,
    applied_actuals,
    export,
    print_flags,
    validate,
)
from allocator.cli.whatif import app as whatif_app
from allocator.cli.worker import worker
from allocator.core.check import check as check_allocation
from allocator.core.shapes import SHAPES, generate_shape
from allocator.errors import InputIssue, InvalidInputError, problems
from allocator.io.formats import (
    load_allocation,
    load_portfolio,
    write_allocation,
    write_portfolio_csv,
    write_portfolio_json,
    write_portfolio_xlsx,
)
from allocator.io.report import Summary, summarize
from allocator.model import Allocation, Portfolio, SolveStatus
from allocator.service.keys import Role, checked_name
from allocator.solve.baselines import BASELINES, run_baseline
from allocator.solver import SolveOptions
from allocator.solver import solve as solve_portfolio

if TYPE_CHECKING:
    from allocator.service.settings import Settings
    from allocator.store.repository import Store

app = typer.Typer(
    name="allocator",
    help="Assign presales engineers to sales opportunities, and prove why.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


@app.command()
def solve(
    portfolio: Annotated[Path, typer.Argument(help="CSV folder, .json or .xlsx portfolio.")],
    out: Annotated[Path, typer.Option(help="Where to write the full result (JSON).")] = Path(
        "allocation.json"
    ),
    time_limit: Annotated[float, typer.Option(min=0.1, help="Seconds of search.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Random seed of the search.")] = 0,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Search threads.")] = 2,
    baseline: Annotated[
        str | None, typer.Option(help=f"Run a baseline instead: {', '.join(BASELINES)}.")
    ] = None,
    fast: Annotated[
        bool,
        typer.Option(help="Use every worker freely; faster, but not reproducible run to run."),
    ] = False,
    apply_actuals: Annotated[
        Path | None,
        typer.Option(
            "--apply-actuals",
            help="A history folder (runs/<ISO week>.json plans, actuals.csv; as `report feed` "
            "reads): take its actuals of the week before the run starts in first (overruns "
            "count as committed, work with hours spent stays as previous).",
        ),
    ] = None,
    week: Annotated[
        str | None,
        typer.Option(
            help="With --apply-actuals: ISO week the run starts (default: the "
            "portfolio's horizon_start)."
        ),
    ] = None,
) -> None:
    """Allocate engineers to opportunities, print a summary, write the result as JSON."""
    with bad_input_exits():
        loaded = load_portfolio(portfolio)
        if apply_actuals is not None:
            fed = applied_actuals(loaded, apply_actuals, week)
            loaded = fed.portfolio
            print_flags(fed)
        if baseline is not None:
            if baseline not in BASELINES:
                choices = ", ".join(BASELINES)
                issue = InputIssue(
                    "--baseline", "", f"unknown baseline; choose from {choices}", baseline
                )
                raise InvalidInputError([issue])
            result = run_baseline(loaded, baseline)
        else:
            options = SolveOptions(
                time_limit=time_limit, workers=workers, seed=seed, reproducible=not fast
            )
            result = solve_portfolio(loaded, options)
        write_allocation(result, out)
    _print_summary(summarize(loaded, result), loaded, result)
    console.print(f"Full result written to {out}")


@app.command()
def check(
    portfolio: Annotated[Path, typer.Argument(help="The portfolio the result was made for.")],
    result: Annotated[Path, typer.Argument(help="A result JSON written by `allocator solve`.")],
) -> None:
    """Re-check a result against every hard rule and recompute its objective, without a solver.

    Exits 0 when the result holds, 1 with the list of violations when not.
    """
    with bad_input_exits():
        loaded = load_portfolio(portfolio)
        allocation = load_allocation(result)
    report = check_allocation(loaded, allocation)
    if report.ok and allocation.status is SolveStatus.INFEASIBLE:
        sets = len(allocation.conflict_sets)
        console.print(
            f"OK: infeasible, and each of the {sets} conflict set(s) was re-proved without a "
            "solver (it cannot hold on its own; dropping one item lets the rest hold where "
            "that was cheap to show)."
        )
        return
    if report.ok:
        console.print(
            f"OK: {len(allocation.assignments)} assignments hold every hard rule; "
            f"objective {report.objective:,.2f} recomputed."
        )
        return
    for violation in report.violations:
        console.print(f"violation: {violation}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"{len(report.violations)} violations.")
    raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
def generate(
    engineers: Annotated[int, typer.Option(min=1, max=100_000, help="Number of engineers.")],
    opportunities: Annotated[
        int, typer.Option(min=1, max=500_000, help="Number of opportunities.")
    ],
    out: Annotated[Path, typer.Option(help="Folder (CSV), .json or .xlsx file to write.")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    horizon_weeks: Annotated[
        int | None,
        typer.Option(min=1, max=52, help="Weeks planned (default: the shape's, 2 for standard)."),
    ] = None,
    name: Annotated[str, typer.Option(help="Portfolio name (default: derived).")] = "",
    shape: Annotated[
        str,
        typer.Option(help=f"Pipeline shape: {', '.join(SHAPES)} (see allocator/core/shapes.py)."),
    ] = "standard",
) -> None:
    """Write a synthetic portfolio: the structure of the bundled sample, or another shape."""
    if shape not in SHAPES:
        choices = ", ".join(SHAPES)
        issue = InputIssue("--shape", "", f"unknown shape; choose from {choices}", shape)
        with bad_input_exits():
            raise InvalidInputError([issue])
    portfolio = generate_shape(shape, engineers, opportunities, seed, horizon_weeks)
    if name:
        portfolio = portfolio.model_copy(update={"name": name})
    if out.suffix.lower() == ".json":
        write_portfolio_json(portfolio, out)
    elif out.suffix.lower() == ".xlsx":
        write_portfolio_xlsx(portfolio, out)
    else:
        write_portfolio_csv(portfolio, out)
    console.print(
        f"Wrote {len(portfolio.engineers)} engineers, {len(portfolio.opportunities)} "
        f"opportunities, {len(portfolio.demands)} demands to {out}"
    )


@app.command()
def schema(
    out: Annotated[Path, typer.Option(help="File to write.")] = Path("docs/portfolio.schema.json"),
) -> None:
    """Write the JSON Schema of a portfolio document and of a result."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(Portfolio.model_json_schema(), indent=2) + "\n")
    result_path = out.with_name("allocation.schema.json")
    result_path.write_text(json.dumps(Allocation.model_json_schema(), indent=2) + "\n")
    console.print(f"Wrote {out} and {result_path}")


# ---------------------------------------------------------------------------------------------
# The service: serve, keys, db, demo

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
db_app = typer.Typer(help="The run store's schema.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(whatif_app, name="sweep")  # What-if planning: allocator/cli/whatif.py
app.add_typer(audit_app, name="audit")  # Verify and checkpoint: allocator/cli/audit.py
app.command()(worker)  # Workers without HTTP: allocator/cli/worker.py
app.command()(explain)  # Explanations: allocator/cli/explain.py
add_import_commands(import_app)  # crm, team, time-off; export, validate: cli/pipelines.py
app.command()(export)
app.command()(validate)
app.add_typer(report_app, name="report")  # Presales insight: allocator/cli/insight.py
app.add_typer(import_app, name="import")
app.command("generate-history")(generate_history_command)


def _settings(**overrides: object) -> Settings:
    """The service settings from the environment, with command-line overrides."""
    from pydantic import ValidationError

    from allocator.service.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        raise InvalidInputError(
            problems(error, lambda loc: ("ALLOCATOR_" + "_".join(map(str, loc)).upper(), "", loc))
        ) from None
    given = {key: value for key, value in overrides.items() if value is not None}
    return settings.model_copy(update=given) if given else settings


def _open_store(settings: Settings) -> Store:
    from allocator.store.repository import Store

    store = Store(settings.database_url)
    store.migrate()
    return store


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None, typer.Option(min=0, max=64, help="Solver processes (ALLOCATOR_WORKERS).")
    ] = None,
) -> None:
    """Serve the HTTP API; the database is ALLOCATOR_DATABASE_URL (default ./var/allocator.db)."""
    with bad_input_exits():
        settings = _settings(workers=workers)
    _serve(settings, host, port)


def _serve(settings: Settings, host: str, port: int) -> None:
    import gc
    import logging

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")

    from allocator.api import create_app

    api = create_app(settings)
    gc.collect()
    gc.freeze()  # The app's long-lived objects leave the collector's scans: shorter pauses.
    console.print(
        f"Serving on http://{host}:{port}  (API documentation: http://{host}:{port}/docs)",
        soft_wrap=True,
    )
    uvicorn.run(api, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="planner, viewer, auditor or requester.")],
    name: Annotated[str, typer.Option(min=1, help="Who holds the key; recorded with each run.")],
    team: Annotated[
        str, typer.Option(help="The team (business unit) whose work the key sees and acts on.")
    ] = "default",
) -> None:
    """Create an API key and print it once (on the last line); only its hash is stored."""
    from allocator.service.keys import hash_key, new_key

    with bad_input_exits():
        name = checked_name(name, "--name")
        team = checked_name(team, "--team")
        store = _open_store(_settings())
        try:
            key = new_key()
            store.add_key(name, role, hash_key(key), team=team)
        finally:
            store.close()
    console.print(
        f"Created a {role.value} key named {name!r} in team {team!r}. It is shown only this once:"
    )
    print(key)


@keys_app.command("change")
def keys_change(
    name: Annotated[str, typer.Argument(help="Name of the key to change.")],
    role: Annotated[Role | None, typer.Option(help="Its new role.")] = None,
    team: Annotated[str | None, typer.Option(help="Its new team.")] = None,
) -> None:
    """Give the active key of that name another role or team (sealed in the audit ledger)."""
    with bad_input_exits():
        if role is None and team is None:
            raise InvalidInputError([InputIssue("--role/--team", "", "give one or both")])
        team = None if team is None else checked_name(team, "--team")
        store = _open_store(_settings())
        try:
            entry = store.change_key(name, role, team)
        finally:
            store.close()
    console.print(f"Key {name!r}: role {entry.role.value}, team {entry.team!r}.")


@keys_app.command("list")
def keys_list() -> None:
    """List the keys: name, role, created, revoked (never the keys themselves)."""
    with bad_input_exits():
        store = _open_store(_settings())
        try:
            entries = store.list_keys()
        finally:
            store.close()
    table = Table(title="API keys")
    for column in ("Name", "Role", "Team", "Created", "Revoked"):
        table.add_column(column)
    for entry in entries:
        revoked = entry.revoked_at.isoformat(timespec="seconds") if entry.revoked_at else ""
        created = entry.created_at.isoformat(timespec="seconds")
        table.add_row(entry.name, entry.role.value, entry.team, created, revoked)
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="Name of the key to revoke.")]) -> None:
    """Revoke the active key of that name."""
    with bad_input_exits():
        store = _open_store(_settings())
        try:
            count = store.revoke_key(name)
        finally:
            store.close()
        if not count:
            raise InvalidInputError([InputIssue("NAME", "", "no active key has this name", name)])
    console.print(f"Revoked the key named {name!r}.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database or bring its schema to the newest migration."""
    from allocator.store.repository import display_url

    with bad_input_exits():
        settings = _settings()
        _open_store(settings).close()
    console.print(
        f"Database at the newest schema: {display_url(settings.database_url)}", soft_wrap=True
    )


@app.command()
def demo(
    portfolio: Annotated[Path, typer.Option(help="Portfolio for an empty workspace.")] = Path(
        "data/sample"
    ),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    time_limit: Annotated[float, typer.Option(min=0.1, help="Seconds of search.")] = 10.0,
    key_file: Annotated[
        Path, typer.Option(help="Where the demo key is kept between runs (owner-only).")
    ] = Path("var/demo.key"),
    check_port: Annotated[
        bool, typer.Option("--check-port", help="Only check that the port is free, then exit.")
    ] = False,
) -> None:
    """Set up the planning app and show it working (`make run`): the port checked first, the
    database, the planner key named `demo` (kept in KEY_FILE and printed again next time), the
    portfolio as the workspace when it is empty, the first weekly run, then serve."""
    from allocator.store.repository import display_url

    with bad_input_exits():
        _port_is_free(host, port)
        if check_port:
            return
        settings = _settings()
        key, run_id, kept = _prepare_demo(settings, portfolio, key_file, time_limit)
    url = f"http://{host}:{port}"
    console.print(f"Database: {display_url(settings.database_url)}", soft_wrap=True)
    if run_id is not None:
        console.print(f"Workspace: {portfolio}; submitted the first weekly run ({run_id}).")
    console.print(
        f"Open {url}/ and sign in with the key below (API: {url}/docs, press Authorize).",
        soft_wrap=True,
    )
    state = f"the same as last time, kept in {key_file}" if kept else f"new, kept in {key_file}"
    console.print(f"Planner key named demo ({state}):", soft_wrap=True)
    print(key, flush=True)
    _serve(settings, host, port)


def _port_is_free(host: str, port: int) -> None:
    """InvalidInputError naming the port when something already listens there."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            message = (
                f"is in use on {host} ({error.strerror}); stop what listens there or pick "
                f"another port: make run PORT={port + 1}"
            )
            raise InvalidInputError([InputIssue("--port", "", message, port)]) from None


def _prepare_demo(
    settings: Settings, portfolio: Path, key_file: Path, time_limit: float
) -> tuple[str, int | None, bool]:
    """The demo key (the kept one while it still works, else a new one written to
    `key_file`), the workspace (loaded from `portfolio` when empty) and its first weekly run.
    Returns the key, the run submitted (None when the workspace had runs) and whether the key
    was kept."""
    from allocator.service.keys import Principal, hash_key, new_key
    from allocator.service.runs import RunService
    from allocator.service.workspace import WorkspaceService

    store = _open_store(settings)
    try:
        kept = key_file.read_text().strip() if key_file.is_file() else ""
        entry = store.find_key(hash_key(kept)) if kept else None
        if entry is not None and entry.name == "demo":
            key = kept
        else:
            store.revoke_key("demo")
            key = new_key()
            store.add_key("demo", Role.PLANNER, hash_key(key))
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.touch(mode=0o600)
            key_file.write_text(key + "\n")
        planner = Principal("demo", Role.PLANNER)
        workspace = WorkspaceService(store, RunService(store, settings))
        if not workspace.exists(planner):
            workspace.replace(load_portfolio(portfolio), planner)
        run_id = None
        if not workspace.run_ids(planner):
            run_id = workspace.run_week(planner, time_limit).id
    finally:
        store.close()
    return key, run_id, entry is not None and key == kept


# ---------------------------------------------------------------------------------------------


def _print_summary(summary: Summary, portfolio: Portfolio, result: Allocation) -> None:
    def fmt(value: float | None, pattern: Callable[[float], str]) -> str:
        return "-" if value is None else pattern(value)

    head = Table(title=f"Allocation of {portfolio.name or 'portfolio'}", show_header=False)
    head.add_row("Status", summary.status)
    head.add_row("Method", f"{result.solver.name} {result.solver.version}".strip())
    head.add_row("Objective (points)", fmt(summary.objective, lambda v: f"{v:,.2f}"))
    head.add_row("Best bound (points)", fmt(summary.best_bound, lambda v: f"{v:,.2f}"))
    head.add_row("Gap", fmt(summary.gap, lambda v: f"{100 * v:.3f} %"))
    share = summary.expected_value_covered / max(1.0, summary.expected_value_requested)
    head.add_row(
        "Expected value covered (currency)",
        f"{summary.value_covered:,.0f} of {summary.value_requested:,.0f} "
        f"({100 * summary.value_covered / max(1.0, summary.value_requested):.1f} %)",
    )
    head.add_row(
        "Tier-weighted expected value covered",
        f"{summary.expected_value_covered:,.0f} of {summary.expected_value_requested:,.0f} "
        f"({100 * share:.1f} %)",
    )
    head.add_row("Assignments", str(summary.assignments))
    seconds = result.timings
    head.add_row(
        "Time (s)",
        f"compile {seconds.compile_seconds:.2f}, build {seconds.build_seconds:.2f}, "
        f"solve {seconds.solve_seconds:.2f}",
    )
    source = result.value_unit_source or "set"
    if result.value_unit is not None:
        head.add_row("Value unit", f"{result.value_unit:,.2f} per point ({source})")
    head.add_row("Cannot be staffed", str(len(result.unstaffable)))
    console.print(head)
    if summary.message:
        console.print(summary.message, markup=False, highlight=False)
    for item in result.unstaffable:
        console.print(
            f"cannot be staffed: {item.opportunity_id}: {item.reason}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for warning in result.warnings:
        console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)

    terms = Table(title="Objective terms (points)")
    terms.add_column("Term")
    terms.add_column("Points", justify="right")
    for name, value in summary.terms.items():
        terms.add_row(name, f"{value:,.2f}")
    if summary.terms:
        console.print(terms)

    tiers = Table(title="Opportunities staffed by customer tier")
    for column in ("Tier", "Staffed", "Asking", "Share"):
        tiers.add_column(column, justify="right" if column != "Tier" else "left")
    for tier, (staffed, total) in summary.staffed_by_tier.items():
        tiers.add_row(tier, str(staffed), str(total), f"{100 * staffed / max(1, total):.0f} %")
    console.print(tiers)

    regions = Table(title="Utilization by region (presales hours over the horizon)")
    for column in ("Region", "Assigned h", "Available h", "Utilization"):
        regions.add_column(column, justify="right" if column != "Region" else "left")
    for region, (assigned, available) in summary.utilization_by_region.items():
        regions.add_row(
            region,
            f"{assigned:,.0f}",
            f"{available:,.0f}",
            f"{100 * assigned / max(1e-9, available):.0f} %",
        )
    console.print(regions)
